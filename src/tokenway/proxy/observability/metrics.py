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
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tokenway.proxy.observability.gauges import PARTIAL_OUTAGE, StateGauges
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
MAX_OUTCOMES = 10_000  # distinct label-value sets kept bound; past it the cache restarts


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
        self._series: dict[tuple[object, ...], _Series] = {}
        self._dirty: set[_Series] = set()
        self.in_flight_now = 0  # set on the gauge at each flush
        self._define()
        where = {d: (k.model, d, k.api_base, k.provider) for d, k in deployments.items()}
        self.state = StateGauges(self._own, where)

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
        """Count one finished request, in plain numbers: the outcome's label values are
        bound once (``_bind``), and ``flush`` hands the sums to prometheus-client."""
        # the fields by unpacking, one step (``_plain_line`` does the same)
        (row, _, _, _, key_alias, team_alias, upstream_model, retries, fallbacks, upstream_ms,
         first_byte_ms) = record  # fmt: skip
        (_, key_hash, _, _, model, deployment, prompt, completion, cost, latency_ms, status,
         error, _, _, _, _, _, _, _, _) = row  # fmt: skip
        # The key's hash stands for its team and user (a key belongs to one of each).
        outcome = (key_hash, key_alias, team_alias, model, upstream_model, status, error,
                   deployment)  # fmt: skip
        series = self._series.get(outcome)
        if series is None:
            if len(self._series) >= MAX_OUTCOMES:  # bounded: label children stay registered
                self.flush()
                self._series.clear()
            series = self._series[outcome] = self._bind(record)
        self._dirty.add(series)
        counts = series.counts
        counts[TOTAL] += 1
        if cost:
            counts[SPEND] += cost
        counts[INPUT] += prompt
        counts[OUTPUT] += completion
        if retries or fallbacks:
            counts[RETRIES] += retries
            counts[FALLBACKS] += fallbacks
        # in milliseconds against bounds in milliseconds: the sums become seconds at flush
        buckets, sums = series.buckets, series.sums
        buckets[LATENCY][bisect_left(_BOUNDS_MS, latency_ms)] += 1
        sums[LATENCY] += latency_ms
        if series.deployment is not None and status < 400:
            buckets[API][bisect_left(_BOUNDS_MS, upstream_ms)] += 1
            sums[API] += upstream_ms
            if first_byte_ms is not None:
                buckets[FIRST][bisect_left(_BOUNDS_MS, first_byte_ms)] += 1
                sums[FIRST] += first_byte_ms

    def flush(self) -> None:
        """Hand the sums counted since the last flush to prometheus-client (in a worker of
        ``--workers N``, to its file); ``/metrics`` flushes before it answers."""
        self.in_flight.set(self.in_flight_now)
        dirty, self._dirty = self._dirty, set()
        outcomes = self.state.outcomes
        for series in dirty:
            series.flush()
            if series.state is not None:
                outcomes[series.state[0]] = series.state[1]
        self.state.flush()

    def _bind(self, record: RequestRecord) -> _Series:
        """The children of one outcome's label values."""
        row = record.row
        alias = row.model_alias
        if alias not in self._served and row.deployment is None:
            alias = "unknown"  # the client's text; nothing served answered to it
        key, key_alias = record.key, record.key_alias or ""
        team, team_alias, user = row.team_id or "", record.team_alias or "", row.user_id or ""
        model = record.upstream_model or alias
        caller = ("", key, key_alias)
        failed = row.status >= 400
        exception = (str(row.status), row.error_code or "error") if failed else ("", "")
        by_model = (*caller, model, team, team_alias, user)
        tokens = (*by_model, alias)
        outcome = (
            self.failed_requests.labels(*caller, alias, team, team_alias, user, *exception)
            if failed
            else self.requests.labels(*by_model)
        )
        series = _Series(
            [
                self.total_requests.labels(*caller, alias, team, team_alias, user, str(row.status)),
                outcome,
                self.spend.labels(*by_model),
                self.input_tokens.labels(*tokens),
                self.output_tokens.labels(*tokens),
                self.total_tokens.labels(*tokens),
                self.retries.labels(alias),
            ],
            self.total_latency.labels(*caller, alias, team, team_alias, user, model),
        )
        known = self._deployments.get(row.deployment or "")
        if known is not None:
            self._bind_deployment(series, record, known, alias, exception)
        return series

    def _bind_deployment(
        self,
        series: _Series,
        record: RequestRecord,
        known: DeploymentLabels,
        alias: str,
        exception: tuple[str, str],
    ) -> None:
        row = record.row
        key, key_alias = record.key, record.key_alias or ""
        team, team_alias = row.team_id or "", record.team_alias or ""
        where = (known.model, row.deployment or "", known.api_base, known.provider)
        by_caller = (*where, alias, key, key_alias, team, team_alias)
        failed = row.status >= 400
        if failed:
            outcome = self.deployment_failure.labels(*by_caller, *exception)
        else:
            outcome = self.deployment_success.labels(*by_caller)
        fallback = (alias, known.model, key, key_alias, team, team_alias, *exception)
        fallbacks = (self.fallbacks_failed if failed else self.fallbacks_ok).labels(*fallback)
        series.deployment = (self.deployment_total.labels(*by_caller), outcome, fallbacks)
        model = record.upstream_model or known.model
        api = (model, key, key_alias, team, team_alias, alias, "", row.user_id or "")
        series.histograms[API] = self.api_latency.labels(*api)
        series.histograms[FIRST] = self.first_token.labels(model, key, key_alias, team, team_alias)
        if row.status >= 500 or row.status == 429 or not failed:
            series.state = (row.deployment or "", PARTIAL_OUTAGE if failed else 0)

    def exposition(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)


# What a ``_Series`` counts between two flushes, by index.
TOTAL, SPEND, INPUT, OUTPUT, RETRIES, FALLBACKS = range(6)
LATENCY, API, FIRST = range(3)  # its histograms
_BOUNDS = LATENCY_BUCKETS
_BOUNDS_MS = tuple(bound * 1000 for bound in LATENCY_BUCKETS)


class _Series:
    """One outcome's bound children (prometheus-client's ``labels(...)`` results) and what
    was counted for them since the last flush: numbers added on the request's path, handed
    to the children (whose every call takes a lock, and a file write in a worker) later."""

    __slots__ = ("buckets", "children", "counts", "deployment", "histograms", "state", "sums")

    def __init__(self, children: list[Counter], latency: Histogram) -> None:
        # total, outcome (requests or failed), spend, input, output, total tokens, retries
        self.children = children
        self.counts = [0.0] * 6
        self.histograms: list[Histogram | None] = [latency, None, None]
        self.buckets = [[0] * len(_BOUNDS) for _ in range(3)]
        self.sums = [0.0, 0.0, 0.0]
        self.deployment: tuple[Counter, Counter, Counter] | None = None  # total, outcome, fb
        self.state: tuple[str, int] | None = None  # deployment id, its state after

    def flush(self) -> None:
        counts = self.counts
        total, outcome, spend, prompt, completion, tokens, retries = self.children
        requests = counts[TOTAL]
        total.inc(requests)
        outcome.inc(requests)
        if counts[SPEND]:
            spend.inc(counts[SPEND])
        if counts[INPUT] or counts[OUTPUT]:
            prompt.inc(counts[INPUT])
            completion.inc(counts[OUTPUT])
            tokens.inc(counts[INPUT] + counts[OUTPUT])
        if counts[RETRIES]:
            retries.inc(counts[RETRIES])
        if self.deployment is not None:
            deployment_total, deployment_outcome, fallbacks = self.deployment
            deployment_total.inc(requests)
            deployment_outcome.inc(requests)
            if counts[FALLBACKS]:
                fallbacks.inc(counts[FALLBACKS])
        self.counts = [0.0] * 6
        for index, histogram in enumerate(self.histograms):
            if any(self.buckets[index]):
                _add(histogram, self.buckets[index], self.sums[index] / 1000)
                self.buckets[index] = [0] * len(_BOUNDS)
                self.sums[index] = 0.0


def _add(histogram: Histogram | None, buckets: list[int], total: float) -> None:
    """Observations counted by bucket, added to a histogram child at once (what
    ``Histogram.observe`` does one at a time: its sum, and the first bucket that holds
    each value)."""
    if histogram is None:
        return
    histogram._sum.inc(total)
    for index, count in enumerate(buckets):
        if count:
            histogram._buckets[index].inc(count)
