"""A small, fast HTTP/1.1 server core: asyncio + httptools (+ uvloop when installed).

No ASGI and no framework: a handler is ``async def handler(request: Request) -> Response``.
The server owns the framing — ``content-length`` (or chunked encoding for a ``stream``),
``date``, ``connection`` — so handlers must not set those headers themselves.

* HTTP/1.1 keep-alive (HTTP/1.0 only with ``Connection: keep-alive``); pipelined
  requests are answered strictly in order, one at a time per connection.
* ``Expect: 100-continue`` is honoured; bodies over ``max_body_size`` get a 413,
  malformed requests a 400 and a crashing handler a 500, all from ``error_responder``.
* What a client may send is bounded by ``limits`` (:class:`ServerLimits`): request target
  414, header lines 431, a head or body that does not arrive in time 408, all followed by
  a close; connections beyond the cap get a 503 and are closed.
* A client that half-closes after its request still gets the answer, then the close.
* Streams are written chunk by chunk with backpressure; a client that goes away sets
  ``request.disconnected`` and closes the stream's async generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from email.utils import formatdate

import orjson

from tokenway.http._headers import BlockTemplate, header_line
from tokenway.http._messages import ErrorResponder, Handler, Request, Response
from tokenway.http._protocol import HttpProtocol
from tokenway.http.limits import ServerLimits

__all__ = [
    "BlockTemplate",
    "ErrorResponder",
    "HTTPServer",
    "Handler",
    "Request",
    "Response",
    "ServerLimits",
    "default_error_responder",
    "install_uvloop",
]

logger = logging.getLogger("tokenway.http")


def default_error_responder(status: int, message: str) -> Response:
    """An OpenAI-style JSON error envelope."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    error = {"message": message, "type": kind, "param": None, "code": None}
    body = orjson.dumps({"error": error})
    return Response(status, [("content-type", "application/json")], body)


def install_uvloop() -> bool:
    """Use uvloop's event loop policy if uvloop is importable; return whether it was."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


class ServerState:
    """Configuration and shared mutable state of one server, read by its connections."""

    __slots__ = (
        "all_closed",
        "body_timeout",
        "clock",
        "connections",
        "error_responder",
        "handler",
        "header_timeout",
        "in_flight",
        "keepalive_timeout",
        "max_body_size",
        "max_connections",
        "max_header_bytes",
        "max_header_count",
        "max_header_line_bytes",
        "max_request_line_bytes",
        "min_body_rate",
        "orphans",
        "refused_count",
        "refusing",
        "server_line",
        "shutting_down",
        "small_head",
        "static_head",
        "tick",
    )

    def __init__(
        self,
        handler: Handler,
        error_responder: ErrorResponder,
        max_body_size: int,
        keepalive_timeout: float,
        server_header: str | None,
        limits: ServerLimits,
    ) -> None:
        self.handler = handler
        self.error_responder = error_responder
        self.max_body_size = max_body_size
        self.keepalive_timeout = keepalive_timeout
        # the limits, flat: connections read them on every request
        self.max_request_line_bytes = limits.max_request_line_bytes
        self.max_header_line_bytes = limits.max_header_line_bytes
        self.max_header_bytes = limits.max_header_bytes
        self.max_header_count = limits.max_header_count
        self.header_timeout = limits.header_timeout
        self.body_timeout = limits.body_timeout
        self.min_body_rate = limits.min_body_rate
        self.max_connections = limits.connection_cap()
        # a head no larger than this keeps every size limit: checked once, in C
        self.small_head = min(
            limits.max_request_line_bytes, limits.max_header_line_bytes, limits.max_header_bytes
        )
        self.tick = min(keepalive_timeout, limits.header_timeout)  # a connection's timer
        line = header_line("server", server_header) if server_header else b""
        if line is None:
            raise ValueError(f"server_header {server_header!r} cannot be sent as a header")
        self.server_line = line
        self.connections: set[HttpProtocol] = set()
        self.orphans: set[HttpProtocol] = set()  # closed, their handler still running
        self.in_flight = 0
        self.shutting_down = self.refusing = False
        self.refused_count = 0
        self.all_closed = asyncio.Event()
        self.clock: asyncio.TimerHandle | None = None
        self.static_head = b""  # the cached "date: ...\r\n" (+ "server: ...\r\n") lines
        self.render_date()

    def render_date(self) -> None:
        date = formatdate(usegmt=True).encode()
        self.static_head = b"date: %s\r\n%s" % (date, self.server_line)

    def start_clock(self) -> None:
        """Re-render the date at every whole second until ``stop_clock``."""
        self.render_date()
        loop = asyncio.get_running_loop()
        self.clock = loop.call_later(1.0005 - time.time() % 1.0, self.start_clock)

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.cancel()
            self.clock = None

    def refused(self) -> None:
        """A connection over the cap was turned away; logged once per episode."""
        self.refused_count += 1
        if not self.refusing:
            self.refusing = True
            logger.warning(
                "%d connections open, the limit: refusing new ones (503) until some close",
                len(self.connections),
            )

    def connection_gone(self) -> None:
        """A connection closed while shutting down or refusing: is that over?"""
        if self.refusing and len(self.connections) < self.max_connections * 0.9:
            self.refusing = False
            logger.warning("accepting connections again; %d refused", self.refused_count)
            self.refused_count = 0
        if self.shutting_down and not self.connections and not self.orphans:
            self.all_closed.set()

    def orphan_done(self, conn: HttpProtocol) -> None:
        """The handler of a closed connection finished."""
        self.orphans.discard(conn)
        if self.shutting_down and not self.connections and not self.orphans:
            self.all_closed.set()

    def error_response(self, status: int, message: str) -> Response:
        try:
            return self.error_responder(status, message)
        except Exception:
            logger.exception("error_responder failed")
            return default_error_responder(status, message)


class HTTPServer:
    """An HTTP/1.1 server calling ``handler`` for every request; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        *,
        error_responder: ErrorResponder | None = None,
        max_body_size: int = 8 * 1024 * 1024,
        keepalive_timeout: float = 5.0,
        server_header: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self._state = ServerState(
            handler,
            error_responder or default_error_responder,
            max_body_size,
            keepalive_timeout,
            server_header,
            limits or ServerLimits(),
        )
        self._server: asyncio.AbstractServer | None = None
        self._port = 0
        self._shutdown_task: asyncio.Task[None] | None = None

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        backlog: int = 2048,
    ) -> None:
        """Bind (or adopt ``sock``) and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("HTTPServer already started")
        loop = asyncio.get_running_loop()
        factory = functools.partial(HttpProtocol, self._state)
        if sock is not None:
            server = await loop.create_server(factory, sock=sock, backlog=backlog)
        else:
            server = await loop.create_server(
                factory, host, port, backlog=backlog, reuse_address=True
            )
        self._server = server
        sockets = server.sockets
        self._port = sockets[0].getsockname()[1] if sockets else 0
        self._state.start_clock()

    @property
    def port(self) -> int:
        """The bound port (the one picked when started with ``port=0``)."""
        return self._port

    @property
    def in_flight(self) -> int:
        """Requests being handled right now, streams still being sent included."""
        return self._state.in_flight

    @property
    def open_connections(self) -> int:
        """Client connections open right now."""
        return len(self._state.connections)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish for up to
        ``timeout`` seconds, then close whatever remains. Safe to call more than once.

        In-flight includes handlers whose client already left: when this returns, no
        handler runs any more (what they record, e.g. spend, is recorded)."""
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown(timeout))
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self, timeout: float) -> None:
        state = self._state
        state.shutting_down = True
        if self._server is not None:
            self._server.close()
        for conn in list(state.connections):
            conn.close_if_idle()
        if state.connections or state.orphans:
            try:
                await asyncio.wait_for(state.all_closed.wait(), timeout)
            except TimeoutError:
                remaining = [*state.connections, *state.orphans]
                tasks = [t for c in remaining if (t := c.abort()) is not None]
                if tasks:
                    await asyncio.wait(tasks, timeout=1.0)
        state.stop_clock()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
