"""The per-connection HTTP/1.1 protocol behind :mod:`tokenway.http.server` (internal).

One ``HttpProtocol`` per TCP connection. ``httptools`` parses the bytes; every complete
request is queued and one runner task per connection answers the queue strictly in order.

The parser callbacks and the limits on a request's head are in :mod:`._intake`. The
connection's one timer closes it after the keep-alive idle timeout between requests and,
once a request has begun, answers 408 and closes at that request's deadline, however
slowly its bytes trickle (a byte does not reset it).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import httptools

from tokenway.http._framing import frame_response, status_line
from tokenway.http._headers import checked_block, header_lines
from tokenway.http._intake import CONTINUE, RequestIntake
from tokenway.http._messages import Request, Response, aclose_stream

if TYPE_CHECKING:
    from tokenway.http.server import ServerState

logger = logging.getLogger("tokenway.http")

_LINGER = 2.0  # seconds a connection is kept draining input after a fatal 400/413
_PROBE_DELAYS = (0.01, 0.1, 1.0)  # after a FIN mid-request: when to look for a reset (~RTT)


class HttpProtocol(RequestIntake):
    __slots__ = (
        "_client",
        "_closed",
        "_closing",
        "_disconnected",
        "_drain_waiter",
        "_eof",
        "_queue",
        "_reading_paused",
        "_request",
        "_streaming",
        "_timer",
        "_write_paused",
    )

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self._client: tuple[str, int] | None = None
        self._disconnected = asyncio.Event()
        self._queue: deque[tuple[Request, bool, bool]] = deque()
        self._request: Request | None = None  # the one being served, for connection_lost
        self._closed = self._closing = self._streaming = self._eof = False
        self._write_paused = self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        state = self._state
        if state.shutting_down:
            transport.close()
            return
        if len(state.connections) >= state.max_connections:
            self._refuse_connection()
            return
        state.connections.add(self)
        self._timer = self._loop.call_later(state.tick, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._disconnected.set()
        state = self._state
        state.connections.discard(self)
        if self._task is not None:  # its handler runs on: shutdown waits for it
            state.orphans.add(self)
            self._task.add_done_callback(lambda _: state.orphan_done(self))
        if state.shutting_down or state.refusing:
            state.connection_gone()
        if self._timer is not None:
            self._timer.cancel()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.cancel()
        task, request = self._task, self._request
        if task is not None and (
            self._streaming or (request is not None and request.cancel_on_disconnect)
        ):
            task.cancel()  # stop the stream, or the call, even while it awaits upstream

    def data_received(self, data: bytes) -> None:
        if self._fatal is not None or self._closing:
            return  # answered 400/413 or closing after this answer: discard the input
        self._read_size = len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._closing = True  # no upgrades: answer what was parsed, then close
            self._pause_reading()
        except httptools.HttpParserError:
            logger.debug("bad request from %s", self._client, exc_info=True)
            self._fail(*(self._fatal or (400, "Invalid HTTP request.")))
        else:
            if self._in_head and (refusal := self.head_refusal(data)) is not None:
                self._fail(*refusal)

    def eof_received(self) -> bool | None:
        """A FIN while a request is being handled is either a half-close (answer it, then
        close) or a client that left (stop). Only a write tells them apart: a closed socket
        answers it with a reset. So the connection writes an interim ``100 Continue``
        (which HTTP/1.1 clients must accept before any final response) and looks for
        that reset a few times. A stream already begun, or HTTP/1.0: the client left."""
        if self._task is None or self._fatal is not None or self._streaming or not self._v11:
            return None  # close
        if self._request is None and not self._queue:
            return None  # the last answer is out (or going out): nothing left to probe for
        self._eof = True
        self._transport.write(CONTINUE)
        self._loop.call_later(_PROBE_DELAYS[0], self._probe_eof, 1)
        return True

    def _probe_eof(self, attempt: int) -> None:
        if self._closed:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._transport.abort()  # reset: the client had closed, not half-closed
        elif attempt < len(_PROBE_DELAYS):
            self._loop.call_later(_PROBE_DELAYS[attempt], self._probe_eof, attempt + 1)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._maybe_resume_reading()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_complete(self) -> None:
        self._receiving = False
        url = self._url
        if url[:1] == b"/" or url == b"*":
            path, _, query = url.partition(b"?")
        else:  # absolute-form (a proxy request)
            parsed = httptools.parse_url(url)
            path, query = parsed.path or b"/", parsed.query or b""
        parts = self._body
        body = b"".join(parts)
        parts.clear()
        parser = self._parser
        request = Request(
            parser.get_method().decode("ascii"),
            path.decode("latin-1"),
            query.decode("latin-1"),
            self._headers,
            body,
            self._client,
            self._disconnected,
        )
        http11 = self._v11
        self._continue_pending = False  # the body came without waiting for a 100
        self._queue.append((request, parser.should_keep_alive(), http11))
        if self._task is None:
            self._task = self._loop.create_task(self._run())
        else:
            self._pause_reading()  # a request is waiting: read no further until it is served

    # -- refusing ----------------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        """Outside the parser: answer ``status`` (after the response in progress) and close."""
        self._fatal = (status, message)
        self._pause_reading()
        if self._task is None:
            self._send_fatal()

    # -- serving -----------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        try:
            while queue:
                request, keep_alive, http11 = queue.popleft()
                self._request = request
                if not queue and self._reading_paused:
                    self._maybe_resume_reading()
                if not await self._respond(request, keep_alive, http11):
                    return
                self._request = None  # answered: a FIN now is no half-close to probe
                if self._write_paused:
                    await self._drain()
        except Exception:  # a bug (e.g. an error_responder's bad Response): drop the line
            logger.exception("connection failed")
            self._transport.abort()
            return
        finally:
            self._task = self._request = None
            self._last_active = self._loop.time()
        if self._closed:
            return
        if self._fatal is not None:
            self._send_fatal()
        elif self._closing or self._state.shutting_down or self._eof:
            self._transport.close()
        elif self._continue_pending:
            self._continue_pending = False
            self._transport.write(CONTINUE)

    async def _respond(self, request: Request, keep_alive: bool, http11: bool) -> bool:
        """Answer one request; return whether the connection stays open."""
        state = self._state
        state.in_flight += 1
        try:
            response: Response | None = None
            try:
                response = await state.handler(request)
                head = self._head(response, keep_alive, http11)
                if response.stream is None:
                    data, big_body = frame_response(response, head, request.method == "HEAD")
            except Exception:
                logger.exception("handler failed for %s %s", request.method, request.path)
                if response is not None and response.stream is not None:
                    await aclose_stream(response.stream)
                response = state.error_response(500, "Internal server error.")
                head = self._head(response, keep_alive, http11)
                data, big_body = frame_response(response, head, False)
            if self._closed:
                if response.stream is not None:
                    await aclose_stream(response.stream)
                return False
            if response.stream is not None:
                return await self._send_stream(request, response.stream, head, keep_alive, http11)
            self._transport.write(data)
            if big_body:
                self._transport.write(big_body)
        finally:
            state.in_flight -= 1
        return self._keep_open(keep_alive)

    def _keep_open(self, keep_alive: bool) -> bool:
        if keep_alive and not self._closing and not self._state.shutting_down:
            return True
        self._transport.close()
        return False

    def _head(self, response: Response, keep_alive: bool, http11: bool) -> list[bytes]:
        """The response head minus its framing line (content-length or chunked)."""
        if keep_alive and (self._closing or self._state.shutting_down):
            keep_alive = False
        if response.stream is not None and not http11:
            keep_alive = False  # HTTP/1.0 has no chunked encoding: the close ends the body
        if keep_alive:
            connection = b"" if http11 else b"connection: keep-alive\r\n"
        else:
            connection = b"connection: close\r\n"
        head = [status_line(response.status), self._state.static_head, connection]
        # Checked where rendered: no CR, LF or NUL of a name or value reaches the wire.
        if response.headers:
            head.append(header_lines(response.headers))
        if response.header_block:
            head.append(checked_block(response.header_block))
        return head

    async def _send_stream(
        self,
        request: Request,
        stream: AsyncIterator[bytes],
        head: list[bytes],
        keep_alive: bool,
        http11: bool,
    ) -> bool:
        transport = self._transport
        head.append(b"transfer-encoding: chunked\r\n\r\n" if http11 else b"\r\n")
        transport.write(b"".join(head))
        if request.method == "HEAD":
            await aclose_stream(stream)
            return self._keep_open(keep_alive and http11)
        self._streaming = True
        try:
            async for chunk in stream:
                if self._closed:
                    return False
                if chunk:
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if http11 else chunk)
                    if self._write_paused:
                        await self._drain()
        except asyncio.CancelledError:
            transport.close()  # the client went away (or shutdown gave up)
            return False
        except Exception:
            logger.exception("response stream failed for %s %s", request.method, request.path)
            transport.close()  # no terminating chunk: the client sees a truncated body
            return False
        finally:
            self._streaming = False
            await aclose_stream(stream)
        if self._closed:
            return False
        if http11:
            transport.write(b"0\r\n\r\n")
        return self._keep_open(keep_alive and http11)

    async def _drain(self) -> None:
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        try:
            await waiter
        finally:
            self._drain_waiter = None

    def _send_fatal(self) -> None:
        """Answer a 400/413, then close gracefully: stop sending, drain input, close."""
        assert self._fatal is not None
        status, message = self._fatal
        response = self._state.error_response(status, message)
        data, big_body = frame_response(response, self._head(response, False, True), False)
        transport = self._transport
        transport.write(data + big_body)
        if transport.can_write_eof():
            transport.write_eof()
        self._resume_reading()
        self._loop.call_later(_LINGER, transport.close)

    # -- housekeeping ------------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self._closed:
            self._reading_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if not (self._queue or self._write_paused or self._closing or self._fatal is not None):
            self._resume_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self._closed:
            self._reading_paused = False
            self._transport.resume_reading()

    def _on_timer(self) -> None:
        """Idle between requests: close after the keep-alive timeout. Receiving a request:
        408 and close at its deadline. Serving: look again later."""
        self._timer = None
        if self._closed or self._fatal is not None:
            return  # a fatal answer's linger closes the connection
        state = self._state
        wait = state.tick
        if self._task is None:
            now = self._loop.time()
            if self._receiving:
                left = self._deadline() - now
                if left <= 0:
                    self._fail(408, "The request did not arrive in time.")
                    return
            else:
                left = self._last_active + state.keepalive_timeout - now
                if left <= 0:
                    self._transport.close()
                    return
            wait = min(wait, left)
        self._timer = self._loop.call_later(wait, self._on_timer)

    def _refuse_connection(self) -> None:
        """Over the connection cap: a 503 and close, never added to the connections."""
        self._state.refused()
        response = self._state.error_response(503, "Too many connections; try again later.")
        data, big_body = frame_response(response, self._head(response, False, True), False)
        self._transport.write(data + big_body)
        self._transport.close()

    def close_if_idle(self) -> None:
        """For shutdown: close now when idle, else after the response in progress."""
        self._closing = True
        if self._task is None:
            self._transport.close()

    def abort(self) -> asyncio.Task[None] | None:
        """For shutdown's deadline: drop the connection and cancel its handler."""
        task = self._task
        if task is not None:
            task.cancel()
        self._transport.abort()
        return task
