-- 0008: each member's day in one row: the credits used and the credits rendered.
--
-- Every reservation checks two sums over the member's day: the credits used
-- (their ledger rows: reservations less refunds) and the render gate's count
-- (the cost of their jobs that reached the provider or still may: SPENT in
-- bot/db/operator_queries.py). Summed each time, they read every row of the
-- day again, a cost growing with the member's jobs of the day. This table
-- holds both sums: the statements that write a ledger row or end a job add to
-- them in the same transaction (bot/db/credit_queries.py), and a reservation
-- reads one row. The ledger and the jobs stay the record: the tests check
-- that each row here equals their sums.
CREATE TABLE member_days (
    user_id  INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    used     INTEGER NOT NULL DEFAULT 0,
    rendered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;

INSERT INTO member_days (user_id, day, used)
SELECT user_id, day, SUM(amount) FROM ledger GROUP BY user_id, day;

INSERT INTO member_days (user_id, day, rendered)
SELECT user_id, day, SUM(cost) FROM jobs
WHERE submitted_at IS NOT NULL OR status IN ('completed', 'queued', 'submitted', 'running')
GROUP BY user_id, day
ON CONFLICT (user_id, day) DO UPDATE SET rendered = excluded.rendered;
