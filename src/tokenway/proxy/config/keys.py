"""Every config key tokenway knows, and what it does with each: the one table.

A key is ``implemented`` (with the rule that converts its value), ``refused`` (start-up
stops and says why and what to do instead) or ``ignored`` (accepted for LiteLLM
compatibility, and warned about once at start with what is not done). No key is accepted
silently: a key in none of these tables is warned about as unknown. Security-relevant keys
(authentication, route restrictions, guardrails) are never ``ignored``: an operator who
sets one believes the proxy enforces it.

Keys come from LiteLLM's reference (https://docs.litellm.ai/docs/proxy/config_settings),
plus tokenway's own. ``docs/CONFIG.md`` is generated from this table
(``python -m tokenway.proxy.config.doc``). Only ``implemented`` keys have their
``os.environ/`` references resolved, so an ignored key naming an unset variable does not
stop start-up.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenway.providers.base import OPENAI_CHAT_PARAMS
from tokenway.proxy.config import wording
from tokenway.proxy.config.key import Key, Section, ignored, implemented, refused
from tokenway.proxy.config.keys_general import GENERAL_SETTINGS
from tokenway.proxy.config.rules import (
    boolean,
    fallback_list,
    http_url,
    identifier,
    mapping,
    non_empty_string,
    non_negative_int,
    non_negative_number,
    one_of,
    positive_int,
    positive_number,
    redis_url,
    string,
    string_list,
)
from tokenway.proxy.config.settings import REDIS_OUTAGE_CHOICES

ROUTING_STRATEGIES: tuple[str, ...] = (
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "usage-based-routing-v2",
    "latency-based-routing",
    "cost-based-routing",
    "provider-budget-routing",
    "lar1",
)


def _all(keys: tuple[str, ...], key: Key) -> dict[str, Key]:
    return dict.fromkeys(keys, key)


# --- the sections ------------------------------------------------------------------

TOP_LEVEL: Section = {
    "model_list": implemented("the deployments: one entry per (alias, upstream model)"),
    "litellm_settings": implemented("see the litellm_settings table", nested=True),
    "general_settings": implemented("see the general_settings table", nested=True),
    "router_settings": implemented("see the router_settings table", nested=True),
    "environment_variables": implemented(
        "names and values that os.environ/ references in this file may use"
    ),
    "include": refused(
        "including other files is not supported; merge the included files into this one"
    ),
    "guardrails": refused(
        "guardrails are not implemented in tokenway; requests would not be checked. Remove "
        "the section, and check requests before they reach the proxy"
    ),
    "callback_settings": ignored(f"{wording.NO_CALLBACKS} them"),
    "finetune_settings": ignored("the /fine_tuning endpoints are not implemented"),
    "files_settings": ignored("the /files endpoints are not implemented"),
    "assistant_settings": ignored("the /assistants endpoints are not implemented"),
    "credential_list": ignored("named credentials are not implemented; set api_key per model"),
    "mcp_servers": ignored("MCP servers are not implemented"),
}

MODEL_ENTRY: Section = {
    "model_name": implemented("the alias clients send as model", non_empty_string),
    "litellm_params": implemented("see the litellm_params table", mapping, nested=True),
    "model_info": implemented("see the model_info table", mapping, nested=True),
}

LITELLM_PARAMS: Section = {
    "model": implemented("'<provider>/<upstream model id>'", non_empty_string),
    "api_base": implemented("the upstream's URL", http_url),
    "api_key": implemented("the upstream's key (use os.environ/NAME)", non_empty_string),
    "rpm": implemented("requests per minute this deployment takes", positive_int),
    "tpm": implemented("tokens per minute this deployment takes", positive_int),
    "timeout": implemented("seconds for a whole upstream call", positive_number),
    "stream_timeout": implemented("seconds a stream may stay silent", positive_number),
    "input_cost_per_token": implemented("price of a prompt token", non_negative_number),
    "output_cost_per_token": implemented("price of a completion token", non_negative_number),
    "max_parallel_requests": implemented("calls in flight at once", positive_int),
    "weight": implemented("share of traffic under simple-shuffle", positive_number),
    "drop_params": implemented(
        "drop request parameters this deployment does not take (else a 400 names them)",
        boolean,
    ),
    "additional_drop_params": implemented(
        "parameters always dropped from requests to this deployment", string_list
    ),
    "allowed_openai_params": implemented(
        "parameters this deployment takes besides its provider's list", string_list
    ),
    "max_retries": ignored("retries are set by num_retries for the whole router"),
    "order": ignored("deployment priority (order) is not implemented; all are tried alike"),
    "tags": ignored("tag-based routing is not implemented"),
    "extra_headers": ignored("extra upstream headers from the config are not sent"),
    "rust": ignored(wording.LITELLM_ONLY),
    "api_version": ignored("an Azure setting; tokenway's providers do not use it"),
    "organization": ignored("the OpenAI organization header is not sent"),
    "region_name": implemented(
        "the deployment's region (e.g. eu, us): an end user with allowed_model_region is "
        "served only by deployments of that region",
        non_empty_string,
    ),
    "input_cost_per_second": ignored(
        "per-second pricing is not implemented; set input_cost_per_token"
    ),
    "mock_response": ignored(wording.LITELLM_ONLY),
    "mock_timeout": ignored(wording.LITELLM_ONLY),
    "num_retries": implemented(
        "retries of a request to this model (a group's: the most its deployments set); "
        "a request's own num_retries wins",
        non_negative_int,
    ),
    "custom_llm_provider": ignored("the provider is the prefix of model"),
    "configurable_clientside_auth_params": refused(wording.CLIENT_CREDENTIALS),
    **_all(tuple(sorted(OPENAI_CHAT_PARAMS)), ignored(wording.PROXY_DEFAULTS)),
}

MODEL_INFO: Section = {
    "id": implemented("the deployment's id (unique; default '<alias>-<index>')", identifier),
    "max_input_tokens": implemented(
        "the context window checked before sending (else the catalog's)", positive_int
    ),
    "input_cost_per_token": implemented(
        "price of a prompt token (litellm_params wins)", non_negative_number
    ),
    "output_cost_per_token": implemented(
        "price of a completion token (litellm_params wins)", non_negative_number
    ),
    "mode": implemented(
        "what /health probes it with: chat, embedding or completion (else the catalog's); "
        "a request's path picks its endpoint; another of LiteLLM's modes is reported "
        "unhealthy, as tokenway serves no such endpoint",
        non_empty_string,
    ),
    "base_model": ignored("prices come from the catalog by model, or from *_cost_per_token"),
    "max_tokens": ignored("use max_input_tokens for the context window"),
    "max_output_tokens": ignored("completion length is not capped by the proxy"),
    "health_check_timeout": ignored("health probes use the deployment's timeout"),
    "access_groups": implemented(
        "names a key, user or team's models list may use for this alias", string_list
    ),
    **_all(
        (
            "description", "supports_function_calling",
            "supports_parallel_function_calling", "supports_tool_choice", "supports_vision",
            "supports_response_schema", "supports_system_messages", "supports_reasoning",
        ),
        ignored("descriptive model metadata; tokenway does not read it"),
    ),
}  # fmt: skip

LITELLM_SETTINGS: Section = {
    "num_retries": implemented("retries per request (router_settings wins)", non_negative_int),
    "request_timeout": implemented(
        "seconds for an upstream call (router_settings.timeout wins)", positive_number
    ),
    "context_window_fallbacks": implemented("aliases tried when a prompt is too long",
                                            fallback_list),
    "default_fallbacks": implemented("aliases tried when any alias fails", fallback_list),
    "fallbacks": implemented("aliases tried when an alias fails", fallback_list),
    "drop_params": implemented(
        "drop request parameters a deployment does not take (else a 400 names them)", boolean
    ),
    "content_policy_fallbacks": ignored(
        "content-policy errors are not told apart; they use fallbacks"
    ),
    "callbacks": implemented(wording.CALLBACKS, string_list),
    "success_callback": implemented(wording.CALLBACKS, string_list),
    "failure_callback": implemented(wording.CALLBACKS, string_list),
    "require_auth_for_metrics_endpoint": implemented(
        "false: /metrics is served without the master key (it needs it by default)", boolean
    ),
    "service_callbacks": ignored(f"{wording.NO_CALLBACKS} these callbacks"),
    "langfuse_default_tags": ignored(f"{wording.NO_CALLBACKS} Langfuse"),
    "turn_off_message_logging": ignored(
        "tokenway sends no messages to logging callbacks; prompts are kept only with "
        "general_settings.store_prompts_in_spend_logs"
    ),
    "redact_user_api_key_info": ignored(
        "tokenway sends no key information to logging callbacks"
    ),
    "json_logs": implemented(
        "log lines (one per request, start, warnings) as JSON objects; also JSON_LOGS=True "
        "or --log-format json",
        boolean,
    ),
    "set_verbose": ignored("use the --log-level option"),
    "cache": ignored(wording.NO_CACHE),
    "cache_params": ignored(wording.NO_CACHE),
    "force_ipv4": ignored("upstream addresses are resolved as the system resolves them"),
    "cost_margin_config": ignored("costs are recorded without a margin"),
    "modify_params": ignored("requests are not rewritten for providers"),
    "enable_preview_features": ignored(wording.LITELLM_ONLY),
    "mcp_aliases": ignored("MCP servers are not implemented"),
    "default_team_settings": ignored("per-team callbacks are not implemented"),
    "disable_end_user_cost_tracking": ignored("end-user cost tracking is not implemented"),
    "disable_end_user_cost_tracking_prometheus_only": ignored(
        "the metrics carry no end-user label values"
    ),
    "key_generation_settings": ignored(
        "only the master key can create keys in tokenway, whatever this says"
    ),
    "disable_add_transform_inline_image_block": ignored(wording.LITELLM_ONLY),
    "use_chat_completions_url_for_anthropic_messages": ignored(
        "the /v1/messages endpoint is not implemented"
    ),
    "disable_hf_tokenizer_download": ignored("tokenway downloads no tokenizer"),
    "enable_json_schema_validation": ignored("response JSON schemas are not validated"),
    "enable_key_alias_format_validation": ignored("key aliases are checked by tokenway's rule"),
    "disable_copilot_system_to_assistant": ignored(wording.LITELLM_ONLY),
    "LITELLM_DISABLE_STOP_SEQUENCE_LIMIT": ignored("stop sequences are not counted"),
    "telemetry": ignored("tokenway sends no telemetry"),
}  # fmt: skip

ROUTER_SETTINGS: Section = {
    "routing_strategy": implemented("how a deployment is chosen", one_of(ROUTING_STRATEGIES)),
    "num_retries": implemented("retries per request", non_negative_int),
    "timeout": implemented("seconds for an upstream call", positive_number),
    "fallbacks": implemented("aliases tried when an alias fails", fallback_list),
    "context_window_fallbacks": implemented("aliases tried when a prompt is too long",
                                            fallback_list),
    "default_fallbacks": implemented("aliases tried when any alias fails", fallback_list),
    "allowed_fails": implemented("failures before a cooldown", non_negative_int),
    "cooldown_time": implemented("seconds a failing deployment rests", non_negative_number),
    "disable_cooldowns": implemented("never cool a deployment down", boolean),
    "max_wait_for_capacity": implemented("tokenway's: seconds to wait for rpm/tpm room",
                                         non_negative_number),
    "enable_pre_call_checks": implemented(
        "context windows are always checked before sending", boolean
    ),
    "content_policy_fallbacks": ignored(
        "content-policy errors are not told apart; they use fallbacks"
    ),
    "redis_host": implemented("the Redis that counts rate limits for every process "
                              "(else REDIS_HOST)", non_empty_string),
    "redis_port": implemented("its port, default 6379 (else REDIS_PORT)", positive_int),
    "redis_password": implemented("its password (else REDIS_PASSWORD)", string),
    "redis_db": implemented("its database number, default 0", non_negative_int),
    "redis_url": implemented("the Redis as one URL, before redis_host (else REDIS_URL)",
                             redis_url),
    "redis_key_prefix": implemented("tokenway's: the prefix of its Redis keys, default "
                                    "'tokenway:'", non_empty_string),
    "redis_outage": implemented("tokenway's: while Redis does not answer, 'per_process' "
                                "(default: each process counts limits and budgets itself, "
                                "warns once, and goes back to Redis when it answers) or "
                                "'refuse' (503 for requests with a limit or budget)",
                                one_of(REDIS_OUTAGE_CHOICES)),
    "cache_kwargs": ignored(wording.ONE_PROCESS),
    "client_ttl": ignored("upstream connections are pooled for the process's life"),
    "retry_policy": ignored("retries are the same for every error; set num_retries"),
    "allowed_fails_policy": ignored("cooldowns count every failure alike; set allowed_fails"),
    "model_group_retry_policy": ignored("retries are the same for every alias"),
    "enable_tag_filtering": ignored("tag-based routing is not implemented"),
    "tag_filtering_match_any": ignored("tag-based routing is not implemented"),
    "model_group_alias": ignored("alias mapping is not implemented; name deployments directly"),
    "routing_strategy_args": ignored("strategies take no arguments in tokenway"),
    "default_max_parallel_requests": ignored(
        "set litellm_params.max_parallel_requests per deployment"
    ),
    "default_priority": ignored("request priorities are not implemented"),
    "polling_interval": ignored("request priorities are not implemented"),
    "max_fallbacks": ignored("every listed fallback is tried"),
    "default_litellm_params": ignored(wording.PROXY_DEFAULTS),
    "stream_timeout": ignored("set litellm_params.stream_timeout per deployment"),
    "debug_level": ignored("use the --log-level option"),
    "set_verbose": ignored("use the --log-level option"),
    "caching_groups": ignored(wording.NO_CACHE),
    "cache_responses": ignored(wording.NO_CACHE),
    "alerting_config": ignored(wording.NO_ALERTS),
    "assistants_config": ignored("the /assistants endpoints are not implemented"),
    "retry_after": ignored("retries back off on their own schedule"),
    "provider_budget_config": ignored("provider budgets are not implemented"),
    "router_general_settings": ignored(wording.LITELLM_ONLY),
    "optional_pre_call_checks": ignored(wording.LITELLM_ONLY),
    "deployment_affinity_ttl_seconds": ignored(wording.LITELLM_ONLY),
    "ignore_invalid_deployments": ignored("an invalid deployment stops start-up"),
    "search_tools": ignored("the search endpoints are not implemented"),
    "guardrail_list": refused(
        "guardrails are not implemented in tokenway; requests would not be checked"
    ),
}  # fmt: skip

# Title of each table (as docs/CONFIG.md shows it) -> its keys.
TABLE: Mapping[str, Section] = {
    "top level": TOP_LEVEL,
    "model_list[]": MODEL_ENTRY,
    "model_list[].litellm_params": LITELLM_PARAMS,
    "model_list[].model_info": MODEL_INFO,
    "litellm_settings": LITELLM_SETTINGS,
    "general_settings": GENERAL_SETTINGS,
    "router_settings": ROUTER_SETTINGS,
}

SETTINGS_SECTIONS: Mapping[str, Section] = {
    "litellm_settings": LITELLM_SETTINGS,
    "general_settings": GENERAL_SETTINGS,
    "router_settings": ROUTER_SETTINGS,
}

__all__ = ["SETTINGS_SECTIONS", "TABLE", "Key", "Section"]
