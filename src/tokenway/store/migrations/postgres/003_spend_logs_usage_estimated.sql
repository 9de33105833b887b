-- A row whose token counts are the proxy's estimate (the upstream sent no usage it could
-- trust) says so in its own column. Rows of earlier versions marked it in error_code,
-- which made them look failed: they move to the new column.
ALTER TABLE spend_logs ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE spend_logs SET usage_estimated = TRUE, error_code = NULL
    WHERE error_code = 'usage_estimated';
