-- 0005 (PostgreSQL twin of ../0005_member_sums.sql): covering indexes for the
-- member's sums every reservation makes.
CREATE INDEX ledger_user_day_amount ON ledger (user_id, day, amount);
DROP INDEX ledger_user_day;
CREATE INDEX jobs_user_day_spend ON jobs (user_id, day, status, submitted_at, cost);
DROP INDEX jobs_user_day;
