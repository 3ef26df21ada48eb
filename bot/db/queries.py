"""The SQL the store runs, in one place so the schema and its uses are read together.

Status lists are bound as parameters (``?, ?, ?`` for the three unfinished
statuses) so the Python constants stay the single source of truth, or written
out from those constants (:data:`ACTIVE_LITERALS`) where a partial index or
named parameters need the literal list.
"""

from __future__ import annotations

from typing import Final

from bot.db.models import ACTIVE_STATUSES, JOB_COLUMNS

_ACTIVE: Final = "(?, ?, ?)"  # bound to models.ACTIVE_STATUSES
#: The same list written out, for statements with named parameters (the
#: constants of models.ACTIVE_STATUSES, never a caller's value).
ACTIVE_LITERALS: Final = "(" + ", ".join(f"'{s}'" for s in ACTIVE_STATUSES) + ")"

SELECT_JOB: Final = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"

UNFINISHED_JOBS: Final = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN {_ACTIVE} ORDER BY created_at, id"
)

RECENT_JOBS: Final = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?"
)

# The statuses written out: the partial index jobs_user_active (migration 7)
# is used only for a query with its very condition.
RUNNING_COUNT: Final = (
    f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN {ACTIVE_LITERALS}"
)

# Named parameters :user and :day. Admin resets (migration 2) are negative
# adjustments on the same day, so a reset member's usage drops without touching
# the jobs' own ledger rows (which refunds still mirror exactly).
USED_ON_DAY: Final = """
SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = :user AND day = :day)
     + (SELECT COALESCE(SUM(amount), 0) FROM usage_adjustments WHERE user_id = :user AND day = :day)
"""

# RETURNING the new row saves reading it back (SQLite 3.35+ and PostgreSQL).
INSERT_JOB: Final = f"""
INSERT INTO jobs (
    user_id, guild_id, channel_id, interaction_token, application_id, prompt, options,
    image_url, protocol, cost, day, created_at, updated_at, price_micros, extra_used, status
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued')
RETURNING {JOB_COLUMNS}
"""

# The moment a job becomes billable (see operator_queries.BILLED): only an
# unfinished job not marked before, so a job is never sent twice on one credit.
MARK_SUBMITTING: Final = f"""
UPDATE jobs SET
    submitted_at = ?,
    status = 'submitted',
    started_at = COALESCE(started_at, ?),
    updated_at = ?
WHERE id = ? AND submitted_at IS NULL AND status IN {_ACTIVE}
"""

JOB_STATE: Final = "SELECT status, submitted_at FROM jobs WHERE id = ?"

UPDATE_ACTIVE_JOB: Final = "UPDATE jobs SET {sets} WHERE id = ? AND status IN " + _ACTIVE

GET_META: Final = "SELECT value FROM meta WHERE key = ?"

SET_META: Final = """
INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""
