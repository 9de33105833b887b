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
from urllib.parse import urlsplit

from tokenway.http.limits import ServerLimits
from tokenway.proxy.config import schema
from tokenway.proxy.config.deployments import DeploymentConfig, parse_deployments
from tokenway.proxy.config.settings import (
    PROXY_TIMEOUT,
    CorsSettings,
    HealthSettings,
    ObservabilitySettings,
    RedisSettings,
    SpendSettings,
)
from tokenway.proxy.config.yaml_file import read_yaml
from tokenway.retry import DEFAULT_NUM_RETRIES
from tokenway.router import RouterSettings

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "ProxyConfig",
    "StartupError",
    "load_config",
    "parse_config",
]

MIB = 1024 * 1024
DEFAULT_MAX_REQUEST_BODY_BYTES = 8 * MIB

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


class StartupError(Exception):
    """The proxy cannot serve this configuration (a deployment without a key, a journal
    that cannot be opened); the message says what to change."""


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything the proxy needs from its config file, resolved and checked."""

    deployments: tuple[DeploymentConfig, ...]
    master_key: str | None = field(repr=False)
    database_url: str | None = field(repr=False)
    drop_params: bool
    request_timeout: float | None
    max_request_body_bytes: int
    server_limits: ServerLimits
    environment_variables: Mapping[str, str] = field(repr=False, hash=False)
    general_settings: Mapping[str, Any] = field(repr=False, hash=False)
    litellm_settings: Mapping[str, Any] = field(repr=False, hash=False)
    router_settings: Mapping[str, Any] = field(repr=False, hash=False)
    router: RouterSettings = field(repr=False, hash=False)
    spend: SpendSettings = field(default_factory=SpendSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    cors: CorsSettings | None = None
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    redis: RedisSettings | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    # general_settings.allowed_routes: the only paths an authenticated request may use
    allowed_routes: frozenset[str] | None = None
    # general_settings.store_model_in_db (or STORE_MODEL_IN_DB=True): /model/new etc. store
    # models in the database, served beside this file's (tokenway.proxy.served)
    store_model_in_db: bool = False

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
        for name in schema.SETTINGS_SECTIONS
    }
    deployments = parse_deployments(data.get("model_list"), merged, report)
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
        request_timeout=_first(
            sections,
            ("router_settings", "timeout"),
            ("litellm_settings", "request_timeout"),
            kind=float,
        ),
        max_request_body_bytes=_max_request_body_bytes(general),
        server_limits=_server_limits(general),
        environment_variables=MappingProxyType(env_vars),
        general_settings=MappingProxyType(general),
        litellm_settings=MappingProxyType(sections["litellm_settings"]),
        router_settings=MappingProxyType(sections["router_settings"]),
        router=_router(sections, num_retries, report),
        spend=SpendSettings.of(general),
        health=HealthSettings.of(general),
        cors=CorsSettings.of(general),
        observability=_observability(sections["litellm_settings"], env, report),
        redis=RedisSettings.of(sections["router_settings"], env),
        warnings=report.warnings,
        allowed_routes=_allowed_routes(general, report),
        store_model_in_db=bool(general.get("store_model_in_db"))
        or env.get("STORE_MODEL_IN_DB", "").strip().lower() in ("1", "true", "yes", "on"),
    )


def _observability(
    litellm: Mapping[str, Any], env: Mapping[str, str], report: schema.Report
) -> ObservabilitySettings:
    settings = ObservabilitySettings.of(litellm, env)
    for name in settings.unsupported_callbacks:  # "callbacks.langfuse"
        report.warn(
            f"litellm_settings.{name}",
            "this callback is not supported by tokenway; nothing is sent to it "
            "(supported: prometheus, otel)",
        )
    if settings.otel:
        _check_otlp(settings, report)
    return settings


def _check_otlp(settings: ObservabilitySettings, report: schema.Report) -> None:
    url = urlsplit(settings.otlp_traces_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        report.problem(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            f"must be an http:// or https:// URL, not {settings.otlp_traces_url!r}",
        )
    if settings.otlp_protocol != "http/json":
        report.warn(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            f"{settings.otlp_protocol!r} is not supported: tokenway sends OTLP/HTTP with JSON "
            "bodies (http/json), which OTLP/HTTP collectors accept on the same path",
        )


def _router(
    sections: Mapping[str, dict[str, Any]], num_retries: int | None, report: schema.Report
) -> RouterSettings:
    if report.problems:  # a value already refused (an unset variable, say) is not read
        return RouterSettings()
    timeout = _first(
        sections,
        ("router_settings", "timeout"),
        ("litellm_settings", "request_timeout"),
        kind=float,
    )
    try:
        return RouterSettings.from_litellm(
            sections["router_settings"],
            sections["litellm_settings"],
            num_retries=DEFAULT_NUM_RETRIES if num_retries is None else num_retries,
            timeout=timeout or PROXY_TIMEOUT,
        )
    except ValueError as err:
        report.problem("router_settings", str(err))
        return RouterSettings()


def _check_top_level(data: dict[Any, Any], report: schema.Report) -> None:
    """Refuse, warn about or accept each top-level key; its value is read elsewhere."""
    for key in data:
        name = str(key)
        known = schema.TOP_LEVEL.get(name)
        if name in schema.SECURITY_KEYS:
            report.problem(name, schema.misplaced(name))
        elif known is None:
            report.warn(name, "unknown key, ignored")
        elif known.status == "refused":
            report.problem(name, f"not supported: {known.note}")
        elif known.status == "ignored":
            report.warn(name, f"ignored: {known.note}")


def _settings_section(
    name: str, raw: object, env: Mapping[str, str], report: schema.Report
) -> dict[str, Any]:
    values = schema.section_mapping(name, raw, report)
    return schema.check_keys(schema.SETTINGS_SECTIONS[name], name, values, report, env)


# --- os.environ/ references --------------------------------------------------------


def _environment_variables(
    raw: object, env: Mapping[str, str], report: schema.Report
) -> dict[str, str]:
    """The ``environment_variables`` map, its own ``os.environ/`` references resolved."""
    out: dict[str, str] = {}
    for name, value in schema.section_mapping("environment_variables", raw, report).items():
        path = f"environment_variables.{name}"
        value = schema.resolve(value, path, env, report)
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        elif value is not schema.FAILED:
            report.problem(path, "must be a string, number or boolean")
    return out


def _first(
    sections: Mapping[str, Mapping[str, Any]], *where: tuple[str, str], kind: type[_T]
) -> _T | None:
    """The first of several places a setting may live (router_settings wins, as in LiteLLM)."""
    for section, key in where:
        value = schema.typed(sections[section], key, kind)
        if value is not None:
            return value
    return None


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


def _allowed_routes(general: Mapping[str, Any], report: schema.Report) -> frozenset[str] | None:
    """LiteLLM's meaning: an exact-match list of paths; route groups are not expanded."""
    routes = schema.typed(general, "allowed_routes", list)
    if routes is None:
        return None
    for index, route in enumerate(routes):
        if not route.startswith("/"):
            report.warn(
                f"general_settings.allowed_routes[{index}]",
                "is not a path, so it allows nothing (entries are exact paths such as "
                "/v1/chat/completions; route groups are not expanded)",
            )
    return frozenset(routes)


def _max_request_body_bytes(general: Mapping[str, Any]) -> int:
    megabytes = schema.typed(general, "max_request_size_mb", float)
    return int(megabytes * MIB) if megabytes is not None else DEFAULT_MAX_REQUEST_BODY_BYTES


def _server_limits(general: Mapping[str, Any]) -> ServerLimits:
    """The HTTP server's limits: each may be set under general_settings (already checked
    by the schema's rules); the rest keep their defaults."""
    d = ServerLimits()

    def count(name: str, default: int) -> int:
        value = schema.typed(general, name, int)
        return default if value is None else value

    def seconds(name: str, default: float) -> float:
        value = schema.typed(general, name, float)
        return default if value is None else value

    return ServerLimits(
        max_request_line_bytes=count("max_request_line_bytes", d.max_request_line_bytes),
        max_header_line_bytes=count("max_header_line_bytes", d.max_header_line_bytes),
        max_header_bytes=count("max_header_bytes", d.max_header_bytes),
        max_header_count=count("max_header_count", d.max_header_count),
        header_timeout=seconds("header_timeout", d.header_timeout),
        body_timeout=seconds("body_timeout", d.body_timeout),
        min_body_rate=count("min_body_rate", d.min_body_rate),
        max_connections=count("max_connections", d.max_connections),
    )
