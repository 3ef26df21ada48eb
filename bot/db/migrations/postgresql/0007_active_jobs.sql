-- 0007 (PostgreSQL twin of ../0007_active_jobs.sql): a member's unfinished jobs
-- in a small partial index, instead of every job in (user_id, status).
CREATE INDEX jobs_user_active ON jobs (user_id, status)
WHERE status IN ('queued', 'submitted', 'running');
DROP INDEX jobs_user_status;
