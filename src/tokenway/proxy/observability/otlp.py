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

import orjson

from tokenway.proxy.models import Route
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
        self._resource = f'{{"attributes":[{_string("service.name", service)}]}}'
        self._routes: dict[tuple[str, str, str], str] = {}  # a route's attributes, as text
        self._fixed: dict[tuple[object, ...], str] = {}  # requests' repeating attributes
        self._interval = interval
        self._pending: deque[Finished] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self._conn: http.client.HTTPConnection | None = None  # the exporter thread's
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
        elif len(pending) == BATCH:  # once per batch: an Event.set takes a lock
            self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        spans = ",".join([self._spans(*finished) for finished in batch])
        body = f'{{"resourceSpans":[{{"resource":{self._resource},{_SCOPE}{spans}]}}]}}]}}'.encode()
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
        """One post on the kept connection (a new one after any failure)."""
        conn = self._conn
        if conn is None:
            url = self._url
            https = url.scheme == "https"
            kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
            conn = self._conn = kind(url.hostname or "localhost", url.port, timeout=5)
        try:
            conn.request("POST", self._url.path or "/v1/traces", body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
        except BaseException:
            conn.close()
            self._conn = None
            raise
        return response.status

    def _failed(self, reason: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "traces: cannot export to %s (%s); spans are dropped until it answers",
                self.endpoint,
                reason,
            )

    def _ns(self, perf: float) -> int:
        return int((perf + self._offset) * 1e9)

    def _spans(
        self, record: RequestRecord, trace: RequestTrace, answered: float | None, closed: float
    ) -> str:
        """The request's spans, as OTLP JSON text (written directly: a span's dicts would
        cost several times more to build than the text)."""
        row = record.row
        started = closed - row.latency_ms / 1000
        if trace.attempts:  # the request's span holds its children's, whatever the clocks said
            closed = max(closed, trace.attempts[-1].ended)
        operation = _OPERATIONS.get(record.endpoint, record.endpoint)
        answered_by = trace.attempts[-1].route if trace.attempts else None
        attributes = (
            f"{self._fixed_attributes(record, operation, answered_by)},"
            f"{_integer('http.response.status_code', row.status)},"
            f"{_integer('gen_ai.usage.input_tokens', row.prompt_tokens)},"
            f"{_integer('gen_ai.usage.output_tokens', row.completion_tokens)},"
            # a request id is hex, or a client's checked to [A-Za-z0-9._:-] (proxy.echo)
            f'{{"key":"tokenway.request_id","value":{{"stringValue":"{row.request_id}"}}}},'
            f"{_integer('tokenway.retries', record.retries)},"
            f"{_integer('tokenway.fallbacks', record.fallbacks)}"
        )
        if row.cost is not None:
            attributes += f',{{"key":"tokenway.cost","value":{{"doubleValue":{row.cost!r}}}}}'
        error = row.error_code if row.status >= 400 else None
        name = f"{record.method} {record.path}"
        spans = [
            self._span(trace, trace.span_id, trace.parent_id, name, SERVER, started, closed,
                       attributes, error)
        ]  # fmt: skip
        if trace.admitted is not None:
            begin, end = trace.admitted
            spans.append(self._child(trace, "admission", begin, end))
        for attempt in trace.attempts:
            route = attempt.route
            attrs = f"{self._route_attributes(route, operation)},"
            attrs += _integer("http.response.status_code", attempt.status)
            name = f"{operation} {route.upstream_model}"
            spans.append(
                self._span(trace, attempt.span_id, trace.span_id, name, CLIENT, attempt.started,
                           attempt.ended, attrs, attempt.error)
            )  # fmt: skip
        if row.stream and answered is not None and row.status == 200:
            spans.append(self._child(trace, "stream", answered, closed))
        return ",".join(spans)

    def _fixed_attributes(self, record: RequestRecord, operation: str, route: Route | None) -> str:
        """The request span's attributes that repeat from request to request, as text
        made once per combination (bounded)."""
        row = record.row
        ok = row.status < 400
        answered = route.deployment_id if route is not None else None
        key = (record.method, record.path, operation, row.model_alias, row.deployment,
               record.key_alias, answered, ok)  # fmt: skip
        text = self._fixed.get(key)
        if text is None:
            parts = [
                _string("http.request.method", record.method),
                _string("url.path", record.path),
                _string("gen_ai.operation.name", operation),
                _string("gen_ai.request.model", row.model_alias),
            ]
            if route is not None:
                parts.append(_string("gen_ai.system", route.provider.spec.name))
                if ok:
                    parts.append(_string("gen_ai.response.model", route.upstream_model))
            if row.deployment:
                parts.append(_string("tokenway.deployment", row.deployment))
            if record.key_alias:
                parts.append(_string("tokenway.key_alias", record.key_alias))
            if len(self._fixed) >= 10_000:
                self._fixed.clear()
            text = self._fixed[key] = ",".join(parts)
        return text

    def _route_attributes(self, route: Route, operation: str) -> str:
        key = (route.deployment_id, route.upstream_model, operation)
        text = self._routes.get(key)
        if text is None:
            host = urllib.parse.urlsplit(route.api_base).hostname or ""
            text = self._routes[key] = ",".join(
                [
                    _string("gen_ai.operation.name", operation),
                    _string("gen_ai.system", route.provider.spec.name),
                    _string("gen_ai.request.model", route.upstream_model),
                    _string("server.address", host),
                    _string("tokenway.deployment", route.deployment_id),
                ]
            )
        return text

    def _child(self, trace: RequestTrace, name: str, begin: float, end: float) -> str:
        return self._span(trace, new_span_id(), trace.span_id, name, INTERNAL, begin, end, "", None)

    def _span(
        self,
        trace: RequestTrace,
        span_id: str,
        parent: str | None,
        name: str,
        kind: int,
        begin: float,
        end: float,
        attributes: str,
        error: str | None,
    ) -> str:
        parent_id = f',"parentSpanId":"{parent}"' if parent else ""
        status = f'{{"code":2,"message":{_json(error)}}}' if error else '{"code":0}'
        return (
            f'{{"traceId":"{trace.trace_id}","spanId":"{span_id}"{parent_id},'
            f'"name":{_json(name)},"kind":{kind},'
            f'"startTimeUnixNano":"{self._ns(begin)}","endTimeUnixNano":"{self._ns(end)}",'
            f'"attributes":[{attributes}],"status":{status}}}'
        )


_SCOPE = '"scopeSpans":[{"scope":{"name":"tokenway"},"spans":['


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


def _string(key: str, value: str) -> str:
    return f'{{"key":"{key}","value":{{"stringValue":{_json(value)}}}}}'


def _integer(key: str, value: int) -> str:
    return f'{{"key":"{key}","value":{{"intValue":"{value}"}}}}'
