"""The ``Observer``: a pipeline hook (``RequestHook``) that makes each model request's
``RequestRecord`` and hands it to the request log, the metrics and the traces.

A request's record is complete when two things have happened, in either order: its
handler has answered (the response's headers say which deployment, after how many
retries and fallbacks) and its spend row is written (``Ticket.close``: the tokens and
cost). A plain answer's row comes first; a stream's comes when the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tokenway.http.server import Request, Response
from tokenway.proxy.config.settings import ObservabilitySettings
from tokenway.proxy.models import Route
from tokenway.proxy.observability.otlp import SpanExporter
from tokenway.proxy.observability.record import RequestRecord
from tokenway.proxy.observability.request_log import LOGGER as REQUEST_LOGGER
from tokenway.proxy.observability.request_log import RequestLog
from tokenway.proxy.observability.tracing import RequestTrace
from tokenway.proxy.pipeline import CallContext
from tokenway.proxy.pipeline.hooks import Answered
from tokenway.router import RoutingEngine
from tokenway.store.base import SpendRow

FLUSH_INTERVAL = 0.5  # seconds: how stale another worker's /metrics may be

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from tokenway.proxy.observability.gauges import Backlog
    from tokenway.proxy.observability.metrics import ProxyMetrics


def build_observer(settings: ObservabilitySettings, routes: Sequence[Route]) -> Observer | None:
    """The request log (when ``tokenway.request`` logs at info), the metrics (the
    prometheus callback), the traces (the otel callback), or None when none is on: the
    pipeline then pays nothing."""
    log = None
    if logging.getLogger(REQUEST_LOGGER).isEnabledFor(logging.INFO):
        log = RequestLog(json=settings.json_logs)
    metrics = None
    if settings.prometheus:
        from tokenway.proxy.observability.metrics import DeploymentLabels, ProxyMetrics

        labels = {
            r.deployment_id: DeploymentLabels(r.model, r.api_base, r.provider.spec.name)
            for r in routes
        }
        metrics = ProxyMetrics(labels, (r.alias for r in routes))
    exporter = None
    if settings.otel:
        exporter = SpanExporter(
            settings.otlp_traces_url, service=settings.service_name, headers=settings.otlp_headers
        )
    if log is None and metrics is None and exporter is None:
        return None
    return Observer(log, metrics, exporter)


class Observer:
    def __init__(
        self,
        log: RequestLog | None,
        metrics: ProxyMetrics | None,
        exporter: SpanExporter | None = None,
    ) -> None:
        self.log = log
        self.metrics = metrics
        self.exporter = exporter
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, endpoint: str, request: Request, ctx: CallContext) -> Answered:
        """The pipeline's hook (``RequestHook``): a request starts; its watch waits for
        the answer and the spend row."""
        watch = _Watch(self, endpoint, request, ctx)
        ctx.on_close = watch.closed
        if self.exporter is not None:
            ctx.spans = watch.trace = RequestTrace(request.headers.get("traceparent"), ctx.started)
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight_now += 1
        return watch.answered

    def watch(
        self,
        router: RoutingEngine[Route] | None = None,
        writer: Backlog | None = None,
        connections: Callable[[], int] | None = None,
    ) -> None:
        """Where the state gauges read from: the router's cooldowns, the spend writer,
        the server's open connections (each as it becomes known)."""
        if self.metrics is None:
            return
        state = self.metrics.state
        state.router = router or state.router
        state.writer = writer or state.writer
        state.connections = connections or state.connections

    def start(self) -> None:
        """In the serving loop: flush the metrics every ``FLUSH_INTERVAL`` seconds."""
        if self.metrics is not None:
            self._tick()

    def _tick(self) -> None:
        assert self.metrics is not None
        self.metrics.flush()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(FLUSH_INTERVAL, self._tick)

    def close(self) -> None:
        """Write and send what is queued (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.metrics is not None:
            self.metrics.flush()
        if self.log is not None:
            self.log.close()
        if self.exporter is not None:
            self.exporter.close()


class _Watch:
    """One request between its answer and its row."""

    __slots__ = (
        "_answered_at", "_ctx", "_endpoint", "_observer", "_request", "_row", "limits", "trace",
    )  # fmt: skip

    def __init__(
        self, observer: Observer, endpoint: str, request: Request, ctx: CallContext
    ) -> None:
        self._observer = observer
        self._endpoint = endpoint
        self._request = request
        self._ctx = ctx
        self._row: SpendRow | None = None
        self._answered_at: float | None = None
        self.trace: RequestTrace | None = None
        self.limits = b""  # the answer's x-ratelimit-* lines (a limited key's)

    def answered(self, response: Response | None) -> None:
        self._answered_at = time.perf_counter()
        if response is not None:
            self.limits = response.header_block
        if self._row is not None:
            self._emit(self._row)

    def closed(self, row: SpendRow) -> None:
        self._row = row
        if self._answered_at is not None:
            self._emit(row)

    def _emit(self, row: SpendRow) -> None:
        ctx = self._ctx
        # the context holds this watch (``on_close``) and the watch the context: cut the
        # cycle, so that both go when the request does, not at the next garbage collection
        ctx.on_close = None
        route_trace = ctx.route_trace
        retries = fallbacks = 0
        if route_trace is not None:
            retries, fallbacks = route_trace.retries, route_trace.fallbacks
        sent = ctx.sent
        upstream_model = sent.model if sent is not None and row.status < 400 else None
        first_byte = None
        if row.stream and row.status == 200 and self._answered_at is not None:
            first_byte = (self._answered_at - ctx.started) * 1000
        key_alias = team_alias = None
        key = ctx.key
        if key is not None:
            key_alias = key.key.key_alias
            team_alias = key.team.team_alias if key.team is not None else None
        request = self._request
        record = _new_record(
            RequestRecord,
            (row, request.method, request.path, self._endpoint, key_alias, team_alias,
             upstream_model, retries, fallbacks, ctx.upstream_seconds * 1000, first_byte),
        )  # fmt: skip
        observer = self._observer  # each part of the observer told directly
        if observer.exporter is not None and self.trace is not None:
            observer.exporter.export(record, self.trace, self._answered_at)
        metrics = observer.metrics
        if metrics is not None:
            metrics.in_flight_now -= 1
            metrics.observe(record)
            if key is not None:
                metrics.state.touch(record.key, key, row.model_alias, self.limits)
        if observer.log is not None:
            observer.log.emit(record)


_new_record = tuple.__new__  # a NamedTuple made from its values, without its __new__'s call
