-- 0003: when a job became billable, and indexes that let the spend and metrics
-- sums read an index instead of the table.
--
-- A job is billable from the moment its submission is sent to the provider:
-- the provider bills the render whatever happens next (the member cancels, it
-- times out, the bot crashes). `submitted_at` records that moment and is never
-- cleared, so the operator's spend keeps counting the job even when the member
-- gets their credit back.
ALTER TABLE jobs ADD COLUMN submitted_at REAL;

-- Jobs from before this column: a provider task id, or a status only reached
-- through the provider, proves the job was sent. ('running' alone does not: it
-- was set when a rendering slot was taken, before the image was even prepared.)
UPDATE jobs SET submitted_at = COALESCE(started_at, created_at)
WHERE provider_task_id IS NOT NULL OR status IN ('submitted', 'completed');

-- Covering indexes for the operator's sums: the day's spend (bot and server
-- caps, stats, /metrics) and the all-time totals by status (/metrics). They
-- replace the narrower indexes on (day) and (status), whose columns lead them.
DROP INDEX jobs_day;
CREATE INDEX jobs_day_spend ON jobs (day, guild_id, status, submitted_at, cost, price_micros);
DROP INDEX jobs_status;
CREATE INDEX jobs_status_totals ON jobs (
    status, submitted_at, cost, price_micros, started_at, finished_at
);
