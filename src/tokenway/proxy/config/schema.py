"""The checker that applies the key table of :mod:`tokenway.proxy.config.keys`.

A key in no table is not an error: it is reported once as "unknown key, ignored",
because a misspelt key silently ignored is how a LiteLLM deployment once ended up
unauthenticated (BerriAI/litellm-docs#1184). The value rules themselves are in
:mod:`tokenway.proxy.config.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from tokenway.proxy.config.keys import (
    LITELLM_PARAMS,
    MODEL_ENTRY,
    MODEL_INFO,
    SETTINGS_SECTIONS,
    TOP_LEVEL,
    Key,
    Section,
)
from tokenway.proxy.config.rules import Rule

_T = TypeVar("_T")

ENV_REFERENCE = "os.environ/"

# Keys that only mean something under general_settings. Anywhere else they would be
# ignored, so finding one elsewhere stops start-up instead of warning.
SECURITY_KEYS: Mapping[str, str] = {
    "master_key": "leave the proxy unauthenticated",
    "database_url": "leave keys and spend out of that database",
}

# Example keys from LiteLLM's documentation that anyone can guess.
WELL_KNOWN_MASTER_KEYS: frozenset[str] = frozenset({"sk-1234"})

# litellm_params keys that become DeploymentConfig fields; the rest are kept as extras.
DEPLOYMENT_PARAM_KEYS: frozenset[str] = frozenset(
    {
        "model", "api_base", "api_key", "rpm", "tpm", "timeout",
        "input_cost_per_token", "output_cost_per_token",
    }
)  # fmt: skip


# A model_list entry's tables; the settings sections' tables (from config_keys).
SectionSchema = Section
__all__ = ["LITELLM_PARAMS", "MODEL_ENTRY", "MODEL_INFO", "SETTINGS_SECTIONS", "TOP_LEVEL"]


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
    section: Section,
    path: str,
    values: dict[str, Any],
    report: Report,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Apply ``section``'s table to ``values``: refuse, warn, or resolve and convert.

    Only keys whose value tokenway reads (those with a rule, or implemented) are kept and
    have their ``os.environ/`` references resolved; a nested mapping (``litellm_params``)
    is kept as written and resolved by its own table.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        key_path = f"{path}.{name}"
        key = section.get(name)
        if name in SECURITY_KEYS and section is not SETTINGS_SECTIONS["general_settings"]:
            report.problem(key_path, misplaced(name))
        elif key is None:
            report.warn(key_path, "unknown key, ignored")
        elif key.status == "refused":
            report.problem(key_path, f"not supported: {key.note}")
        else:
            if key.status == "ignored":
                report.warn(key_path, f"ignored: {key.note}")
            if key.status == "implemented" or key.rule is not None:
                out[name] = _read(key, key_path, value, report, env)
    return out


def _read(key: Key, path: str, value: object, report: Report, env: Mapping[str, str]) -> object:
    if not key.nested:
        value = resolve(value, path, env, report)
    return _convert(path, value, key.rule, report) if key.rule else value


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


# --- os.environ/ references --------------------------------------------------------


def resolve(value: object, path: str, env: Mapping[str, str], report: Report) -> Any:
    """A copy of ``value`` with every ``os.environ/NAME`` string replaced, at any depth."""
    if isinstance(value, str) and value.startswith(ENV_REFERENCE):
        return _lookup(value.removeprefix(ENV_REFERENCE), path, env, report)
    if isinstance(value, dict):
        return {k: resolve(v, f"{path}.{k}", env, report) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, f"{path}[{i}]", env, report) for i, v in enumerate(value)]
    return value


def _lookup(name: str, path: str, env: Mapping[str, str], report: Report) -> object:
    if not name:
        report.problem(path, "'os.environ/' needs a variable name after the slash")
        return FAILED
    if name not in env:
        report.problem(
            path,
            f"environment variable {name} is not set "
            "(export it, or define it under environment_variables)",
        )
        return FAILED
    return env[name]
