"""Prometheus metrics under LiteLLM's names and labels, so its dashboards read them.

One ``ProxyMetrics`` per app, in a registry of its own. With ``--workers N`` the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker starts: prometheus-client then keeps each
worker's values in a file of that directory, and ``/metrics`` (whichever worker answers)
adds them up (``MultiProcessCollector``).

Label values are bounded: a key appears by its alias and a prefix of its hash, a model
the proxy does not serve as ``"unknown"``, never a request id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tokenway.proxy.observability.record import RequestRecord

# LiteLLM's buckets (seconds), so that its dashboards' quantiles mean the same.
LATENCY_BUCKETS = (
    0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5,
    5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0,
    120.0, 180.0, 240.0, 300.0, float("inf"),
)  # fmt: skip

_CALLER = ("end_user", "hashed_api_key", "api_key_alias")
_TEAM = ("team", "team_alias", "user")
_DEPLOYMENT = ("litellm_model_name", "model_id", "api_base", "api_provider")
_EXCEPTION = ("exception_status", "exception_class")


@dataclass(frozen=True, slots=True)
class DeploymentLabels:
    """What a deployment id stands for in the deployment metrics."""

    model: str  # litellm_model_name: provider/upstream-id as configured
    api_base: str
    provider: str


class ProxyMetrics:
    def __init__(self, deployments: Mapping[str, DeploymentLabels], served: Iterable[str]) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self._own = CollectorRegistry(auto_describe=True)
        if self.multiprocess:  # exposed from the directory, not from this registry
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            self.registry = self._own
        self._deployments = deployments
        self._served = frozenset(served)
        self._define()

    def _define(self) -> None:
        r = self._own
        requested = ("requested_model",)
        model = ("model",)
        self.total_requests = Counter(
            "litellm_proxy_total_requests_metric", "Requests to the proxy, by status code",
            [*_CALLER, *requested, *_TEAM, "status_code"], registry=r,
        )  # fmt: skip
        self.failed_requests = Counter(
            "litellm_proxy_failed_requests_metric", "Requests that ended in an error",
            [*_CALLER, *requested, *_TEAM, *_EXCEPTION], registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "litellm_requests_metric", "Successful requests, by model",
            [*_CALLER, *model, *_TEAM], registry=r,
        )  # fmt: skip
        self.spend = Counter(
            "litellm_spend_metric", "Spend (USD)", [*_CALLER, *model, *_TEAM], registry=r
        )
        token_labels = [*_CALLER, *model, *_TEAM, *requested]
        self.input_tokens = Counter(
            "litellm_input_tokens_metric", "Prompt tokens", token_labels, registry=r
        )
        self.output_tokens = Counter(
            "litellm_output_tokens_metric", "Completion tokens", token_labels, registry=r
        )
        self.total_tokens = Counter(
            "litellm_total_tokens_metric", "Prompt and completion tokens", token_labels,
            registry=r,
        )  # fmt: skip
        self.total_latency = Histogram(
            "litellm_request_total_latency_metric", "A request's time in the proxy (seconds)",
            [*_CALLER, *requested, *_TEAM, *model], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.api_latency = Histogram(
            "litellm_llm_api_latency_metric", "Time waiting on the upstream (seconds)",
            [*model, "hashed_api_key", "api_key_alias", "team", "team_alias", *requested,
             "end_user", "user"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.first_token = Histogram(
            "litellm_llm_api_time_to_first_token_metric",
            "A stream's time to its first bytes (seconds)",
            [*model, "hashed_api_key", "api_key_alias", "team", "team_alias"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._define_deployments(r)

    def _define_deployments(self, r: CollectorRegistry) -> None:
        by_caller = [*_DEPLOYMENT, "requested_model", "hashed_api_key", "api_key_alias"]
        by_caller += ["team", "team_alias"]
        self.deployment_success = Counter(
            "litellm_deployment_success_responses", "Answers per deployment", by_caller,
            registry=r,
        )  # fmt: skip
        self.deployment_failure = Counter(
            "litellm_deployment_failure_responses", "Failures per deployment",
            [*by_caller, *_EXCEPTION], registry=r,
        )  # fmt: skip
        self.deployment_total = Counter(
            "litellm_deployment_total_requests", "Requests per deployment", by_caller,
            registry=r,
        )  # fmt: skip
        self.deployment_state = Gauge(
            "litellm_deployment_state",
            "0 healthy, 1 partial outage (its last request failed), 2 outage",
            _DEPLOYMENT, registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        fallback_labels = ["requested_model", "fallback_model", "hashed_api_key"]
        fallback_labels += ["api_key_alias", "team", "team_alias", *_EXCEPTION]
        self.fallbacks_ok = Counter(
            "litellm_deployment_successful_fallbacks", "Requests a fallback answered",
            fallback_labels, registry=r,
        )  # fmt: skip
        self.fallbacks_failed = Counter(
            "litellm_deployment_failed_fallbacks", "Requests that failed after falling back",
            fallback_labels, registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "tokenway_request_retries", "Retries the router made", ["requested_model"],
            registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "tokenway_in_flight_requests", "Model requests being served",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request."""
        row = record.row
        alias = row.model_alias
        if alias not in self._served and row.deployment is None:
            alias = "unknown"  # the client's text; nothing served answered to it
        key, key_alias = record.key, record.key_alias or ""
        team, team_alias, user = row.team_id or "", record.team_alias or "", row.user_id or ""
        model = record.upstream_model or alias
        status = row.status
        caller = ("", key, key_alias)
        self.total_requests.labels(*caller, alias, team, team_alias, user, str(status)).inc()
        seconds = row.latency_ms / 1000
        self.total_latency.labels(*caller, alias, team, team_alias, user, model).observe(seconds)
        failed = status >= 400
        exception = (str(status), row.error_code or "error") if failed else ("", "")
        if failed:
            self.failed_requests.labels(*caller, alias, team, team_alias, user, *exception).inc()
        else:
            by_model = (*caller, model, team, team_alias, user)
            self.requests.labels(*by_model).inc()
            if row.cost:
                self.spend.labels(*by_model).inc(row.cost)
        if row.prompt_tokens or row.completion_tokens:
            tokens = (*caller, model, team, team_alias, user, alias)
            self.input_tokens.labels(*tokens).inc(row.prompt_tokens)
            self.output_tokens.labels(*tokens).inc(row.completion_tokens)
            self.total_tokens.labels(*tokens).inc(row.prompt_tokens + row.completion_tokens)
        if record.retries:
            self.retries.labels(alias).inc(record.retries)
        if row.deployment is not None:
            self._observe_deployment(record, alias, exception)

    def _observe_deployment(
        self, record: RequestRecord, alias: str, exception: tuple[str, str]
    ) -> None:
        row = record.row
        deployment_id = row.deployment or ""
        known = self._deployments.get(deployment_id)
        if known is None:
            return
        key, key_alias = record.key, record.key_alias or ""
        team, team_alias = row.team_id or "", record.team_alias or ""
        where = (known.model, deployment_id, known.api_base, known.provider)
        by_caller = (*where, alias, key, key_alias, team, team_alias)
        self.deployment_total.labels(*by_caller).inc()
        failed = row.status >= 400
        if failed:
            self.deployment_failure.labels(*by_caller, *exception).inc()
        else:
            self.deployment_success.labels(*by_caller).inc()
            model = record.upstream_model or known.model
            seconds = record.upstream_ms / 1000
            self.api_latency.labels(
                model, key, key_alias, team, team_alias, alias, "", row.user_id or ""
            ).observe(seconds)
            if record.first_byte_ms is not None:
                first = record.first_byte_ms / 1000
                self.first_token.labels(model, key, key_alias, team, team_alias).observe(first)
        if row.status >= 500 or row.status == 429 or not failed:
            self.deployment_state.labels(*where).set(1 if failed else 0)
        if record.fallbacks:
            fallback = (alias, known.model, key, key_alias, team, team_alias, *exception)
            (self.fallbacks_failed if failed else self.fallbacks_ok).labels(*fallback).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
