-- 0006 (PostgreSQL twin of ../0006_leases.sql): jobs held by leases, the
-- cross-process Cancel, the global rendering slots and the shared push hooks.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN cancel_requested_by BIGINT;
ALTER TABLE jobs ADD COLUMN cancel_keeps_credit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN slot_at DOUBLE PRECISION;

CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE job_hooks (
    token_hash TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    fired_at   DOUBLE PRECISION,
    seen       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX job_hooks_owner ON job_hooks (owner, seen);
