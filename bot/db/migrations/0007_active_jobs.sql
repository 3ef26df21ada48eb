-- 0007: a member's unfinished jobs in a small partial index.
--
-- Every reservation counts the member's unfinished jobs (any day). The index
-- on (user_id, status) held every job ever made, so each reservation and each
-- settlement wrote to it, and on a young PostgreSQL table (no statistics yet)
-- the planner would scan all of a member's jobs through it. This one holds
-- only the unfinished jobs (a few per member): a job leaves it when it ends.
-- The queries it serves spell the same condition with the same literals
-- (queries.ACTIVE_LITERALS), which is what lets SQLite and PostgreSQL use it.
-- A member's job list (newest first) reads jobs_user_day_spend instead.
CREATE INDEX jobs_user_active ON jobs (user_id, status)
WHERE status IN ('queued', 'submitted', 'running');
DROP INDEX jobs_user_status;
