"""Spans to an OpenTelemetry collector over OTLP/HTTP, JSON-encoded, in batches.

``SpanExporter.export`` only queues a finished request (its record and its trace); a
thread makes the spans and posts them every ``interval`` (sooner when ``BATCH`` are
waiting). A collector that cannot be reached costs a warning (once, until it answers
again) and the spans of that batch; never a request's time. Past ``MAX_PENDING``
waiting requests, new ones are dropped and counted.

Spans: the request (SERVER), its admission, each upstream attempt (CLIENT, with the
``traceparent`` sent to the upstream) and a stream's relay, with attributes after the
OpenTelemetry GenAI semantic conventions (``gen_ai.*``).
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
from collections import deque
from typing import Any

import orjson

from tokenway.proxy.observability.record import RequestRecord
from tokenway.proxy.observability.tracing import RequestTrace, new_span_id

log = logging.getLogger("tokenway.proxy")

BATCH = 512
MAX_PENDING = 20_000
SERVER, CLIENT, INTERNAL = 2, 3, 1  # OTLP span kinds
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "completions": "text_completion"}

Finished = tuple[RequestRecord, RequestTrace, float | None, float]  # answered, closed


class SpanExporter:
    def __init__(
        self,
        endpoint: str,
        *,
        service: str = "tokenway",
        headers: tuple[tuple[str, str], ...] = (),
        interval: float = 1.0,
    ) -> None:
        self.endpoint = endpoint
        self._url = urllib.parse.urlsplit(endpoint)
        self._headers = {"content-type": "application/json", **dict(headers)}
        self._resource = {"attributes": _attributes({"service.name": service})}
        self._interval = interval
        self._pending: deque[Finished] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self.dropped = 0
        self.exported = 0
        # perf_counter → Unix time, for span timestamps
        self._offset = time.time() - time.perf_counter()

    def export(self, record: RequestRecord, trace: RequestTrace, answered: float | None) -> None:
        pending = self._pending
        if len(pending) >= MAX_PENDING:
            self.dropped += 1
            return
        pending.append((record, trace, answered, time.perf_counter()))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
            self._thread.start()
        elif len(pending) >= BATCH:
            self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def flush(self) -> None:
        while self._pending:
            batch: list[Finished] = []
            while self._pending and len(batch) < BATCH:
                batch.append(self._pending.popleft())
            self._post(batch)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    def _post(self, batch: list[Finished]) -> None:
        spans = [span for finished in batch for span in self._spans(*finished)]
        body = orjson.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": self._resource,
                        "scopeSpans": [{"scope": {"name": "tokenway"}, "spans": spans}],
                    }
                ]
            }
        )
        try:
            status = self._send(body)
        except (OSError, http.client.HTTPException) as error:
            self._failed(f"{type(error).__name__}: {error}")
            return
        if status >= 300:
            self._failed(f"it answered {status}")
            return
        self.exported += len(batch)
        if self._failing:
            self._failing = False
            log.info("traces: the collector at %s answers again", self.endpoint)

    def _send(self, body: bytes) -> int:
        url = self._url
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = kind(url.hostname or "localhost", url.port, timeout=5)
        try:
            conn.request("POST", url.path or "/v1/traces", body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def _failed(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "traces: cannot export to %s (%s); spans are dropped until it answers",
                self.endpoint,
                reason,
            )

    def _ns(self, perf: float) -> str:
        return str(int((perf + self._offset) * 1e9))

    def _spans(
        self, record: RequestRecord, trace: RequestTrace, answered: float | None, closed: float
    ) -> list[dict[str, Any]]:
        row = record.row
        started = closed - row.latency_ms / 1000
        operation = _OPERATIONS.get(record.endpoint, record.endpoint)
        attributes: dict[str, Any] = {
            "http.request.method": record.method,
            "url.path": record.path,
            "http.response.status_code": row.status,
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": row.model_alias,
            "gen_ai.usage.input_tokens": row.prompt_tokens,
            "gen_ai.usage.output_tokens": row.completion_tokens,
            "tokenway.request_id": row.request_id,
            "tokenway.retries": record.retries,
            "tokenway.fallbacks": record.fallbacks,
        }
        if trace.attempts:
            route = trace.attempts[-1].route  # the one that answered, or failed last
            attributes["gen_ai.system"] = route.provider.spec.name
            if row.status < 400:
                attributes["gen_ai.response.model"] = route.upstream_model
        if row.deployment:
            attributes["tokenway.deployment"] = row.deployment
        if row.cost is not None:
            attributes["tokenway.cost"] = row.cost
        if record.key_alias:
            attributes["tokenway.key_alias"] = record.key_alias
        root = self._span(
            trace,
            trace.span_id,
            trace.parent_id,
            f"{record.method} {record.path}",
            SERVER,
            started,
            closed,
            attributes,
            row.error_code if row.status >= 400 else None,
        )
        spans = [root]
        if trace.admitted is not None:
            begin, end = trace.admitted
            spans.append(self._child(trace, "admission", INTERNAL, begin, end, {}))
        for attempt in trace.attempts:
            route = attempt.route
            attrs = {
                "gen_ai.operation.name": operation,
                "gen_ai.system": route.provider.spec.name,
                "gen_ai.request.model": route.upstream_model,
                "server.address": urllib.parse.urlsplit(route.api_base).hostname or "",
                "http.response.status_code": attempt.status,
                "tokenway.deployment": route.deployment_id,
            }
            span = self._span(
                trace,
                attempt.span_id,
                trace.span_id,
                f"{operation} {route.upstream_model}",
                CLIENT,
                attempt.started,
                attempt.ended,
                attrs,
                attempt.error,
            )
            spans.append(span)
        if row.stream and answered is not None and row.status == 200:
            spans.append(self._child(trace, "stream", INTERNAL, answered, closed, {}))
        return spans

    def _child(
        self,
        trace: RequestTrace,
        name: str,
        kind: int,
        begin: float,
        end: float,
        attributes: dict[str, Any],
    ) -> dict[str, Any]:
        return self._span(
            trace, new_span_id(), trace.span_id, name, kind, begin, end, attributes, None
        )

    def _span(
        self,
        trace: RequestTrace,
        span_id: str,
        parent: str | None,
        name: str,
        kind: int,
        begin: float,
        end: float,
        attributes: dict[str, Any],
        error: str | None,
    ) -> dict[str, Any]:
        span: dict[str, Any] = {
            "traceId": trace.trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": self._ns(begin),
            "endTimeUnixNano": self._ns(end),
            "attributes": _attributes(attributes),
            "status": {"code": 2, "message": error} if error else {"code": 0},
        }
        if parent:
            span["parentSpanId"] = parent
        return span


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            typed: dict[str, Any] = {"boolValue": value}
        elif isinstance(value, int):
            typed = {"intValue": str(value)}
        elif isinstance(value, float):
            typed = {"doubleValue": value}
        else:
            typed = {"stringValue": str(value)}
        out.append({"key": key, "value": typed})
    return out
