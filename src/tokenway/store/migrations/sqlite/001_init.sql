-- Keys, users, teams and spend rows. Times are UNIX epoch seconds; JSON is stored as text.

CREATE TABLE keys (
    key_hash TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    key_alias TEXT UNIQUE,
    user_id TEXT,
    team_id TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at REAL,
    spend REAL NOT NULL DEFAULT 0,
    rpm_limit INTEGER,
    tpm_limit INTEGER,
    max_parallel_requests INTEGER,
    expires_at REAL,
    blocked INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX keys_user_id ON keys (user_id);
CREATE INDEX keys_team_id ON keys (team_id);
CREATE INDEX keys_budget_reset_at ON keys (budget_reset_at);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    user_email TEXT,
    user_role TEXT,
    team_id TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at REAL,
    spend REAL NOT NULL DEFAULT 0,
    rpm_limit INTEGER,
    tpm_limit INTEGER,
    max_parallel_requests INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX users_budget_reset_at ON users (budget_reset_at);

CREATE TABLE teams (
    team_id TEXT PRIMARY KEY,
    team_alias TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    max_budget REAL,
    budget_duration TEXT,
    budget_reset_at REAL,
    spend REAL NOT NULL DEFAULT 0,
    rpm_limit INTEGER,
    tpm_limit INTEGER,
    max_parallel_requests INTEGER,
    blocked INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX teams_budget_reset_at ON teams (budget_reset_at);

CREATE TABLE spend_logs (
    request_id TEXT PRIMARY KEY,
    key_hash TEXT,
    user_id TEXT,
    team_id TEXT,
    model_alias TEXT NOT NULL,
    deployment TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL,
    latency_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    error_code TEXT,
    stream INTEGER NOT NULL,
    started_at REAL NOT NULL,
    payload TEXT
);
-- Each filter is paired with started_at: /spend/logs filters by one and orders by time.
CREATE INDEX spend_logs_key_hash ON spend_logs (key_hash, started_at);
CREATE INDEX spend_logs_user_id ON spend_logs (user_id, started_at);
CREATE INDEX spend_logs_team_id ON spend_logs (team_id, started_at);
CREATE INDEX spend_logs_model_alias ON spend_logs (model_alias, started_at);
CREATE INDEX spend_logs_started_at ON spend_logs (started_at);
