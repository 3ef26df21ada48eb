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

# The status guard in the WHERE makes settling idempotent: only the first call
# matches a row. Result and error keep an earlier value when not given. With
# :unbill (a failed submission the provider answered with a refusal and no job
# id: it never took the job) the job also leaves the operator's spend, in the
# same statement. RETURNING extra_used tells the refund whether extra credits
# go back too, so that UPDATE runs only when there is something to return.
SETTLE_JOB: Final = f"""
UPDATE jobs SET
    status = :status,
    finished_at = CAST(:ts AS DOUBLE PRECISION),
    updated_at = CAST(:ts AS DOUBLE PRECISION),
    result_url = COALESCE(:result_url, result_url),
    error = COALESCE(:error, error),
    interaction_token = NULL,
    submitted_at = CASE WHEN :unbill AND provider_task_id IS NULL THEN NULL ELSE submitted_at END
WHERE id = :job AND status IN {ACTIVE_LITERALS}
"""

# The refund mirrors the reservation row itself: same member, same day (the day
# the credit was taken, not today) and the same amount. ON CONFLICT DO NOTHING
# rather than INSERT OR IGNORE, because OR IGNORE would also swallow CHECK and
# NOT NULL violations; only the UNIQUE(job_id, kind) duplicate is expected.
# The CAST tells PostgreSQL the type of a parameter it only sees in a SELECT list.
INSERT_REFUND: Final = """
INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
SELECT job_id, user_id, day, -amount, 'refund', CAST(:ts AS DOUBLE PRECISION)
FROM ledger WHERE job_id = :job AND kind = 'reserve'
ON CONFLICT (job_id, kind) DO NOTHING
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
