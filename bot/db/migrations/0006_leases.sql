-- 0006: jobs held by leases, so that several processes can share the jobs.
--
-- Each unfinished job belongs to the process named by `lease_owner` until
-- `lease_expires` (epoch seconds); the owner renews it while it runs the job.
-- A job whose lease expired (its process died) is claimed by another process
-- and resumed. NULL on a job just reserved (its process takes the lease at
-- once) and on jobs from before this migration: those are claimable.
--
-- `cancel_requested_by` is a Cancel pressed on a process that does not hold
-- the job: the holder sees it when it renews and stops the job itself.
-- `cancel_keeps_credit` is 1 when that Cancel was confirmed after the job was
-- sent to the provider (no refund).
--
-- `slot_at` is when the job took one of the JOBS_MAX_CONCURRENT rendering
-- slots, which hold across every process; NULL while it waits for one.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires REAL;
ALTER TABLE jobs ADD COLUMN cancel_requested_by INTEGER;
ALTER TABLE jobs ADD COLUMN cancel_keeps_credit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN slot_at REAL;

CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

-- Push hooks by the hash of their token (never the token itself), so that a
-- call reaching any process wakes the job in the process that issued it.
CREATE TABLE job_hooks (
    token_hash TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    created_at REAL NOT NULL,
    fired_at   REAL,
    seen       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX job_hooks_owner ON job_hooks (owner, seen);
