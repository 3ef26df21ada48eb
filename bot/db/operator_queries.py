"""SQL of the operator's toolkit: budgets, server and member settings, audit, stats, metrics."""

from __future__ import annotations

from typing import Final

# What the operator pays for, defined here once. A job is BILLED once its
# submission was sent to the provider (migration 3's submitted_at; completed
# jobs always were): the provider bills the render however the job ends, even
# when the member's credit is refunded. SPENT adds the jobs still under way,
# which may yet be sent: the caps must hold them too, or concurrent requests
# could all pass a cap. A job failed or cancelled before it was sent costs nothing.
BILLED: Final = "(submitted_at IS NOT NULL OR status = 'completed')"
SPENT: Final = f"({BILLED} OR status IN ('queued', 'submitted', 'running'))"

SPEND_ON_DAY: Final = f"""
SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(price_micros), 0)
FROM jobs WHERE day = ? AND {SPENT}
"""

SPEND_ON_DAY_IN_GUILD: Final = f"""
SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(price_micros), 0)
FROM jobs WHERE day = ? AND guild_id = ? AND {SPENT}
"""

# The member's render gate: credits of their jobs of the day that reached the
# provider or may still reach it, refunded or not; and what admin resets forgave.
# reserve() reads both within credit_queries.MEMBER_NUMBERS; these plain forms
# are the definitions that statement must agree with (tests/db check it).
RENDERED_ON_DAY: Final = f"""
SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE user_id = ? AND day = ? AND {SPENT}
"""

FORGIVEN_ON_DAY: Final = """
SELECT COALESCE(-SUM(amount), 0) FROM usage_adjustments WHERE user_id = ? AND day = ?
"""

# ---------------------------------------------------------------- extra credits

EXTRA_CREDITS: Final = (
    "SELECT extra_credits FROM member_settings WHERE guild_id = ? AND user_id = ?"
)

# The balance counts as at most the ceiling (:ceiling, SERVER_MAX_EXTRA_CREDITS;
# the largest integer when there is none), so a balance stored above a ceiling
# lowered later drops to it on first use rather than paying over and over.
# CASE rather than SQLite's MIN(a, b), which PostgreSQL calls LEAST.
TAKE_EXTRA: Final = """
UPDATE member_settings SET
    extra_credits = CASE WHEN extra_credits > :ceiling THEN :ceiling ELSE extra_credits END
        - :take,
    updated_at = :ts
WHERE guild_id = :guild AND user_id = :user AND extra_credits >= :take
"""

#: The :ceiling of TAKE_EXTRA when there is none.
NO_CEILING: Final = 2**63 - 1

# Run in settle()'s transaction after a refund of a job that took extra
# credits: they go back there (on PostgreSQL, inside credit_queries.SETTLE_JOBS_PG).
RETURN_EXTRA: Final = """
UPDATE member_settings SET
    extra_credits = extra_credits + (SELECT extra_used FROM jobs WHERE id = :job),
    updated_at = :ts
WHERE (guild_id, user_id) = (
    SELECT guild_id, user_id FROM jobs WHERE id = :job AND extra_used > 0
)
"""

# ---------------------------------------------------------------- settings

GUILD_SETTINGS: Final = """
SELECT guild_id, daily_limit, budget_credits, budget_micros FROM guild_settings WHERE guild_id = ?
"""

MEMBER_SETTINGS: Final = """
SELECT guild_id, user_id, daily_limit, extra_credits, blocked, block_reason
FROM member_settings WHERE guild_id = ? AND user_id = ?
"""

# {marks} is a list of "?" built from the number of role ids, never from their values.
ROLE_LIMITS_OF: Final = """
SELECT role_id, daily_limit FROM role_limits WHERE guild_id = ? AND role_id IN ({marks})
"""

ROLE_LIMITS: Final = (
    "SELECT role_id, daily_limit FROM role_limits WHERE guild_id = ? ORDER BY role_id"
)

CHANNELS: Final = "SELECT channel_id FROM video_channels WHERE guild_id = ? ORDER BY created_at"

UPSERT_GUILD: Final = """
INSERT INTO guild_settings (guild_id, updated_at) VALUES (?, ?)
ON CONFLICT (guild_id) DO UPDATE SET updated_at = excluded.updated_at
"""

# {column} comes from a fixed list in the store, never from a caller.
SET_GUILD_COLUMN: Final = "UPDATE guild_settings SET {column} = ? WHERE guild_id = ?"

UPSERT_MEMBER: Final = """
INSERT INTO member_settings (guild_id, user_id, updated_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET updated_at = excluded.updated_at
"""

SET_MEMBER_LIMIT: Final = (
    "UPDATE member_settings SET daily_limit = ? WHERE guild_id = ? AND user_id = ?"
)

ADD_EXTRA: Final = """
UPDATE member_settings SET
    extra_credits = CASE WHEN extra_credits + :delta < 0 THEN 0 ELSE extra_credits + :delta END
WHERE guild_id = :guild AND user_id = :user
RETURNING extra_credits
"""

SET_BLOCKED: Final = """
UPDATE member_settings SET blocked = ?, block_reason = ?
WHERE guild_id = ? AND user_id = ? AND blocked <> ?
"""

SET_ROLE_LIMIT: Final = """
INSERT INTO role_limits (guild_id, role_id, daily_limit, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (guild_id, role_id) DO UPDATE SET
    daily_limit = excluded.daily_limit, updated_at = excluded.updated_at
"""

CLEAR_ROLE_LIMIT: Final = "DELETE FROM role_limits WHERE guild_id = ? AND role_id = ?"

ADD_CHANNEL: Final = """
INSERT INTO video_channels (guild_id, channel_id, created_at) VALUES (?, ?, ?)
ON CONFLICT (guild_id, channel_id) DO NOTHING
"""

REMOVE_CHANNEL: Final = "DELETE FROM video_channels WHERE guild_id = ? AND channel_id = ?"

CLEAR_CHANNELS: Final = "DELETE FROM video_channels WHERE guild_id = ?"

# A reset in a server acts on that server's jobs only (a member's usage counts
# across every server the bot shares with them): what their jobs made there
# still count on the day's ledger (reservations less refunds), what the
# unfinished ones among them hold (kept, so a later refund of those jobs cannot
# go below zero), and what earlier resets there forgave. Named parameters
# :user, :day and :guild; the ledger is read by (user_id, day), then jobs by id.
USED_IN_GUILD_ON_DAY: Final = """
SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN jobs j ON j.id = l.job_id
WHERE l.user_id = :user AND l.day = :day AND j.guild_id = :guild
"""

HELD_IN_GUILD_ON_DAY: Final = """
SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN jobs j ON j.id = l.job_id
WHERE l.user_id = :user AND l.day = :day AND l.kind = 'reserve' AND j.guild_id = :guild
  AND j.status IN ('queued', 'submitted', 'running')
"""

FORGIVEN_IN_GUILD_ON_DAY: Final = """
SELECT COALESCE(-SUM(amount), 0) FROM usage_adjustments
WHERE user_id = :user AND day = :day AND guild_id = :guild
"""

# Every unfinished job's hold of the day, whatever its server: no reset may
# take the member's total below it.
HELD_ON_DAY: Final = """
SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN jobs j ON j.id = l.job_id
WHERE l.user_id = :user AND l.day = :day AND l.kind = 'reserve'
  AND j.status IN ('queued', 'submitted', 'running')
"""

INSERT_ADJUSTMENT: Final = """
INSERT INTO usage_adjustments (user_id, day, amount, guild_id, actor_id, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""

INSERT_AUDIT: Final = """
INSERT INTO audit_log (guild_id, actor_id, action, target_id, details, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""

# {where} is "guild_id = ?" or "guild_id IS NULL" (actions outside servers).
AUDIT_LOG: Final = """
SELECT id, guild_id, actor_id, action, target_id, details, created_at
FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?
"""

# ---------------------------------------------------------------- stats

# A set of jobs by outcome and what they cost the operator: completed, failed,
# cancelled, still active, then the credits and money spent (as SPENT counts them).
OUTCOME_SUMS: Final = f"""
    COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN status IN ('queued', 'submitted', 'running') THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN {SPENT} THEN cost ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN {SPENT} THEN price_micros ELSE 0 END), 0)"""

# {scope} is "" or "AND guild_id = ?", chosen by the store.
PERIOD_STATS: Final = f"""
SELECT COUNT(*),{OUTCOME_SUMS}
FROM jobs WHERE day >= ? AND day <= ? {{scope}}
"""

BUSIEST: Final = f"""
SELECT user_id, COUNT(*) AS n,
       COALESCE(SUM(CASE WHEN {SPENT} THEN cost ELSE 0 END), 0) AS credits
FROM jobs WHERE day >= ? AND day <= ? {{scope}}
GROUP BY user_id ORDER BY credits DESC, n DESC, user_id LIMIT ?
"""

RENDER_TIME: Final = """
SELECT AVG(finished_at - started_at), COUNT(*) FROM jobs
WHERE status = 'completed' AND started_at IS NOT NULL AND day >= ? AND day <= ?
"""

# ---------------------------------------------------------------- metrics

# One pass over the covering index jobs_status_totals (migration 3): per status,
# how many jobs, what the billed ones cost, and (meaningful for 'completed' only)
# the render-time histogram. {buckets} is one "SUM(CASE WHEN d <= bound ...)" per
# bucket bound, from constants in the store.
TOTALS_BY_STATUS: Final = f"""
SELECT status, COUNT(*),
       COALESCE(SUM(CASE WHEN {BILLED} THEN cost ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN {BILLED} THEN price_micros ELSE 0 END), 0),
       {{buckets}}, COALESCE(SUM(d), 0), COUNT(d)
FROM (
    SELECT status, submitted_at, cost, price_micros,
           CASE WHEN status = 'completed' AND started_at IS NOT NULL
                THEN CASE WHEN finished_at > started_at THEN finished_at - started_at ELSE 0 END
           END AS d
    FROM jobs
) AS totals
GROUP BY status
"""

HEALTH_WRITE: Final = """
INSERT INTO meta (key, value, updated_at) VALUES ('health_check', ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""
