-- 0004 (PostgreSQL twin of ../0004_provider.sql): which configured provider took each job.
ALTER TABLE jobs ADD COLUMN provider TEXT;
