-- 0005: covering indexes for the sums every reservation makes for its member.
--
-- reserve() adds up the member's ledger of the day (credits used) and the cost
-- of their jobs of the day that reached the provider (the render gate). With
-- the summed columns in the index, those sums never read the tables. They
-- replace the narrower indexes on (user_id, day), whose columns lead them.
CREATE INDEX ledger_user_day_amount ON ledger (user_id, day, amount);
DROP INDEX ledger_user_day;
CREATE INDEX jobs_user_day_spend ON jobs (user_id, day, status, submitted_at, cost);
DROP INDEX jobs_user_day;
