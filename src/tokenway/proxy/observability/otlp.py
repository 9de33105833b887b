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
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "completions": "text_completion"}

# answered (perf_counter), closed (perf_counter_ns)
Finished = tuple[RequestRecord, RequestTrace, float | None, int]


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
        self._routes: dict[tuple[str, str, str], tuple[str, str]] = {}  # name, attributes
        self._fixed: dict[tuple[object, ...], tuple[str, str]] = {}  # the same, of requests
        self._interval = interval
        self._pending: deque[Finished] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self._conn: http.client.HTTPConnection | None = None  # the exporter thread's
        self.dropped = 0
        self.exported = 0
        # perf_counter_ns → Unix nanoseconds, for span timestamps
        self._offset = time.time_ns() - time.perf_counter_ns()

    def export(self, record: RequestRecord, trace: RequestTrace, answered: float | None) -> None:
        pending = self._pending
        if len(pending) >= MAX_PENDING:
            self.dropped += 1
            return
        pending.append((record, trace, answered, time.perf_counter_ns()))
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

    def _spans(
        self, record: RequestRecord, trace: RequestTrace, answered: float | None, closed: int
    ) -> str:
        """The request's spans, as OTLP JSON text, each span one f-string (a span's dicts,
        or its text built piece by piece through helpers, cost several times more). The
        record's fields by unpacking: a named tuple's field read by name is a descriptor
        call each."""
        row, method, path, endpoint, key_alias, _, _, retries, fallbacks, _, _ = record
        (request_id, _, _, _, model, deployment, prompt, completion, cost, _, status, error,
         stream, _, _, _, _, _, _, _) = row  # fmt: skip
        offset = self._offset
        started = trace.started
        attempts = trace.attempts
        route = None
        if attempts:  # the request's span holds its children's, whatever the clocks said
            last = attempts[-1]
            route = last.route
            if last.ended > closed:
                closed = last.ended
        operation = _OPERATIONS.get(endpoint, endpoint)
        ok = status < 400
        answering = route.deployment_id if route is not None else None
        fixed_key = (method, path, operation, model, deployment, key_alias, answering, ok)
        made = self._fixed.get(fixed_key)
        if made is None:
            made = self._fixed_attributes(record, operation, route, fixed_key)
        name, fixed = made
        trace_id, span_id = trace.trace_id, trace.span_id
        parent = trace.parent_id
        text = (
            f'{{"traceId":"{trace_id}","spanId":"{span_id}"'
            f"{'' if parent is None else f',{_PARENT}{parent}{_QUOTE}'},"
            f'"name":{name},"kind":2,"startTimeUnixNano":"{started + offset}",'
            f'"endTimeUnixNano":"{closed + offset}","attributes":[{fixed},'
            f'{{"key":"http.response.status_code","value":{{"intValue":"{status}"}}}},'
            f'{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"{prompt}"}}}},'
            '{"key":"gen_ai.usage.output_tokens","value":{"intValue":"'
            f'{completion}"}}}},'
            # hex, or a client's id checked to [A-Za-z0-9._:-] (proxy.echo)
            f'{{"key":"tokenway.request_id","value":{{"stringValue":"{request_id}"}}}},'
            f'{{"key":"tokenway.retries","value":{{"intValue":"{retries}"}}}},'
            f'{{"key":"tokenway.fallbacks","value":{{"intValue":"{fallbacks}"}}}}'
            f'{"" if cost is None else _COST % cost}],"status":'
            f"{_OK if ok or error is None else _status(error)}}}"
        )
        if trace.admitted is not None:
            begin, end = trace.admitted
            text += self._child(trace, trace.admission_id, "admission", begin, end)
        for attempt in attempts:
            attempt_name, attributes = self._route_attributes(attempt.route, operation)
            outcome = _OK if attempt.error is None else _status(attempt.error)
            text += (
                f',{{"traceId":"{trace_id}","spanId":"{attempt.span_id}",'
                f'"parentSpanId":"{span_id}","name":{attempt_name},"kind":3,'
                f'"startTimeUnixNano":"{attempt.started + offset}",'
                f'"endTimeUnixNano":"{attempt.ended + offset}",'
                f'"attributes":[{attributes},{{"key":"http.response.status_code",'
                f'"value":{{"intValue":"{attempt.status}"}}}}],"status":{outcome}}}'
            )
        if stream and answered is not None and status == 200:
            first = int(answered * 1e9)  # as perf_counter_ns
            text += self._child(trace, new_span_id(), "stream", first, closed)
        return text

    def _fixed_attributes(
        self, record: RequestRecord, operation: str, route: Route | None, key: tuple[object, ...]
    ) -> tuple[str, str]:
        """The request span's name and the attributes that repeat from request to
        request, as text made once per combination (``key``; bounded)."""
        row = record.row
        ok = row.status < 400
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
        name = _json(f"{record.method} {record.path}")
        made = self._fixed[key] = (name, ",".join(parts))
        return made

    def _route_attributes(self, route: Route, operation: str) -> tuple[str, str]:
        """An attempt span's name and attributes, made once per route and operation."""
        key = (route.deployment_id, route.upstream_model, operation)
        made = self._routes.get(key)
        if made is None:
            host = urllib.parse.urlsplit(route.api_base).hostname or ""
            attributes = ",".join(
                [
                    _string("gen_ai.operation.name", operation),
                    _string("gen_ai.system", route.provider.spec.name),
                    _string("gen_ai.request.model", route.upstream_model),
                    _string("server.address", host),
                    _string("tokenway.deployment", route.deployment_id),
                ]
            )
            made = self._routes[key] = (_json(f"{operation} {route.upstream_model}"), attributes)
        return made

    def _child(self, trace: RequestTrace, span_id: str, name: str, begin: int, end: int) -> str:
        offset = self._offset
        return _INTERNAL % (
            trace.trace_id, span_id, trace.span_id, name, begin + offset, end + offset,
        )  # fmt: skip


def _status(error: str) -> str:
    return f'{{"code":2,"message":{_json(error)}}}'


_OK = '{"code":0}'
_PARENT, _QUOTE = '"parentSpanId":"', '"'
_COST = ',{"key":"tokenway.cost","value":{"doubleValue":%r}}'
_INTERNAL = (
    ',{"traceId":"%s","spanId":"%s","parentSpanId":"%s","name":"%s","kind":1,'
    '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[],"status":{"code":0}}'
)
_SCOPE = '"scopeSpans":[{"scope":{"name":"tokenway"},"spans":['


def _json(value: str) -> str:
    return orjson.dumps(value).decode()


def _string(key: str, value: str) -> str:
    return f'{{"key":"{key}","value":{{"stringValue":{_json(value)}}}}}'
