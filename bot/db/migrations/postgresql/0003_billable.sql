-- 0003 (PostgreSQL twin of ../0003_billable.sql): when a job became billable,
-- and covering indexes for the operator's sums.
ALTER TABLE jobs ADD COLUMN submitted_at DOUBLE PRECISION;

UPDATE jobs SET submitted_at = COALESCE(started_at, created_at)
WHERE provider_task_id IS NOT NULL OR status IN ('submitted', 'completed');

DROP INDEX jobs_day;
CREATE INDEX jobs_day_spend ON jobs (day, guild_id, status, submitted_at, cost, price_micros);
DROP INDEX jobs_status;
CREATE INDEX jobs_status_totals ON jobs (
    status, submitted_at, cost, price_micros, started_at, finished_at
);
