-- Models added through the management API (/model/new), served beside the config's
-- (LiteLLM's store_model_in_db). litellm_params and model_info are JSON text; an
-- upstream key given in the body is never in litellm_params: it is sealed (encrypted
-- with a key only the proxy derives) in api_key_sealed.
CREATE TABLE proxy_models (
    model_id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    litellm_params TEXT NOT NULL DEFAULT '{}',
    model_info TEXT NOT NULL DEFAULT '{}',
    api_key_sealed TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
