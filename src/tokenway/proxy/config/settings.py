"""Typed settings: what each part of the proxy reads of the config, by its own names.

The loader (``tokenway.proxy.config.loader``) makes these from the checked sections
once; the store services, the health checker, CORS and the router take them, and no
module past the config reads a LiteLLM key name out of a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

# Timeouts when the config sets none (why these: ``tokenway.proxy.models``).
PROXY_TIMEOUT = 300.0  # seconds for a whole call, retries included
STREAM_IDLE_TIMEOUT = 60.0  # seconds a stream may stay silent
DEFAULT_HEALTH_CHECK_INTERVAL = 300.0  # seconds, as LiteLLM
DEFAULT_CORS_MAX_AGE = 600  # seconds a browser may keep a preflight's answer
DEFAULT_JOURNAL_DIR = "tokenway-journal"


@dataclass(frozen=True, slots=True)
class SpendSettings:
    """The store, the spend rows and their journal."""

    store_payload: bool = False  # store_prompts_in_spend_logs
    spend_logs: bool = True  # not disable_spend_logs
    journal_dir: str = DEFAULT_JOURNAL_DIR  # spend_journal_dir, under the data directory
    fsync_interval: float | None = None  # spend_journal_fsync_interval
    batch_interval: float = 1.0  # proxy_batch_write_at
    serve_through_outage: bool = False  # allow_requests_on_db_unavailable

    @classmethod
    def of(cls, general: Mapping[str, Any]) -> SpendSettings:
        fsync = general.get("spend_journal_fsync_interval")
        return cls(
            store_payload=bool(general.get("store_prompts_in_spend_logs")),
            spend_logs=not general.get("disable_spend_logs"),
            journal_dir=str(general.get("spend_journal_dir") or DEFAULT_JOURNAL_DIR),
            fsync_interval=float(fsync) if fsync else None,
            batch_interval=float(general.get("proxy_batch_write_at") or 1.0),
            serve_through_outage=bool(general.get("allow_requests_on_db_unavailable")),
        )


@dataclass(frozen=True, slots=True)
class HealthSettings:
    background: bool = False  # background_health_checks
    interval: float = DEFAULT_HEALTH_CHECK_INTERVAL  # health_check_interval

    @classmethod
    def of(cls, general: Mapping[str, Any]) -> HealthSettings:
        interval = general.get("health_check_interval")
        return cls(
            background=bool(general.get("background_health_checks")),
            interval=float(interval) if interval else DEFAULT_HEALTH_CHECK_INTERVAL,
        )


@dataclass(frozen=True, slots=True)
class CorsSettings:
    origins: tuple[str, ...]  # cors_allow_origins: exact origins, or "*"
    max_age: int = DEFAULT_CORS_MAX_AGE  # cors_max_age

    @classmethod
    def of(cls, general: Mapping[str, Any]) -> CorsSettings | None:
        """None when not configured: CORS is off."""
        origins = general.get("cors_allow_origins")
        if not isinstance(origins, list) or not origins:
            return None
        max_age = general.get("cors_max_age")
        return cls(tuple(origins), max_age if isinstance(max_age, int) else DEFAULT_CORS_MAX_AGE)


# The callbacks tokenway serves, by LiteLLM's names; every other name is warned about.
SUPPORTED_CALLBACKS = frozenset({"prometheus", "otel"})
OTLP_DEFAULT_ENDPOINT = "http://localhost:4318"
CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback")


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    """The request log's format, and the metrics endpoint."""

    json_logs: bool = False  # litellm_settings.json_logs, or JSON_LOGS=True
    prometheus: bool = False  # "prometheus" in litellm_settings.callbacks
    metrics_public: bool = False  # require_auth_for_metrics_endpoint: false
    unsupported_callbacks: tuple[str, ...] = ()  # "callbacks.langfuse": named, not served
    otel: bool = False  # "otel" in litellm_settings.callbacks
    otlp_traces_url: str = OTLP_DEFAULT_ENDPOINT + "/v1/traces"  # OTEL_EXPORTER_OTLP_*
    otlp_headers: tuple[tuple[str, str], ...] = ()  # OTEL_EXPORTER_OTLP_HEADERS
    otlp_protocol: str = "http/json"  # as asked (OTEL_EXPORTER_OTLP_PROTOCOL); JSON is sent
    service_name: str = "tokenway"  # OTEL_SERVICE_NAME

    @classmethod
    def of(cls, litellm: Mapping[str, Any], env: Mapping[str, str]) -> ObservabilitySettings:
        named: dict[str, str] = {}  # callback name -> the first key naming it
        for key in CALLBACK_KEYS:
            value = litellm.get(key)
            for name in value if isinstance(value, list) else ():
                named.setdefault(str(name), key)
        json_env = env.get("JSON_LOGS", "").strip().lower() in ("1", "true", "yes", "on")
        return cls(
            json_logs=bool(litellm.get("json_logs")) or json_env,
            prometheus="prometheus" in named,
            metrics_public=litellm.get("require_auth_for_metrics_endpoint") is False,
            unsupported_callbacks=tuple(
                f"{key}.{name}" for name, key in named.items() if name not in SUPPORTED_CALLBACKS
            ),
            otel="otel" in named,
            otlp_traces_url=_otlp_traces_url(env),
            otlp_headers=_otlp_headers(env),
            otlp_protocol=(
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/json"
            ).strip(),
            service_name=env.get("OTEL_SERVICE_NAME") or "tokenway",
        )


def _otlp_traces_url(env: Mapping[str, str]) -> str:
    """The OpenTelemetry SDK's rule: the traces URL as given, else the base + /v1/traces."""
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or OTLP_DEFAULT_ENDPOINT
    return base.rstrip("/") + "/v1/traces"


def _otlp_headers(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``key=value,key2=value2``, URL-encoded values (OTEL_EXPORTER_OTLP_HEADERS)."""
    raw = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS")
    pairs = []
    for item in (raw or "").split(","):
        name, eq, value = item.partition("=")
        if eq and name.strip():
            pairs.append((name.strip().lower(), unquote(value.strip())))
    return tuple(pairs)


DEFAULT_REDIS_PREFIX = "tokenway:"
# router_settings.redis_outage: count per process meanwhile (the default), or refuse (503)
REDIS_OUTAGE_CHOICES = ("per_process", "refuse")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The Redis that counts rate limits for every process, as LiteLLM configures it:
    ``router_settings.redis_url``, else ``redis_host``/``redis_port``/``redis_password``/
    ``redis_db``, else the ``REDIS_URL``, else ``REDIS_HOST``/``REDIS_PORT``/
    ``REDIS_PASSWORD`` environment variables."""

    url: str = field(repr=False)  # may hold a password
    key_prefix: str = DEFAULT_REDIS_PREFIX  # redis_key_prefix
    refuse_on_outage: bool = False  # redis_outage: "refuse"

    @classmethod
    def of(cls, router: Mapping[str, Any], env: Mapping[str, str]) -> RedisSettings | None:
        """None when no Redis is configured: limits are counted in each process."""
        prefix = str(router.get("redis_key_prefix") or DEFAULT_REDIS_PREFIX)
        url = router.get("redis_url")
        if not url and router.get("redis_host"):
            url = _redis_url(
                str(router["redis_host"]),
                router.get("redis_port"),
                router.get("redis_password"),
                router.get("redis_db"),
            )
        if not url:
            url = env.get("REDIS_URL") or None
        if not url and env.get("REDIS_HOST"):
            url = _redis_url(
                env["REDIS_HOST"], env.get("REDIS_PORT"), env.get("REDIS_PASSWORD"), None
            )
        refuse = router.get("redis_outage") == "refuse"
        return cls(str(url), prefix, refuse) if url else None


def _redis_url(host: str, port: object, password: object, db: object) -> str:
    auth = f":{quote(str(password), safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port or 6379}/{db or 0}"
