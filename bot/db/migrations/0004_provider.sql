-- 0004: which configured provider took each job, when PROVIDERS names several.
--
-- Set when the provider accepts the job (with its task id), so a resume, a
-- cancel or the stats reach that provider. NULL on older jobs and on jobs no
-- provider accepted: those belong to the first provider of their `protocol`.
ALTER TABLE jobs ADD COLUMN provider TEXT;
