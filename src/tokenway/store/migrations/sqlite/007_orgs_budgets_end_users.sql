-- LiteLLM's shared budgets, organizations and end users (the callers a request names in
-- its `user` field), a team's organization, and what a spend row says about its request.

-- A budget object: limits that end users and organizations point at by budget_id.
CREATE TABLE budgets (
    budget_id TEXT PRIMARY KEY,
    max_budget REAL,
    soft_budget REAL,
    budget_duration TEXT,
    budget_reset_at REAL,
    rpm_limit INTEGER,
    tpm_limit INTEGER,
    max_parallel_requests INTEGER,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE organizations (
    organization_id TEXT PRIMARY KEY,
    organization_alias TEXT,
    budget_id TEXT,
    models TEXT NOT NULL DEFAULT '[]',
    spend REAL NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    members TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- budget_reset_at: when this end user's spend next returns to 0 (its budget's duration).
CREATE TABLE end_users (
    user_id TEXT PRIMARY KEY,
    alias TEXT,
    budget_id TEXT,
    spend REAL NOT NULL DEFAULT 0,
    budget_reset_at REAL,
    blocked INTEGER NOT NULL DEFAULT 0,
    allowed_model_region TEXT,
    default_model TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX end_users_budget_reset_at ON end_users (budget_reset_at);

ALTER TABLE teams ADD COLUMN organization_id TEXT;

-- The request's organization (its key's team's), its end user, its own metadata (JSON)
-- and the id of the answer the client got (chatcmpl-...), by which LiteLLM looks rows up.
ALTER TABLE spend_logs ADD COLUMN organization_id TEXT;
ALTER TABLE spend_logs ADD COLUMN end_user TEXT;
ALTER TABLE spend_logs ADD COLUMN metadata TEXT;
ALTER TABLE spend_logs ADD COLUMN response_id TEXT;
CREATE INDEX spend_logs_response_id ON spend_logs (response_id);
CREATE INDEX spend_logs_end_user ON spend_logs (end_user, started_at) WHERE end_user IS NOT NULL;
