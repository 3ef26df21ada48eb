"""The SQL of a reservation and a settlement: the two statements every credit operation runs.

A credit operation is a few statements in a hot loop (50 members asking at
once), so what each costs is written down here, next to the SQL:

* :data:`MEMBER_NUMBERS` reads everything ``reserve`` checks about a member in
  one statement, on both databases.
* The writes differ by dialect, as pairs. SQLite runs the statements one after
  the other inside the group commit (a statement there costs microseconds, on
  the database thread). PostgreSQL runs them as one statement with
  data-modifying CTEs (``WITH ... INSERT ... RETURNING``), which SQLite does
  not have: each statement there is a network round trip, and the round trips
  are what a credit operation costs. Each pair writes the same rows; the
  database tests run every case on both.
"""

from __future__ import annotations

from typing import Final

from bot.db.models import ACTIVE_STATUSES, FINAL_STATUSES, JOB_COLUMNS
from bot.db.queries import ACTIVE_LITERALS, INSERT_JOB

# SPENT (operator_queries) for one member and day, as one index range per
# status of the covering index jobs_user_day_spend (user_id, day, status,
# submitted_at, cost): the statuses that always count, then the ended ones
# that were sent. The schema's CHECK allows only these six statuses, so the
# parts add up to exactly SPENT. One equality per part, rather than SPENT's OR
# over every row of the member's day, or an IN list that PostgreSQL's planner
# may turn into a filter while a table has no statistics yet: each part reads
# only its own rows, whatever the planner knows.
_SPENT_PART = (
    "(SELECT COALESCE(SUM(cost), 0) FROM jobs"
    " WHERE user_id = :user AND day = :day AND status = '{status}'{sent})"
)
_RENDERED: Final = "\n  + ".join(
    [_SPENT_PART.format(status=s, sent="") for s in ("completed", *ACTIVE_STATUSES)]
    + [
        _SPENT_PART.format(status=s, sent=" AND submitted_at IS NOT NULL")
        for s in FINAL_STATUSES
        if s != "completed"
    ]
)

# Named parameters :user, :day and :guild (None when extra credits do not
# apply: no row matches, the balance reads 0). The columns, in order:
#
# 0. the member's ledger of the day: reservations less refunds;
# 1. the day's admin adjustments (negative: what resets forgave), so that the
#    credits used are 0 + 1 (as USED_ON_DAY) and what was forgiven is -1;
# 2. the render gate's count (operator_queries.RENDERED_ON_DAY);
# 3. their unfinished jobs, any day (RUNNING_COUNT, on the partial index
#    jobs_user_active);
# 4. their extra credits in the server (EXTRA_CREDITS), 0 without a row.
MEMBER_NUMBERS: Final = f"""
SELECT
    (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE user_id = :user AND day = :day),
    (SELECT COALESCE(SUM(amount), 0) FROM usage_adjustments
     WHERE user_id = :user AND day = :day),
    {_RENDERED},
    (SELECT COUNT(*) FROM jobs WHERE user_id = :user AND status IN {ACTIVE_LITERALS}),
    COALESCE(
        (SELECT extra_credits FROM member_settings WHERE guild_id = :guild AND user_id = :user),
        0
    )
"""

# ---------------------------------------------------------------- reserve

# SQLite: queries.INSERT_JOB (RETURNING the row), then this with its id.
INSERT_RESERVE: Final = """
INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
VALUES (?, ?, ?, ?, 'reserve', ?)
"""

# PostgreSQL: both rows in one statement, with INSERT_JOB's parameters. The
# ledger carries only what the day's allowance paid: cost less extra_used.
RESERVE_JOB_PG: Final = f"""
WITH job AS ({INSERT_JOB}),
reserved AS (
    INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
    SELECT id, user_id, day, cost - extra_used, 'reserve', created_at FROM job
)
SELECT {JOB_COLUMNS} FROM job
"""

# ---------------------------------------------------------------- settle

# The status guard in the WHERE makes settling idempotent: only the first call
# matches a row. Result and error keep an earlier value when not given.
_SETTLE_SET = """
UPDATE jobs SET
    status = :status,
    finished_at = CAST(:ts AS DOUBLE PRECISION),
    updated_at = CAST(:ts AS DOUBLE PRECISION),
    result_url = COALESCE(:result_url, result_url),
    error = COALESCE(:error, error),
    interaction_token = NULL"""
_SETTLE_WHERE = f"""
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

# A submission the provider answered with a refusal and no job id was never
# taken: settling it with :unbill takes the job out of the operator's spend.

# SQLite: this (no row: already final or unknown; RETURNING extra_used tells
# whether extra credits go back), then UNBILL_REFUSED when :unbill, then for a
# refund INSERT_REFUND and, only when the job took extra credits,
# operator_queries.RETURN_EXTRA. The UPDATE leaves submitted_at out of its SET
# list unless it unbills: an UPDATE OF submitted_at is then what it says.
SETTLE_JOB_SQLITE: Final = _SETTLE_SET + _SETTLE_WHERE + "RETURNING extra_used"

UNBILL_REFUSED: Final = (
    "UPDATE jobs SET submitted_at = NULL WHERE id = :job AND provider_task_id IS NULL"
)

# PostgreSQL: all of it in one statement (one round trip, no BEGIN/COMMIT:
# a single statement is its own transaction). :refund is False for a job
# completed or kept without refund. A statement cannot update one row twice,
# so the unbilling is part of the UPDATE. The CTEs see the ledger as it was
# before the statement, and write only when `settled` has the row: a second
# settle of the same job waits for the first's row lock, then matches nothing.
SETTLE_PG: Final = f"""
WITH settled AS (
    {_SETTLE_SET},
    submitted_at = CASE WHEN :unbill AND provider_task_id IS NULL THEN NULL ELSE submitted_at END
    {_SETTLE_WHERE}
    RETURNING id, guild_id, user_id, extra_used
),
refunded AS (
    INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
    SELECT l.job_id, l.user_id, l.day, -l.amount, 'refund', CAST(:ts AS DOUBLE PRECISION)
    FROM ledger l JOIN settled s ON s.id = l.job_id
    WHERE l.kind = 'reserve' AND :refund
    ON CONFLICT (job_id, kind) DO NOTHING
),
returned AS (
    UPDATE member_settings m SET
        extra_credits = m.extra_credits + s.extra_used,
        updated_at = CAST(:ts AS DOUBLE PRECISION)
    FROM settled s
    WHERE :refund AND s.extra_used > 0 AND m.guild_id = s.guild_id AND m.user_id = s.user_id
)
SELECT COUNT(*) FROM settled
"""
