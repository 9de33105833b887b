-- Every index on spend_logs is paid by every proxy request (one more B-tree insert each).
-- The model filter of /spend/logs and spend totals is an occasional admin query: it now
-- walks spend_logs_started_at (newest first, or the asked time range) instead. The
-- key/user/team indexes stay: budget resets sum a principal's rows since a time.
DROP INDEX IF EXISTS spend_logs_model_alias;
