-- The LiteLLM fields a key, user or team was given that tokenway stores and echoes
-- without acting on them (aliases, tags, permissions, ...): one JSON object each.
ALTER TABLE keys ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE teams ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
-- A team's members, LiteLLM's members_with_roles: a JSON list of {user_id, user_email,
-- role, and the member's settings in the team}.
ALTER TABLE teams ADD COLUMN members_with_roles TEXT NOT NULL DEFAULT '[]';
