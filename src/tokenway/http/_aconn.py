"""The async client's connections and their keep-alive pool (one pool per origin)."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from ._head import ResponseHead, StaleConnection

if TYPE_CHECKING:
    from .aclient import AsyncHTTPClient

from .errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    ReadTimeout,
    RemoteProtocolError,
    connect_error,
    host_label,
)

_HIGH_WATER = 256 * 1024  # pause reading when this much body is buffered unread
_Waiter = asyncio.Future[None]
_URL_CACHE_SIZE = 1024


class _Conn(asyncio.Protocol, ResponseHead):
    """One connection; the state of its current request lives here too."""

    __slots__ = (
        "buf", "buffered", "busy", "closed", "complete", "deadline", "exc", "got_bytes",
        "head_done", "headers", "holds_slot", "idle_since", "in_idle", "informational",
        "keep_alive", "parser", "parser_dirty", "paused", "pool", "raw_headers", "reused",
        "skip_body", "status", "timer", "timer_at", "transport", "waiter",
    )  # fmt: skip

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = self.in_idle = self.busy = self.reused = self.parser_dirty = False
        self.holds_slot = True  # counted in pool.count until lost()
        self.idle_since = 0.0
        self.waiter: _Waiter | None = None
        self.deadline: float | None = None  # of the current wait
        self.timer: asyncio.TimerHandle | None = None  # fires at timer_at <= deadline
        self.timer_at = 0.0
        self.buf: deque[bytes] = deque()
        self.buffered = 0
        self.paused = self.got_bytes = self.head_done = self.complete = self.keep_alive = False
        self.informational = self.skip_body = False
        self.exc: HTTPError | None = None
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.headers: dict[str, str] = {}

    def send(self, data: bytes, skip_body: bool) -> bool:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            self.close()
            return False
        if self.parser_dirty:  # a HEAD response left the parser expecting a body
            self.parser = httptools.HttpResponseParser(self)
            self.parser_dirty = False
        self.got_bytes = self.head_done = self.complete = self.keep_alive = False
        self.skip_body = skip_body
        self.exc = None
        self.raw_headers = []
        self.busy = True
        transport.write(data)
        return True

    async def wait(self, deadline: float | None) -> None:
        """Until the protocol wakes us, or ``deadline`` (loop time) passes: ReadTimeout."""
        waiter = self.waiter = self.pool.loop.create_future()
        self.deadline = deadline
        if deadline is not None:
            self._arm(deadline)
        try:
            await waiter
        except asyncio.CancelledError:
            self.close()  # never hand a half-read connection back to the pool
            raise
        finally:
            self.waiter = None
            self.deadline = None

    def _arm(self, deadline: float) -> None:
        """One timer per connection, kept across waits: deadlines mostly only move later,
        so the timer set for an earlier one stays and re-arms itself when it fires. That
        saves a timer and its cancel per wait (per request, per stream piece)."""
        if self.timer is not None:
            if self.timer_at <= deadline:
                return
            self.timer.cancel()
        self.timer_at = deadline
        self.timer = self.pool.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None or self.waiter is None or self.waiter.done():
            return  # no wait with a deadline in progress: re-armed by the next one
        if deadline > self.pool.loop.time():
            self._arm(deadline)
            return
        what = "more of the response body" if self.head_done else "the response"
        self._fail(ReadTimeout(f"timed out waiting for {what} from {self.pool.label}"))

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def next_piece(self, timeout: float | None) -> bytes | None:
        """All body bytes buffered so far, or None at the end of the body."""
        while True:
            if self.buf:
                buf = self.buf
                data = buf[0] if len(buf) == 1 else b"".join(buf)
                self.drop_buffer()
                return data
            if self.complete:
                return None
            self.check()
            await self.wait(None if timeout is None else self.pool.loop.time() + timeout)

    def check(self) -> None:
        if self.exc is not None:
            raise self.exc
        if self.closed:
            raise RemoteProtocolError(f"the connection to {self.pool.label} was closed")

    def drop_buffer(self) -> None:
        self.buf.clear()
        self.buffered = 0
        if self.paused:
            self.paused = False
            if not self.closed and self.transport is not None:
                self.transport.resume_reading()

    def close(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self.pool.lost(self)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: HTTPError) -> None:
        if not self.complete and self.exc is None:
            self.exc = exc
        self.keep_alive = False
        self.close()
        self._wake()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:  # bytes nobody asked for: unusable connection
            self._fail(RemoteProtocolError(f"unexpected data from {self.pool.label}"))
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RemoteProtocolError(f"unexpected protocol switch by {self.pool.label}"))
        except httptools.HttpParserError as e:
            self._fail(RemoteProtocolError(f"malformed response from {self.pool.label}: {e}"))

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost does the rest

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        self.pool.lost(self)
        if self.busy and not self.complete and self.exc is None:
            h, label = self.headers, self.pool.label
            no_length = "content-length" not in h and "chunked" not in h.get(
                "transfer-encoding", ""
            )
            if self.head_done and exc is None and no_length:
                self.complete = True  # a read-until-close body: EOF is its end
            elif not self.got_bytes:
                self.exc = StaleConnection(
                    f"{label} closed the connection without sending a response"
                )
            else:
                why = f": {exc}" if exc is not None else ""
                self.exc = RemoteProtocolError(f"{label} closed the connection mid-response{why}")
        self._wake()

    # -- httptools callbacks ---------------------------------------------------------------
    def notify(self) -> None:
        self._wake()

    def on_body(self, body: bytes) -> None:
        if not self.skip_body:
            self.buf.append(body)
            self.buffered += len(body)
            if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            self._wake()


def _expire(waiter: asyncio.Future[_Conn | None], label: str) -> None:
    if not waiter.done():
        waiter.set_exception(ConnectTimeout(f"timed out waiting for a free connection to {label}"))


class _Pool:
    """Connections to one (scheme, host, port); ``count`` includes slots being connected."""

    def __init__(
        self, client: AsyncHTTPClient, host: str, port: int, ctx: ssl.SSLContext | None
    ) -> None:
        self.client = client
        self.loop = cast(asyncio.AbstractEventLoop, client._loop)
        self.host, self.port, self.ssl, self.label = host, port, ctx, host_label(host, port)
        self.idle: list[_Conn] = []  # LIFO: idle[0] is the oldest
        self.conns: set[_Conn] = set()
        self.count = 0
        self.waiters: deque[asyncio.Future[_Conn | None]] = deque()

    def take_idle(self) -> _Conn | None:
        idle = self.idle
        if idle:
            oldest_ok = self.loop.time() - self.client._idle_timeout
            while idle:
                conn = idle.pop()
                conn.in_idle = False
                if conn.idle_since >= oldest_ok:
                    conn.reused = True
                    return conn
                conn.close()
        return None

    async def acquire(self, deadline: float | None) -> _Conn:
        """A new connection (or one handed over while we waited for a free slot)."""
        if self.count < self.client._max_per_host:
            self.count += 1
        elif (handed := await self._wait_free(deadline)) is not None:
            return handed
        try:
            return await self._connect(deadline)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_free(self, deadline: float | None) -> _Conn | None:
        """Wait for a connection handed over by release() or a slot freed by lost()."""
        waiter: asyncio.Future[_Conn | None] = self.loop.create_future()
        self.waiters.append(waiter)
        timer = (
            None if deadline is None else self.loop.call_at(deadline, _expire, waiter, self.label)
        )
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # got one just as we were cancelled: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _connect(self, deadline: float | None) -> _Conn:
        limit = self.client._connect_timeout
        if deadline is not None:
            limit = min(limit, deadline - self.loop.time())
        conn = _Conn(self)
        try:
            if limit <= 0:
                raise TimeoutError
            async with asyncio.timeout(limit):
                hostname = self.host if self.ssl is not None else None
                await self.loop.create_connection(
                    lambda: conn, self.host, self.port, ssl=self.ssl, server_hostname=hostname
                )
        except BaseException as e:
            conn.holds_slot = False  # acquire() frees the slot
            if conn.transport is not None:
                conn.transport.abort()
            if isinstance(e, OSError):
                raise connect_error(e, self.host, self.label, limit) from e
            raise
        self.conns.add(conn)
        return conn

    def release(self, conn: _Conn) -> None:
        conn.busy = False
        if conn.closed:
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        conn.idle_since = self.loop.time()
        conn.in_idle = True
        self.idle.append(conn)
        self.client._arm_sweep(self.loop)

    def lost(self, conn: _Conn) -> None:
        if conn.holds_slot:
            conn.holds_slot = False
            self.conns.discard(conn)
            if conn.in_idle:
                conn.in_idle = False
                self.idle.remove(conn)
            self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to this waiter
                return
        self.count -= 1

    def shutdown(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(ConnectError(f"client closed; no connection to {self.label}"))
        self.waiters.clear()
        for conn in list(self.conns):
            conn.close()
