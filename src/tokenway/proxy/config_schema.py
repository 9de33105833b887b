"""What a LiteLLM-style config.yaml may contain, and the checker that applies it.

Key names come from LiteLLM's config reference
(https://docs.litellm.ai/docs/proxy/config_settings). A key not listed here is not an
error: it is reported once as "unknown key, ignored", because a misspelt key silently
ignored is how a LiteLLM deployment once ended up unauthenticated
(BerriAI/litellm-docs#1184).

Each rule turns a raw YAML value into the typed value tokenway uses, or raises
``ValueError`` with a message that says what is expected. Messages never repeat a
string value: it may have come from an ``os.environ/`` reference and be a secret.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tokenway.providers.base import OPENAI_CHAT_PARAMS

Rule = Callable[[object], object]
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


# --- value rules -------------------------------------------------------------------


def _describe(value: object) -> str:
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _number(value: object, expected: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"must be {expected} (got text that is not a number)") from None
    else:
        raise ValueError(f"must be {expected} (got {_describe(value)})")
    if not math.isfinite(number):
        raise ValueError(f"must be {expected} (got a value that is not finite)")
    return number


def _numeric(expected: str, accept: Callable[[float], bool], *, integer: bool = False) -> Rule:
    """A rule for numbers; numbers written as strings ("500", "3e-08") are accepted too."""

    def convert(value: object) -> float | int:
        number = _number(value, expected)
        if (integer and not number.is_integer()) or not accept(number):
            shown = "a string, not shown" if isinstance(value, str) else f"{number:g}"
            raise ValueError(f"must be {expected} (got {shown})")
        return int(number) if integer else number

    return convert


positive_int = _numeric("a positive integer", lambda n: n > 0, integer=True)
non_negative_int = _numeric("an integer of 0 or more", lambda n: n >= 0, integer=True)
positive_number = _numeric("a number greater than 0", lambda n: n > 0)
non_negative_number = _numeric("a number of 0 or more", lambda n: n >= 0)
port = _numeric("a port number (1-65535)", lambda n: 1 <= n <= 65535, integer=True)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"must be true or false (got {_describe(value)})")


def string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {_describe(value)})")
    return value


def non_empty_string(value: object) -> str:
    text = string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def identifier(value: object) -> str:
    """A deployment id: YAML may read ``id: 1`` as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return non_empty_string(value)


def http_url(value: object) -> str:
    text = non_empty_string(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return text


def string_list(value: object) -> list[str]:
    """A list of names; a single name is taken as a list of one."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of names (got {_describe(value)})")
    return list(value)


def string_mapping(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"must be a mapping of names to strings (got {_describe(value)})")
    return {str(k): v for k, v in value.items()}


def mapping(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping (got {_describe(value)})")
    return {str(k): v for k, v in value.items()}


def fallback_list(value: object) -> list[object]:
    """``[{"alias": ["other", ...]}, ...]``; ``default_fallbacks`` is a plain list of names."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list (got {_describe(value)})")
    for item in value:
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or not all(
            isinstance(targets, str | list) for targets in item.values()
        ):
            raise ValueError("must be a list of {model_name: [fallback model_name, ...]} entries")
    return list(value)


def one_of(choices: tuple[str, ...]) -> Rule:
    def convert(value: object) -> str:
        if isinstance(value, str) and value in choices:
            return value
        close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"must be one of: {', '.join(choices)}{hint}")

    return convert


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
