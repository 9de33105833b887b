"""The wordings the config key table repeats (why a key is ignored or refused)."""

NO_CALLBACKS = "logging/metrics callbacks are not implemented in tokenway; nothing is sent to"
CLIENT_CREDENTIALS = "tokenway never lets a client choose the upstream URL or key; remove this key"
NO_AUTH = "tokenway authenticates with the master key and virtual keys only; remove this key"
ONE_PROCESS = (
    "tokenway shares rate limits, key changes and cooldowns over Redis "
    "(router_settings.redis_host or redis_url); this setting has no effect"
)
NO_ALERTS = "alerting is not implemented in tokenway; no alert is sent"
NO_CACHE = "response caching is not implemented in tokenway; requests are not cached"
PROXY_DEFAULTS = (
    "request defaults in litellm_params are applied by the SDK's Router only; the proxy "
    "forwards the client's parameters as sent"
)
LITELLM_ONLY = "a LiteLLM feature tokenway does not have; it has no effect"
CALLBACKS = (
    "prometheus: the /metrics endpoint (LiteLLM's metric names); otel: traces over OTLP/HTTP "
    "(OTEL_EXPORTER_OTLP_ENDPOINT); any other callback name is warned about once and nothing "
    "is sent to it"
)
