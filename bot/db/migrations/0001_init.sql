-- 0001: jobs, the credit ledger and a small key/value table for bot state.
--
-- Times are UTC epoch seconds (REAL); `day` is the UTC date a credit was
-- reserved for, so a job that ends after midnight refunds the right day.
-- Changing a CHECK later means rebuilding the table in SQLite, so only the
-- closed sets the code's correctness depends on are CHECKed here; open-ended
-- ones (protocol, option keys) are validated in Python.

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL,
    guild_id          INTEGER,                -- NULL in DMs
    channel_id        INTEGER NOT NULL,
    message_id        INTEGER,                -- the progress message, set after defer
    interaction_token TEXT,                   -- lets us edit for 15 min; cleared when settled
    application_id    INTEGER,
    prompt            TEXT    NOT NULL,
    options           TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(options) = 'object'),
    image_url         TEXT,                   -- the Discord attachment, for retry
    protocol          TEXT    NOT NULL CHECK (protocol <> ''),
    provider_task_id  TEXT,
    status            TEXT    NOT NULL DEFAULT 'queued' CHECK (
        status IN ('queued', 'submitted', 'running', 'completed', 'failed', 'cancelled')
    ),
    progress          REAL,                   -- percent 0-100 when the provider says it
    result_url        TEXT,
    error             TEXT,                   -- the reason shown to the member
    cost              INTEGER NOT NULL CHECK (cost >= 0),
    day               TEXT    NOT NULL CHECK (
        day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
    ),
    created_at        REAL    NOT NULL,
    updated_at        REAL    NOT NULL,
    started_at        REAL,
    finished_at       REAL,
    -- A job is final exactly when it has a finish time: settle() sets both at once.
    CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

CREATE INDEX jobs_user_status ON jobs (user_id, status);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_user_day ON jobs (user_id, day);

-- Credits used by a member on a day = SUM(amount) of their rows for that day.
-- A reservation is +cost; a refund is -cost on the reservation's day. The
-- UNIQUE makes a second refund (or reservation) of the same job impossible.
CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs (id),
    user_id    INTEGER NOT NULL,
    day        TEXT    NOT NULL,
    amount     INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('reserve', 'refund')),
    created_at REAL    NOT NULL,
    UNIQUE (job_id, kind),
    CHECK ((kind = 'reserve' AND amount >= 0) OR (kind = 'refund' AND amount <= 0))
);

CREATE INDEX ledger_user_day ON ledger (user_id, day);

-- Bot state that must survive a restart, e.g. the hash of the last synced
-- slash commands (syncing is rate limited, so it is skipped when unchanged).
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
