-- The LiteLLM fields a key, user or team was given that tokenway stores and echoes
-- without acting on them (aliases, tags, permissions, ...): one JSON object each.
ALTER TABLE keys ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE teams ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
