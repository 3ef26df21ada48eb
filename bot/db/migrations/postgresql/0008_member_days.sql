-- 0008 (PostgreSQL twin of ../0008_member_days.sql): each member's day in one
-- row, the credits used (their ledger's sum) and rendered (SPENT's sum), kept
-- by the statements that write the ledger or end a job, so that a
-- reservation reads one row instead of the day's ledger and jobs.
CREATE TABLE member_days (
    user_id  BIGINT  NOT NULL,
    day      TEXT    NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0,
    rendered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

INSERT INTO member_days (user_id, day, used)
SELECT user_id, day, SUM(amount) FROM ledger GROUP BY user_id, day;

INSERT INTO member_days (user_id, day, rendered)
SELECT user_id, day, SUM(cost) FROM jobs
WHERE submitted_at IS NOT NULL OR status IN ('completed', 'queued', 'submitted', 'running')
GROUP BY user_id, day
ON CONFLICT (user_id, day) DO UPDATE SET rendered = excluded.rendered;
