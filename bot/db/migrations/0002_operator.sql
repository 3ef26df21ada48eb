-- 0002: the operator's toolkit: per-server settings, member and role limits,
-- extra credits, blocks, allowed channels, usage resets, an audit log, and the
-- estimated price of each job for budgets and stats.
--
-- Money is kept in integer millionths of the currency unit ("micros") so that
-- sums and cap comparisons are exact.

-- What the job is estimated to cost the operator, and how many of its credits
-- came from the member's extra credits (given back to them on a refund).
ALTER TABLE jobs ADD COLUMN price_micros INTEGER NOT NULL DEFAULT 0 CHECK (price_micros >= 0);
ALTER TABLE jobs ADD COLUMN extra_used INTEGER NOT NULL DEFAULT 0 CHECK (extra_used >= 0);

-- Budgets and stats sum a day's (or a server's day's) jobs.
CREATE INDEX jobs_day ON jobs (day);
CREATE INDEX jobs_guild_day ON jobs (guild_id, day);

-- One row per server that changed something; NULL means "use the setting".
CREATE TABLE guild_settings (
    guild_id       INTEGER PRIMARY KEY,
    daily_limit    INTEGER CHECK (daily_limit IS NULL OR daily_limit >= 0),
    budget_credits INTEGER CHECK (budget_credits IS NULL OR budget_credits >= 0),
    budget_micros  INTEGER CHECK (budget_micros IS NULL OR budget_micros >= 0),
    updated_at     REAL    NOT NULL
);

-- A member's own settings in one server.
CREATE TABLE member_settings (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    daily_limit   INTEGER CHECK (daily_limit IS NULL OR daily_limit >= 0),
    extra_credits INTEGER NOT NULL DEFAULT 0 CHECK (extra_credits >= 0),
    blocked       INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    block_reason  TEXT,
    updated_at    REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE role_limits (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    daily_limit INTEGER NOT NULL CHECK (daily_limit >= 0),
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- When a server has rows here, /video works only in those channels.
CREATE TABLE video_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- Admin corrections of a member's daily usage (a reset is a negative amount).
-- A member's usage on a day = ledger + adjustments for that day.
CREATE TABLE usage_adjustments (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    day        TEXT    NOT NULL,
    amount     INTEGER NOT NULL,
    guild_id   INTEGER,
    actor_id   INTEGER NOT NULL,
    created_at REAL    NOT NULL
);

CREATE INDEX usage_adjustments_user_day ON usage_adjustments (user_id, day);

-- Every admin action, with who did it.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER,
    actor_id   INTEGER NOT NULL,
    action     TEXT    NOT NULL,
    target_id  INTEGER,
    details    TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(details) = 'object'),
    created_at REAL    NOT NULL
);

CREATE INDEX audit_log_guild ON audit_log (guild_id, id);
