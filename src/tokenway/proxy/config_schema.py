"""What a LiteLLM-style config.yaml may contain, and the checker that applies it.

Key names come from LiteLLM's config reference
(https://docs.litellm.ai/docs/proxy/config_settings). A key not listed here is not an
error: it is reported once as "unknown key, ignored", because a misspelt key silently
ignored is how a LiteLLM deployment once ended up unauthenticated
(BerriAI/litellm-docs#1184).

The value rules themselves are in :mod:`tokenway.proxy.config_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tokenway.providers.base import OPENAI_CHAT_PARAMS
from tokenway.proxy.config_rules import (
    Rule,
    boolean,
    fallback_list,
    http_url,
    identifier,
    mapping,
    non_empty_string,
    non_negative_int,
    non_negative_number,
    one_of,
    port,
    positive_int,
    positive_number,
    string,
    string_list,
    string_mapping,
)
from tokenway.proxy.cors import origin_list

_T = TypeVar("_T")

SECTION_NAMES: tuple[str, ...] = (
    "model_list",
    "litellm_settings",
    "general_settings",
    "router_settings",
    "environment_variables",
)

# Keys that only mean something under general_settings. Anywhere else they would be
# ignored, so finding one elsewhere stops start-up instead of warning.
SECURITY_KEYS: Mapping[str, str] = {
    "master_key": "leave the proxy unauthenticated",
    "database_url": "leave keys and spend out of that database",
}

# Example keys from LiteLLM's documentation that anyone can guess.
WELL_KNOWN_MASTER_KEYS: frozenset[str] = frozenset({"sk-1234"})

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

# litellm_params keys that become DeploymentConfig fields; the rest are kept as extras.
DEPLOYMENT_PARAM_KEYS: frozenset[str] = frozenset(
    {
        "model", "api_base", "api_key", "rpm", "tpm", "timeout",
        "input_cost_per_token", "output_cost_per_token",
    }
)  # fmt: skip


# --- sections ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionSchema:
    """Known keys of one mapping, rules for the typed ones, and accepted-but-unsupported keys."""

    rules: Mapping[str, Rule]
    untyped: frozenset[str] = frozenset()
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def knows(self, key: str) -> bool:
        return key in self.rules or key in self.untyped or key in self.unsupported


_NOT_SUPPORTED = "accepted for LiteLLM compatibility but not supported by tokenway; ignored"
_NO_CLIENT_CREDENTIALS = (
    "not supported: tokenway never lets a client choose the upstream URL or key; ignored"
)

MODEL_ENTRY = SectionSchema(
    rules={"model_name": non_empty_string, "litellm_params": mapping, "model_info": mapping},
)

LITELLM_PARAMS = SectionSchema(
    rules={
        "model": non_empty_string,
        "api_base": http_url,
        "api_key": non_empty_string,
        "rpm": positive_int,
        "tpm": positive_int,
        "timeout": positive_number,
        "stream_timeout": positive_number,
        "input_cost_per_token": non_negative_number,
        "output_cost_per_token": non_negative_number,
        "max_retries": non_negative_int,
        "max_parallel_requests": positive_int,
        "weight": positive_number,
        "order": positive_int,
        "extra_headers": string_mapping,
        "rust": boolean,
        "tags": string_list,
    },
    # Request defaults (temperature, max_tokens, ...) are passed on like LiteLLM does.
    untyped=OPENAI_CHAT_PARAMS | {"api_version", "organization", "region_name"},
    unsupported={"configurable_clientside_auth_params": _NO_CLIENT_CREDENTIALS},
)

MODEL_INFO = SectionSchema(
    rules={
        "id": identifier,
        "mode": string,
        "base_model": string,
        "max_tokens": positive_int,
        "max_input_tokens": positive_int,
        "max_output_tokens": positive_int,
        "input_cost_per_token": non_negative_number,
        "output_cost_per_token": non_negative_number,
    },
    untyped=frozenset(
        {
            "description", "access_groups", "supports_function_calling",
            "supports_parallel_function_calling", "supports_tool_choice", "supports_vision",
            "supports_response_schema", "supports_system_messages", "supports_reasoning",
        }
    ),
)  # fmt: skip

LITELLM_SETTINGS = SectionSchema(
    rules={
        "drop_params": boolean,
        "num_retries": non_negative_int,
        "request_timeout": positive_number,
        "callbacks": string_list,
        "success_callback": string_list,
        "failure_callback": string_list,
        "cache": boolean,
        "cache_params": mapping,
        "context_window_fallbacks": fallback_list,
        "content_policy_fallbacks": fallback_list,
        "default_fallbacks": fallback_list,
        "turn_off_message_logging": boolean,
        "redact_user_api_key_info": boolean,
        "json_logs": boolean,
        "force_ipv4": boolean,
        "cost_margin_config": mapping,
    },
)

GENERAL_SETTINGS = SectionSchema(
    rules={
        "master_key": non_empty_string,
        "database_url": non_empty_string,
        "database_connection_pool_limit": positive_int,
        "proxy_batch_write_at": positive_number,
        "disable_spend_logs": boolean,
        "allow_requests_on_db_unavailable": boolean,
        "store_prompts_in_spend_logs": boolean,
        "maximum_spend_logs_retention_period": string,
        "background_health_checks": boolean,
        "health_check_interval": positive_number,
        "max_parallel_requests": positive_int,
        "global_max_parallel_requests": positive_int,
        "allowed_routes": string_list,
        "use_redis_transaction_buffer": boolean,
        "max_request_size_mb": positive_number,
        "max_response_size_mb": positive_number,
        # tokenway's own: where the spend journal lives, and how often it is fsynced
        "spend_journal_dir": non_empty_string,
        "spend_journal_fsync_interval": positive_number,
        # tokenway's own: what the HTTP server accepts (tokenway.http.limits.ServerLimits)
        "max_request_line_bytes": positive_int,
        "max_header_line_bytes": positive_int,
        "max_header_bytes": positive_int,
        "max_header_count": positive_int,
        "header_timeout": positive_number,
        "body_timeout": positive_number,
        "min_body_rate": positive_int,
        "max_connections": non_negative_int,
        # tokenway's own: CORS for browser clients, off unless set (tokenway.proxy.cors)
        "cors_allow_origins": origin_list,
        "cors_max_age": non_negative_int,
    },
    unsupported={
        "alerting": _NOT_SUPPORTED,
        "enable_jwt_auth": _NOT_SUPPORTED,
        "custom_auth": "not supported: tokenway does not load user code for auth; ignored",
        "allow_client_side_credentials": _NO_CLIENT_CREDENTIALS,
    },
)

ROUTER_SETTINGS = SectionSchema(
    rules={
        "routing_strategy": one_of(ROUTING_STRATEGIES),
        "num_retries": non_negative_int,
        "timeout": positive_number,
        "fallbacks": fallback_list,
        "context_window_fallbacks": fallback_list,
        "content_policy_fallbacks": fallback_list,
        "default_fallbacks": fallback_list,
        "max_wait_for_capacity": non_negative_number,
        "allowed_fails": non_negative_int,
        "cooldown_time": non_negative_number,
        "disable_cooldowns": boolean,
        "redis_host": non_empty_string,
        "redis_port": port,
        "redis_password": string,
        "enable_pre_call_checks": boolean,
        "retry_policy": mapping,
        "allowed_fails_policy": mapping,
        "enable_tag_filtering": boolean,
    },
)

SETTINGS_SCHEMAS: Mapping[str, SectionSchema] = {
    "litellm_settings": LITELLM_SETTINGS,
    "general_settings": GENERAL_SETTINGS,
    "router_settings": ROUTER_SETTINGS,
}

UNSUPPORTED_TOP_LEVEL: Mapping[str, str] = {
    "include": "not supported by tokenway; merge the included files into this one",
}


# --- collecting problems -----------------------------------------------------------


# Stands in for a value whose problem is already reported; every later check skips it.
FAILED: Any = object()


class Report:
    """Problems (each stops start-up) and warnings (each logged once), as "path: message"."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._warnings: dict[str, None] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self._warnings.setdefault(f"{path}: {message}")

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._warnings)


# --- keys and values ---------------------------------------------------------------


def section_mapping(path: str, value: object, report: Report) -> dict[str, Any]:
    """A section's mapping; an absent or empty (null) section is an empty one."""
    if value is None or value is FAILED:
        return {}
    if not isinstance(value, dict):
        report.problem(path, "must be a mapping")
        return {}
    return {str(k): v for k, v in value.items()}


def check_keys(
    section: SectionSchema, path: str, values: dict[str, Any], report: Report
) -> dict[str, Any]:
    """Warn on unknown keys, refuse misplaced security keys, convert typed values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        key_path = f"{path}.{key}"
        if key in SECURITY_KEYS and section is not GENERAL_SETTINGS:
            report.problem(key_path, misplaced(key))
            continue
        if key in section.unsupported:
            report.warn(key_path, section.unsupported[key])
        elif not section.knows(key):
            report.warn(key_path, "unknown key, ignored")
        rule = section.rules.get(key)
        out[key] = _convert(key_path, value, rule, report) if rule else value
    return out


def _convert(path: str, value: object, rule: Rule, report: Report) -> object:
    if value is None or value is FAILED:
        return value
    try:
        return rule(value)
    except ValueError as err:
        report.problem(path, str(err))
        return FAILED


def typed(values: Mapping[str, Any], key: str, kind: type[_T]) -> _T | None:
    """A converted value of the expected type; None when absent or already reported."""
    value = values.get(key)
    return value if isinstance(value, kind) else None


def misplaced(key: str) -> str:
    return (
        f"{key} belongs under general_settings; here it would be ignored and {SECURITY_KEYS[key]}"
    )
