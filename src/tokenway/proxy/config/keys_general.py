"""The ``general_settings`` rows of the config key table (``config.keys``)."""

from __future__ import annotations

from tokenway.proxy.config import wording
from tokenway.proxy.config.key import Section, ignored, implemented, refused
from tokenway.proxy.config.rules import (
    boolean,
    non_empty_string,
    non_negative_int,
    origin_list,
    positive_int,
    positive_number,
    string_list,
)

GENERAL_SETTINGS: Section = {
    "master_key": implemented("the admin key; without it the proxy has no auth",
                              non_empty_string),
    "database_url": implemented("the key and spend store (else SQLite)", non_empty_string),
    "allowed_routes": implemented(
        "if set, only these exact paths answer an authenticated request; any other "
        "is 403 route_not_allowed (health, readiness and /openapi.json stay open)",
        string_list,
    ),
    "disable_auto_add_proxy_admin_to_teams": implemented(
        "a team the master key (or a proxy_admin) creates does not get its creator as admin",
        boolean,
    ),
    "proxy_batch_write_at": implemented("seconds between spend batches", positive_number),
    "disable_spend_logs": implemented("no spend rows are kept", boolean),
    "allow_requests_on_db_unavailable": implemented(
        "serve keys through a store outage", boolean
    ),
    "store_prompts_in_spend_logs": implemented("keep prompts in spend rows", boolean),
    "background_health_checks": implemented("probe deployments periodically", boolean),
    "health_check_interval": implemented("seconds between probes", positive_number),
    "max_request_size_mb": implemented("413 above this body size", positive_number),
    "spend_journal_dir": implemented("tokenway's: where the spend journal lives",
                                     non_empty_string),
    "spend_journal_fsync_interval": implemented("tokenway's: seconds between fsyncs",
                                                positive_number),
    "max_request_line_bytes": implemented("tokenway's: 414 above this", positive_int),
    "max_header_line_bytes": implemented("tokenway's: 431 above this", positive_int),
    "max_header_bytes": implemented("tokenway's: 431 above this", positive_int),
    "max_header_count": implemented("tokenway's: 431 above this", positive_int),
    "header_timeout": implemented("tokenway's: seconds for a request head", positive_number),
    "body_timeout": implemented("tokenway's: base seconds for a body", positive_number),
    "min_body_rate": implemented("tokenway's: bytes/s a body must keep", positive_int),
    "max_connections": implemented("tokenway's: open connections (0: default)",
                                   non_negative_int),
    "cors_allow_origins": implemented("tokenway's: origins browsers may call from (or *)",
                                      origin_list),
    "cors_max_age": implemented("tokenway's: seconds a CORS preflight is cached",
                                non_negative_int),
    # authentication and access: refused, never ignored
    "enable_jwt_auth": refused(f"JWT auth is not implemented; {wording.NO_AUTH}"),
    "litellm_jwtauth": refused(f"JWT auth is not implemented; {wording.NO_AUTH}"),
    "custom_auth": refused(f"tokenway does not load user code for auth; {wording.NO_AUTH}"),
    "custom_sso": refused(f"SSO is not implemented; {wording.NO_AUTH}"),
    "enable_oauth2_auth": refused(f"OAuth2 is not implemented; {wording.NO_AUTH}"),
    "enable_oauth2_proxy_auth": refused(f"OAuth2 is not implemented; {wording.NO_AUTH}"),
    "oauth2_config_mappings": refused(f"OAuth2 is not implemented; {wording.NO_AUTH}"),
    "allow_user_auth": refused(f"user/password auth is not implemented; {wording.NO_AUTH}"),
    "allow_client_side_credentials": refused(wording.CLIENT_CREDENTIALS),
    "use_client_credentials_pass_through_routes": refused(wording.CLIENT_CREDENTIALS),
    "public_routes": refused(
        "routes cannot be made public; only health, readiness and /openapi.json are. "
        "Remove this key"
    ),
    "admin_only_routes": refused(
        "management routes need the master key, except a fixed set of self-service ones "
        "scoped to the caller's own keys, user and team (LiteLLM's roles); routes cannot "
        "be moved between the two, so remove this key"
    ),
    "allowed_ips": refused(
        "IP allow-lists are not implemented; restrict addresses in front of the proxy and "
        "remove this key"
    ),
    "enforce_user_param": refused(
        "requiring the user field is not implemented; remove this key"
    ),
    "enforced_params": refused("required request params are not enforced; remove this key"),
    "reject_clientside_metadata_tags": refused(
        "metadata tags are not used for budgets in tokenway; remove this key"
    ),
    "litellm_key_header_name": refused(
        "keys are read from Authorization or api-key only; remove this key"
    ),
    "key_management_system": refused(
        "secret managers are not implemented; use os.environ/ references"
    ),
    "key_management_settings": refused(
        "secret managers are not implemented; use os.environ/ references"
    ),
    "use_azure_key_vault": refused(
        "secret managers are not implemented; use os.environ/ references"
    ),
    "use_google_kms": refused("secret managers are not implemented; use os.environ/ references"),
    "pass_through_endpoints": ignored(
        "pass-through endpoints are not implemented; their paths answer 404"
    ),
    "custom_key_generate": refused("tokenway does not load user code for key generation"),
    "ui_access_mode": ignored("the admin UI is not implemented"),
    # the rest: accepted and warned
    "database_connection_pool_limit": ignored("the store opens the connections it needs"),
    "database_connection_timeout": ignored("the store's own connect timeout applies"),
    "maximum_spend_logs_retention_period": ignored("spend rows are kept until deleted"),
    "maximum_spend_logs_retention_interval": ignored("spend rows are kept until deleted"),
    "max_parallel_requests": ignored(
        "set litellm_params.max_parallel_requests per deployment, or per key"
    ),
    "global_max_parallel_requests": ignored(
        "requests in flight are not capped proxy-wide; max_connections caps connections"
    ),
    "use_redis_transaction_buffer": ignored(wording.ONE_PROCESS),
    "max_response_size_mb": ignored("upstream answers are not capped in size"),
    "alerting": ignored(wording.NO_ALERTS),
    "alerting_threshold": ignored(wording.NO_ALERTS),
    "alerting_args": ignored(wording.NO_ALERTS),
    "alert_types": ignored(wording.NO_ALERTS),
    "alert_to_webhook_url": ignored(wording.NO_ALERTS),
    "spend_report_frequency": ignored(wording.NO_ALERTS),
    "store_model_in_db": implemented(
        "/model/new, /model/update and /model/delete store models in the database, served "
        "beside this file's on every instance within 5 s (also STORE_MODEL_IN_DB=True)",
        boolean,
    ),
    "supported_db_objects": ignored("models come from this file only"),
    "completion_model": ignored("the model named by the request is used"),
    "embedding_model": ignored("the model named by the request is used"),
    "image_generation_model": ignored("image generation is not implemented"),
    "moderation_model": ignored("moderation is not implemented"),
    "infer_model_from_keys": ignored("the model named by the request is used"),
    "forward_openai_org_id": ignored("client headers are not forwarded upstream"),
    "forward_client_headers_to_llm_api": ignored("client headers are not forwarded upstream"),
    "disable_spend_updates": ignored("use disable_spend_logs; key spend is always updated"),
    "disable_master_key_return": ignored("tokenway never returns the master key"),
    "disable_retry_on_max_parallel_request_limit_error": ignored(
        "a parallel-request limit is not retried"
    ),
    "disable_reset_budget": ignored("budgets reset by their duration"),
    "disable_adding_master_key_hash_to_db": ignored("the master key is not stored"),
    "disable_responses_id_security": ignored("the /v1/responses endpoint is not implemented"),
    "user_mcp_management_mode": ignored("MCP servers are not implemented"),
    "health_check_details": ignored("the health page always shows its details to admins"),
    "use_x_forwarded_for": ignored("client addresses are not recorded"),
    "service_account_settings": ignored("service accounts are not implemented"),
    "default_team_disabled": ignored("teams are optional for keys"),
    "user_api_key_cache_ttl": ignored("key changes are seen at once"),
    "disable_prisma_schema_update": ignored("run 'tokenway migrate' to update the schema"),
    "proxy_budget_rescheduler_min_time": ignored("budgets reset by their duration"),
    "proxy_budget_rescheduler_max_time": ignored("budgets reset by their duration"),
    "proxy_batch_polling_interval": ignored("the /batches endpoints are not implemented"),
    "litellm_license": ignored(wording.LITELLM_ONLY),
}  # fmt: skip
