"""A line for every request that is not a model request (management, health, metrics,
model lists) and for every request refused before its endpoint ran (no key, an unknown
route): the method, the path (never its query, where a key may travel), the status, the
latency, the caller's key by its hash prefix. Written by the request log's thread in the
request lines' format (``RequestLog.emit_access``).

The model endpoints' own lines come from the ``Observer``; these wraps are put around
the other routes once, when the app is built, so a model request pays nothing for them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from tokenway.http.server import Request, Response
from tokenway.proxy.observability.record import HASH_PREFIX
from tokenway.proxy.pipeline import CallContext

Route = Callable[[Request, CallContext], Awaitable[Response]]
Public = Callable[[Request], Awaitable[Response]]  # a route answered without a key
MAX_PATH = 200  # characters of a path in a line: the client's text, bounded


class AccessRecord(NamedTuple):
    started_at: float  # epoch seconds
    request_id: str
    method: str
    path: str
    status: int
    latency_ms: float
    key: str  # the caller's key hash prefix, or ""
    error_code: str | None

    def fields(self) -> dict[str, object]:
        """The JSON line's fields, in a stable order."""
        return {
            "request_id": self.request_id or None,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "key_hash": self.key or None,
            "latency_ms": round(self.latency_ms, 3),
            "error_code": self.error_code,
        }


class Sink(Protocol):
    """Where access records go (``RequestLog``)."""

    def emit_access(self, record: AccessRecord) -> None: ...


def access_record(
    request: Request,
    request_id: str,
    started: float,
    status: int,
    key_hash: str | None = None,
    error_code: str | None = None,
) -> AccessRecord:
    """``started``: the request's ``perf_counter`` at arrival."""
    elapsed = time.perf_counter() - started
    return AccessRecord(
        time.time() - elapsed,
        request_id,
        request.method,
        request.path[:MAX_PATH],
        status,
        elapsed * 1000,
        key_hash[:HASH_PREFIX] if key_hash else "",
        error_code,
    )


def logged_route(sink: Sink, route: Route) -> Route:
    """``route`` with a line for each answer it returns (what it raises, the app logs)."""

    async def logged(request: Request, ctx: CallContext) -> Response:
        response = await route(request, ctx)
        record = access_record(request, ctx.request_id, ctx.started, response.status, ctx.key_hash)
        sink.emit_access(record)
        return response

    return logged


async def answer_logged(
    sink: Sink, public: Public, request: Request, request_id: str, started: float
) -> Response:
    """A public route's answer (no key asked for), with its line."""
    response = await public(request)
    sink.emit_access(access_record(request, request_id, started, response.status))
    return response
