"""Loads a LiteLLM-style ``config.yaml`` into a validated, typed ``ProxyConfig``.

The file format is LiteLLM's (https://docs.litellm.ai/docs/proxy/config_settings), so
configs written for LiteLLM load unchanged. Unlike LiteLLM, a config that cannot work
stops start-up: every problem found is collected and raised together as one
``ConfigError``, each naming the path of the offending value. Unknown keys only warn.

Secrets never appear in errors, warnings or reprs: a value is named by its path or by
the environment variable it came from, never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from tokenway.errors import UnknownProviderError
from tokenway.providers.base import ProviderSpec
from tokenway.providers.registry import known_providers, split_model
from tokenway.proxy import config_schema as schema
from tokenway.proxy.config_yaml import read_yaml

__all__ = ["ConfigError", "DeploymentConfig", "ProxyConfig", "load_config", "parse_config"]

MIB = 1024 * 1024
DEFAULT_MAX_REQUEST_BODY_BYTES = 8 * MIB
DEFAULT_NUM_RETRIES = 2  # LiteLLM's DEFAULT_MAX_RETRIES
ENV_REFERENCE = "os.environ/"

_T = TypeVar("_T")


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason, one per path."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems: list[str] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = "".join(f"\n  - {problem}" for problem in self.problems)
        return f"invalid config {self.source}:{lines}"


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    """One ``model_list`` entry: a public alias served by one upstream model."""

    model_name: str
    model: str
    provider: ProviderSpec = field(repr=False)  # its name is the prefix of `model`
    upstream_model: str
    api_base: str | None
    api_key: str | None = field(repr=False)
    rpm: int | None
    tpm: int | None
    timeout: float | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    model_info: Mapping[str, Any] = field(hash=False)
    extra_litellm_params: Mapping[str, Any] = field(repr=False, hash=False)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything the proxy needs from its config file, resolved and checked."""

    deployments: tuple[DeploymentConfig, ...]
    master_key: str | None = field(repr=False)
    database_url: str | None = field(repr=False)
    drop_params: bool
    num_retries: int
    request_timeout: float | None
    max_request_body_bytes: int
    environment_variables: Mapping[str, str] = field(repr=False, hash=False)
    general_settings: Mapping[str, Any] = field(repr=False, hash=False)
    litellm_settings: Mapping[str, Any] = field(repr=False, hash=False)
    router_settings: Mapping[str, Any] = field(repr=False, hash=False)
    warnings: tuple[str, ...] = ()

    def model_names(self) -> list[str]:
        """Distinct public aliases, in config order."""
        return list(dict.fromkeys(d.model_name for d in self.deployments))


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ProxyConfig:
    """Read and validate a config file; ``env`` defaults to ``os.environ``."""
    source = os.fspath(path)
    report = schema.Report()
    data = read_yaml(Path(source), report)
    if data is schema.FAILED:
        raise ConfigError(source, report.problems)
    return _build(data, os.environ if env is None else env, source, report)


def parse_config(data: object, env: Mapping[str, str], source: str = "<config>") -> ProxyConfig:
    """Validate an already-parsed config (the object ``yaml.safe_load`` returns)."""
    return _build(data, env, source, schema.Report())


# --- the whole file ----------------------------------------------------------------


def _build(data: object, env: Mapping[str, str], source: str, report: schema.Report) -> ProxyConfig:
    config = _parse(data, env, report)
    if config is None or report.problems:
        raise ConfigError(source, report.problems)
    return config


def _parse(data: object, env: Mapping[str, str], report: schema.Report) -> ProxyConfig | None:
    if not isinstance(data, dict):
        empty = "; the file is empty" if data is None else ""
        report.problem("<top level>", f"must be a mapping with a model_list section{empty}")
        return None
    _check_top_level(data, report)
    env_vars = _environment_variables(data.get("environment_variables"), env, report)
    merged = {**env, **env_vars}
    sections = {
        name: _settings_section(name, data.get(name), merged, report)
        for name in schema.SETTINGS_SCHEMAS
    }
    models = _resolve(data.get("model_list"), "model_list", merged, report)
    deployments = _deployments(models, merged, report)
    config = _proxy_config(tuple(deployments), sections, env_vars, merged, report)
    return None if report.problems else config


def _proxy_config(
    deployments: tuple[DeploymentConfig, ...],
    sections: Mapping[str, dict[str, Any]],
    env_vars: dict[str, str],
    env: Mapping[str, str],
    report: schema.Report,
) -> ProxyConfig:
    general = sections["general_settings"]
    num_retries = _first(
        sections, ("router_settings", "num_retries"), ("litellm_settings", "num_retries"), kind=int
    )
    return ProxyConfig(
        deployments=deployments,
        master_key=_master_key(general, env, report),
        database_url=schema.typed(general, "database_url", str) or env.get("DATABASE_URL") or None,
        drop_params=_drop_params(sections["litellm_settings"], env),
        num_retries=DEFAULT_NUM_RETRIES if num_retries is None else num_retries,
        request_timeout=_first(
            sections,
            ("router_settings", "timeout"),
            ("litellm_settings", "request_timeout"),
            kind=float,
        ),
        max_request_body_bytes=_max_request_body_bytes(general),
        environment_variables=MappingProxyType(env_vars),
        general_settings=MappingProxyType(general),
        litellm_settings=MappingProxyType(sections["litellm_settings"]),
        router_settings=MappingProxyType(sections["router_settings"]),
        warnings=report.warnings,
    )


def _check_top_level(data: dict[Any, Any], report: schema.Report) -> None:
    for key in data:
        name = str(key)
        if name in schema.SECURITY_KEYS:
            report.problem(name, schema.misplaced(name))
        elif name in schema.UNSUPPORTED_TOP_LEVEL:
            report.warn(name, schema.UNSUPPORTED_TOP_LEVEL[name])
        elif name not in schema.SECTION_NAMES:
            report.warn(name, "unknown key, ignored")


def _section(path: str, value: object, report: schema.Report) -> dict[str, Any]:
    """A section's mapping; an absent or empty (null) section is an empty one."""
    if value is None or value is schema.FAILED:
        return {}
    if not isinstance(value, dict):
        report.problem(path, "must be a mapping")
        return {}
    return {str(k): v for k, v in value.items()}


def _settings_section(
    name: str, raw: object, env: Mapping[str, str], report: schema.Report
) -> dict[str, Any]:
    resolved = _resolve(_section(name, raw, report), name, env, report)
    return schema.check_keys(schema.SETTINGS_SCHEMAS[name], name, resolved, report)


# --- os.environ/ references --------------------------------------------------------


def _environment_variables(
    raw: object, env: Mapping[str, str], report: schema.Report
) -> dict[str, str]:
    """The ``environment_variables`` map, its own ``os.environ/`` references resolved."""
    out: dict[str, str] = {}
    for name, value in _section("environment_variables", raw, report).items():
        path = f"environment_variables.{name}"
        value = _resolve(value, path, env, report)
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        elif value is not schema.FAILED:
            report.problem(path, "must be a string, number or boolean")
    return out


def _resolve(value: object, path: str, env: Mapping[str, str], report: schema.Report) -> Any:
    """A copy of ``value`` with every ``os.environ/NAME`` string replaced, at any depth."""
    if isinstance(value, str) and value.startswith(ENV_REFERENCE):
        return _lookup(value.removeprefix(ENV_REFERENCE), path, env, report)
    if isinstance(value, dict):
        return {k: _resolve(v, f"{path}.{k}", env, report) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, f"{path}[{i}]", env, report) for i, v in enumerate(value)]
    return value


def _lookup(name: str, path: str, env: Mapping[str, str], report: schema.Report) -> object:
    if not name:
        report.problem(path, "'os.environ/' needs a variable name after the slash")
        return schema.FAILED
    if name not in env:
        report.problem(
            path,
            f"environment variable {name} is not set "
            "(export it, or define it under environment_variables)",
        )
        return schema.FAILED
    return env[name]


def _first(
    sections: Mapping[str, Mapping[str, Any]], *where: tuple[str, str], kind: type[_T]
) -> _T | None:
    """The first of several places a setting may live (router_settings wins, as in LiteLLM)."""
    for section, key in where:
        value = schema.typed(sections[section], key, kind)
        if value is not None:
            return value
    return None


# --- model_list --------------------------------------------------------------------


def _deployments(
    models: object, env: Mapping[str, str], report: schema.Report
) -> list[DeploymentConfig]:
    if not isinstance(models, list) or not models:
        report.problem("model_list", "must be a list with at least one model")
        return []
    deployments: list[DeploymentConfig] = []
    seen_ids: dict[str, str] = {}
    for index, entry in enumerate(models):
        deployment = _deployment(index, entry, env, report)
        if deployment is None:
            continue
        model_id = str(deployment.model_info["id"])
        if model_id in seen_ids:
            report.problem(
                f"model_list[{index}].model_info.id",
                f"'{model_id}' is already the id of {seen_ids[model_id]}; ids must be unique",
            )
        seen_ids[model_id] = f"model_list[{index}]"
        deployments.append(deployment)
    return deployments


def _deployment(
    index: int, entry: object, env: Mapping[str, str], report: schema.Report
) -> DeploymentConfig | None:
    path = f"model_list[{index}]"
    if not isinstance(entry, dict):
        report.problem(path, "must be a mapping with model_name and litellm_params")
        return None
    before = len(report.problems)
    values = schema.check_keys(schema.MODEL_ENTRY, path, _section(path, entry, report), report)
    name = _required(values, "model_name", path, report, "the alias clients send as model")
    params = _nested(values, "litellm_params", schema.LITELLM_PARAMS, path, report)
    info = _nested(values, "model_info", schema.MODEL_INFO, path, report) or {}
    provider = None if params is None else _provider(f"{path}.litellm_params", params, report)
    if params is not None and provider is not None:
        _check_upstream_access(f"{path}.litellm_params", provider[0], params, env, report)
    if len(report.problems) > before or name is None or params is None or provider is None:
        return None
    return _make_deployment(index, name, provider, params, info)


def _nested(
    values: Mapping[str, Any],
    key: str,
    section: schema.SectionSchema,
    path: str,
    report: schema.Report,
) -> dict[str, Any] | None:
    """``litellm_params`` or ``model_info`` of one entry, checked; None if absent or invalid."""
    nested = values.get(key)
    if key == "litellm_params" and nested is None:
        report.problem(f"{path}.{key}", "missing; add litellm_params with a model")
    if not isinstance(nested, dict):
        return None
    return schema.check_keys(section, f"{path}.{key}", nested, report)


def _required(
    values: Mapping[str, Any], key: str, path: str, report: schema.Report, meaning: str
) -> str | None:
    if values.get(key) is None:
        report.problem(f"{path}.{key}", f"missing; set it to {meaning}")
    return schema.typed(values, key, str)


def _provider(
    path: str, params: Mapping[str, Any], report: schema.Report
) -> tuple[ProviderSpec, str] | None:
    model = schema.typed(params, "model", str)
    if model is None:
        if params.get("model") is None:
            report.problem(
                f"{path}.model",
                "missing; write it as '<provider>/<model id>' with one of: "
                + ", ".join(known_providers()),
            )
        return None
    try:
        return split_model(model)
    except UnknownProviderError as err:
        report.problem(f"{path}.model", err.message)
        return None


def _check_upstream_access(
    path: str,
    spec: ProviderSpec,
    params: Mapping[str, Any],
    env: Mapping[str, str],
    report: schema.Report,
) -> None:
    if spec.api_base is None and params.get("api_base") is None:
        report.problem(
            f"{path}.api_base",
            f"provider '{spec.name}' needs api_base (the upstream's URL, e.g. http://host:8000/v1)",
        )
    if spec.key_required and params.get("api_key") is None:
        var = spec.api_key_env
        if var is None or not env.get(var):
            where = f"neither is {var}" if var else "the provider names no key variable"
            report.warn(
                f"{path}.api_key",
                f"not set, and {where}; the upstream will reject calls to this deployment",
            )


def _make_deployment(
    index: int,
    name: str,
    provider: tuple[ProviderSpec, str],
    params: Mapping[str, Any],
    info: Mapping[str, Any],
) -> DeploymentConfig:
    model_info = {k: v for k, v in info.items() if v is not None}
    model_info.setdefault("id", f"{name}-{index}")
    extras = {k: v for k, v in params.items() if k not in schema.DEPLOYMENT_PARAM_KEYS}
    return DeploymentConfig(
        model_name=name,
        model=params["model"],
        provider=provider[0],
        upstream_model=provider[1],
        api_base=schema.typed(params, "api_base", str),
        api_key=schema.typed(params, "api_key", str),
        rpm=schema.typed(params, "rpm", int),
        tpm=schema.typed(params, "tpm", int),
        timeout=schema.typed(params, "timeout", float),
        # A price in litellm_params wins; model_info carries it in LiteLLM's other form.
        input_cost_per_token=_cost(params, info, "input_cost_per_token"),
        output_cost_per_token=_cost(params, info, "output_cost_per_token"),
        model_info=MappingProxyType(model_info),
        extra_litellm_params=MappingProxyType(extras),
    )


def _cost(params: Mapping[str, Any], info: Mapping[str, Any], key: str) -> float | None:
    value = schema.typed(params, key, float)
    return value if value is not None else schema.typed(info, key, float)


# --- settings ----------------------------------------------------------------------


def _master_key(
    general: Mapping[str, Any], env: Mapping[str, str], report: schema.Report
) -> str | None:
    key = schema.typed(general, "master_key", str)
    if key is None and "LITELLM_MASTER_KEY" in env:
        key = env["LITELLM_MASTER_KEY"]
        if not key.strip():
            report.problem(
                "general_settings.master_key",
                "not set in the file and LITELLM_MASTER_KEY is empty; set a key or unset it",
            )
    if key in schema.WELL_KNOWN_MASTER_KEYS:
        report.warn(
            "general_settings.master_key",
            "is the example key from LiteLLM's documentation; anyone can guess it",
        )
    return key or None


def _drop_params(settings: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    value = schema.typed(settings, "drop_params", bool)
    if value is not None:
        return value
    return env.get("LITELLM_DROP_PARAMS", "").strip().lower() in ("true", "1")


def _max_request_body_bytes(general: Mapping[str, Any]) -> int:
    megabytes = schema.typed(general, "max_request_size_mb", float)
    return int(megabytes * MIB) if megabytes is not None else DEFAULT_MAX_REQUEST_BODY_BYTES
