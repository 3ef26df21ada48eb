"""The SQL of a reservation and a settlement: the two statements every credit operation runs.

A credit operation is a few statements in a hot loop (50 members asking at
once), so what each costs is written down here, next to the SQL:

* :data:`MEMBER_NUMBERS` reads everything ``reserve`` checks about a member in
  one statement, on both databases; the day's sums are one row of
  ``member_days``, which the writes below keep up to date.
* The writes differ by dialect, as pairs. SQLite runs the statements one after
  the other inside the group commit (a statement there costs microseconds, on
  the database thread). PostgreSQL runs them as one statement with
  data-modifying CTEs (``WITH ... INSERT ... RETURNING``), which SQLite does
  not have: each statement there is a network round trip, and the round trips
  are what a credit operation costs. Each pair writes the same rows; the
  database tests run every case on both.
* On PostgreSQL the statements take a whole batch of calls at once (arrays of
  their parameters, ``unnest``-ed into rows: see :mod:`bot.db.batcher`), so a
  batch of reservations is four round trips (``BEGIN`` with the locks, the
  members' numbers, the writes, ``COMMIT``) and a batch of settlements one.
"""

from __future__ import annotations

import re
from typing import Final

from bot.db.models import JOB_COLUMNS
from bot.db.queries import ACTIVE_LITERALS

# Named parameters :user, :day and :guild (None when extra credits do not
# apply: no row matches, the balance reads 0). The columns, in order:
#
# 0. the member's ledger of the day: reservations less refunds (member_days,
#    migration 8, keeps it summed);
# 1. the day's admin adjustments (negative: what resets forgave), so that the
#    credits used are 0 + 1 (as USED_ON_DAY) and what was forgiven is -1;
# 2. the render gate's count (operator_queries.RENDERED_ON_DAY, kept summed in
#    member_days too);
# 3. their unfinished jobs, any day (RUNNING_COUNT, on the partial index
#    jobs_user_active);
# 4. their extra credits in the server (EXTRA_CREDITS), 0 without a row.
MEMBER_NUMBERS: Final = f"""
SELECT
    COALESCE((SELECT used FROM member_days WHERE user_id = :user AND day = :day), 0),
    (SELECT COALESCE(SUM(amount), 0) FROM usage_adjustments
     WHERE user_id = :user AND day = :day),
    COALESCE((SELECT rendered FROM member_days WHERE user_id = :user AND day = :day), 0),
    (SELECT COUNT(*) FROM jobs WHERE user_id = :user AND status IN {ACTIVE_LITERALS}),
    COALESCE(
        (SELECT extra_credits FROM member_settings WHERE guild_id = :guild AND user_id = :user),
        0
    )
"""

# member_days (migration 8) keeps each member's day summed, in the same
# transaction as the rows it sums: every ledger row's amount is added to
# `used`; a new job's cost to `rendered`, and taken off again when the job
# ends failed or cancelled without having been sent (no longer in SPENT).
# SQLite: ADD_TO_DAY after the rows; PostgreSQL: a CTE of the statement that
# writes them, summed per member and day, in one order (two statements then
# never wait for each other's rows in a circle).
ADD_TO_DAY: Final = """
INSERT INTO member_days (user_id, day, used, rendered) VALUES (:user, :day, :used, :rendered)
ON CONFLICT (user_id, day) DO UPDATE SET
    used = member_days.used + excluded.used,
    rendered = member_days.rendered + excluded.rendered
"""
_ADD_TO_DAYS_PG = """
    INSERT INTO member_days (user_id, day, used, rendered)
    SELECT user_id, day, SUM(used), SUM(rendered) FROM ({changes}) changes
    GROUP BY user_id, day ORDER BY user_id, day
    ON CONFLICT (user_id, day) DO UPDATE SET
        used = member_days.used + excluded.used,
        rendered = member_days.rendered + excluded.rendered"""

# ---------------------------------------------------------------- reserve

# SQLite: queries.INSERT_JOB (RETURNING the row), then this with its id, then ADD_TO_DAY.
INSERT_RESERVE: Final = """
INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
VALUES (?, ?, ?, ?, 'reserve', ?)
"""

# PostgreSQL: a batch of reservations (see bot.db.reservations) in one
# statement, every row an element of the arrays, in the order given: the jobs,
# their ledger rows (carrying only what the day's allowance paid: cost less
# extra_used), their members' day sums, and each job's row with its place in
# the batch (n, counted from 1). The ids are drawn first, so each row returned
# is matched to its place by id, not by an order RETURNING does not promise.
RESERVE_JOBS_PG: Final = f"""
WITH input AS (
    SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, i.*
    FROM unnest(
        CAST(:user_ids AS BIGINT[]), CAST(:guild_ids AS BIGINT[]),
        CAST(:channel_ids AS BIGINT[]), CAST(:tokens AS TEXT[]),
        CAST(:application_ids AS BIGINT[]), CAST(:prompts AS TEXT[]),
        CAST(:options AS TEXT[]), CAST(:image_urls AS TEXT[]), CAST(:protocols AS TEXT[]),
        CAST(:costs AS INTEGER[]), CAST(:days AS TEXT[]), CAST(:times AS DOUBLE PRECISION[]),
        CAST(:prices AS BIGINT[]), CAST(:extras AS INTEGER[])
    ) WITH ORDINALITY AS i(
        user_id, guild_id, channel_id, interaction_token, application_id, prompt, options,
        image_url, protocol, cost, day, ts, price_micros, extra_used, n
    )
),
job AS (
    INSERT INTO jobs (
        id, user_id, guild_id, channel_id, interaction_token, application_id, prompt, options,
        image_url, protocol, cost, day, created_at, updated_at, price_micros, extra_used, status
    )
    SELECT id, user_id, guild_id, channel_id, interaction_token, application_id, prompt,
        options, image_url, protocol, cost, day, ts, ts, price_micros, extra_used, 'queued'
    FROM input ORDER BY n
    RETURNING {JOB_COLUMNS}
),
reserved AS (
    INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
    SELECT id, user_id, day, cost - extra_used, 'reserve', created_at FROM job
),
counted AS ({
    _ADD_TO_DAYS_PG.format(
        changes="SELECT user_id, day, cost - extra_used AS used, cost AS rendered FROM job"
    )
}
)
SELECT input.n, job.* FROM job JOIN input USING (id) ORDER BY input.n
"""

# PostgreSQL: MEMBER_NUMBERS for every member of a batch in one statement,
# each row led by the member's place (n) in the arrays :users, :days, :guilds.
MEMBERS_NUMBERS_PG: Final = (
    "SELECT m.n,"
    + re.sub(
        r":(user|day|guild)\b",
        lambda name: {"user": "m.user_id", "day": "m.day", "guild": "m.guild_id"}[name[1]],
        MEMBER_NUMBERS.strip().removeprefix("SELECT"),
    )
    + """
FROM unnest(CAST(:users AS BIGINT[]), CAST(:days AS TEXT[]), CAST(:guilds AS BIGINT[]))
    WITH ORDINALITY AS m(user_id, day, guild_id, n)"""
)

# ---------------------------------------------------------------- settle

# The status guard in the WHERE makes settling idempotent: only the first call
# matches a row. Result and error keep an earlier value when not given. Written
# once for both forms: SQLite's takes named parameters, PostgreSQL's batch the
# columns of its input rows (named apart from the jobs' own: in_status...).
_SETTLE_SET = """
UPDATE jobs SET
    status = {status},
    finished_at = {ts},
    updated_at = {ts},
    result_url = COALESCE({result_url}, result_url),
    error = COALESCE({error}, error),
    interaction_token = NULL"""
_SETTLE_WHERE = f"""
WHERE id = {{job}} AND status IN {ACTIVE_LITERALS}
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
RETURNING user_id, day, amount
"""

# A submission the provider answered with a refusal and no job id was never
# taken: settling it with :unbill takes the job out of the operator's spend.

# SQLite: this (no row: already final or unknown; RETURNING extra_used tells
# whether extra credits go back), then UNBILL_REFUSED when :unbill, then for a
# refund INSERT_REFUND and, only when the job took extra credits,
# operator_queries.RETURN_EXTRA; then ADD_TO_DAY with what changed. RETURNING
# tells what the member's day loses: the job's cost if it ended unsent (and
# UNBILL_REFUSED's count says whether it was unbilled), the refund's amount.
# The UPDATE leaves submitted_at out of its SET list unless it unbills: an
# UPDATE OF submitted_at is then what it says.
SETTLE_JOB_SQLITE: Final = (
    _SETTLE_SET + _SETTLE_WHERE + "RETURNING extra_used, user_id, day, cost, submitted_at"
).format(
    status=":status",
    ts="CAST(:ts AS DOUBLE PRECISION)",
    result_url=":result_url",
    error=":error",
    job=":job",
)

UNBILL_REFUSED: Final = (
    "UPDATE jobs SET submitted_at = NULL WHERE id = :job AND provider_task_id IS NULL"
)

# PostgreSQL: a batch of settlements in one statement (one round trip, no
# BEGIN/COMMIT: a single statement is its own transaction), each an element of
# the arrays; the job ids must differ (an UPDATE uses one input row per target
# row, whichever it meets first). :refunds is False for a job completed or kept
# without refund. A statement cannot update one row twice, so the unbilling is
# part of the UPDATE. The CTEs see the ledger as it was before the statement,
# and write only for the rows `settled` has: a second settle of the same job
# waits for the first's row lock, then matches nothing. A member's extra
# credits go back in one update per member, summed. Returns the ids it ended.
# The order in which a statement's CTEs lock rows is PostgreSQL's to choose:
# two statements (or a reservation taking extra credits) that lock the same
# members' rows in opposite orders deadlock; PostgreSQL then aborts one, and
# the backend runs it again (pg_backend.RETRIES). The day sums are written in
# one order, which keeps that to the rare case of extra credits on both sides.
# What the settled jobs take off their members' days: the refunds, and the
# cost of a job that ended unsent (after the unbilling: its new submitted_at).
_SETTLED_CHANGES = """
        SELECT user_id, day, amount AS used, 0 AS rendered FROM refunded
        UNION ALL
        SELECT user_id, day, 0, -cost FROM settled
        WHERE status <> 'completed' AND submitted_at IS NULL"""
SETTLE_JOBS_PG: Final = f"""
WITH input AS (
    SELECT * FROM unnest(
        CAST(:jobs AS BIGINT[]), CAST(:statuses AS TEXT[]), CAST(:times AS DOUBLE PRECISION[]),
        CAST(:result_urls AS TEXT[]), CAST(:errors AS TEXT[]),
        CAST(:unbills AS BOOLEAN[]), CAST(:refunds AS BOOLEAN[])
    ) AS i(in_job, in_status, in_ts, in_result_url, in_error, in_unbill, in_refund)
),
settled AS (
    {
    _SETTLE_SET.format(status="in_status", ts="in_ts", result_url="in_result_url", error="in_error")
},
    submitted_at = CASE WHEN in_unbill AND provider_task_id IS NULL
        THEN NULL ELSE submitted_at END
    FROM input
    {_SETTLE_WHERE.format(job="in_job")}
    RETURNING id, guild_id, user_id, day, cost, status, submitted_at, extra_used, in_ts, in_refund
),
refunded AS (
    INSERT INTO ledger (job_id, user_id, day, amount, kind, created_at)
    SELECT l.job_id, l.user_id, l.day, -l.amount, 'refund', s.in_ts
    FROM ledger l JOIN settled s ON s.id = l.job_id
    WHERE l.kind = 'reserve' AND s.in_refund
    ON CONFLICT (job_id, kind) DO NOTHING
    RETURNING user_id, day, amount
),
uncounted AS ({_ADD_TO_DAYS_PG.format(changes=_SETTLED_CHANGES)}
),
returned AS (
    UPDATE member_settings m SET
        extra_credits = m.extra_credits + s.extra_used,
        updated_at = s.in_ts
    FROM (
        SELECT guild_id, user_id, SUM(extra_used) AS extra_used, MAX(in_ts) AS in_ts
        FROM settled WHERE in_refund AND extra_used > 0 GROUP BY guild_id, user_id
    ) s
    WHERE m.guild_id = s.guild_id AND m.user_id = s.user_id
)
SELECT id FROM settled
"""
