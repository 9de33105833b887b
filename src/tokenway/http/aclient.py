"""Async HTTP/1.1 client: an ``asyncio.Protocol`` + httptools with a keep-alive pool.

One of the two places in tokenway that does outbound network I/O (the other is
:mod:`.sclient`). Built for the proxy's hot path: one ``transport.write`` per request,
no task per request (a future and a timer handle at most), headers decoded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import cast

import httptools

from .errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    ReadTimeout,
    RemoteProtocolError,
    connect_error,
)
from .sclient import BODY_METHODS, OWN_HEADERS, host_label, parse_origin, split_url

__all__ = ["AsyncHTTPClient", "AsyncResponse"]

_HIGH_WATER = 256 * 1024  # pause reading when this much body is buffered unread
_Waiter = asyncio.Future[None]
_OWN_LENGTHS = frozenset(len(name) for name in OWN_HEADERS)
_URL_CACHE_SIZE = 1024


class _Stale(RemoteProtocolError):
    """Closed before any response byte: on a reused connection, retried once."""


class _Conn(asyncio.Protocol):
    """One connection; the state of its current request lives here too."""

    __slots__ = (
        "buf", "buffered", "busy", "closed", "complete", "exc", "got_bytes", "head_done",
        "headers", "holds_slot", "idle_since", "in_idle", "informational", "keep_alive",
        "parser", "parser_dirty", "paused", "pool", "raw_headers", "reused", "skip_body",
        "status", "transport", "waiter",
    )  # fmt: skip

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = self.in_idle = self.busy = self.reused = self.parser_dirty = False
        self.holds_slot = True  # counted in pool.count until lost()
        self.idle_since = 0.0
        self.waiter: _Waiter | None = None
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
        loop = self.pool.loop
        waiter = self.waiter = loop.create_future()
        timer = None if deadline is None else loop.call_at(deadline, self._on_timeout)
        try:
            await waiter
        except asyncio.CancelledError:
            self.close()  # never hand a half-read connection back to the pool
            raise
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def _on_timeout(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            what = "more of the response body" if self.head_done else "the response"
            self._fail(ReadTimeout(f"timed out waiting for {what} from {self.pool.label}"))

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
        self.pool.lost(self)
        if self.busy and not self.complete and self.exc is None:
            h, label = self.headers, self.pool.label
            if self.head_done and exc is None and "content-length" not in h:
                # no length and not chunked: a read-until-close body, EOF is its end
                self.complete = "chunked" not in h.get("transfer-encoding", "")
            if self.complete:
                pass
            elif not self.got_bytes:
                self.exc = _Stale(f"{label} closed the connection without sending a response")
            else:
                why = f": {exc}" if exc is not None else ""
                self.exc = RemoteProtocolError(f"{label} closed the connection mid-response{why}")
        self._wake()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.complete:  # a second response in one read: refuse it
            raise RemoteProtocolError("unexpected extra response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx informational: skip, the real response follows
            self.informational = True
            self.raw_headers = []
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            old = headers.get(name)
            headers[name] = value if old is None else f"{old}, {value}"
        self.status = status
        self.headers = headers
        self.head_done = True
        if self.skip_body:  # HEAD: no body whatever the headers say
            self.complete = self.parser_dirty = True
            self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    def on_body(self, body: bytes) -> None:
        if not self.skip_body:
            self.buf.append(body)
            self.buffered += len(body)
            if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
        elif self.head_done and not self.skip_body:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()
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

    async def acquire(self, deadline: float | None, fresh: bool) -> _Conn:
        idle = self.idle
        if idle and not fresh:
            oldest_ok = self.loop.time() - self.client._idle_timeout
            while idle:
                conn = idle.pop()
                conn.in_idle = False
                if conn.idle_since >= oldest_ok:
                    conn.reused = True
                    return conn
                conn.close()
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


class AsyncResponse:
    """A response whose head has arrived; the body is read with read() or iter_bytes()."""

    __slots__ = ("_aborted", "_conn", "headers", "status")

    def __init__(self, conn: _Conn) -> None:
        self.status: int = conn.status
        self.headers: dict[str, str] = conn.headers
        self._conn: _Conn | None = conn
        self._aborted = False

    async def read(self, timeout: float | None = None) -> bytes:
        """The rest of the body; ``timeout`` bounds each wait for more bytes (ReadTimeout)."""
        conn = self._conn
        if conn is not None and conn.complete:  # all here already (the usual small response)
            data = b"".join(conn.buf)
            conn.drop_buffer()
            self._close(True)
            return data
        pieces = [piece async for piece in self.iter_bytes(timeout)]
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def iter_bytes(self, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Body pieces as they arrive; ``timeout`` = max idle wait between pieces."""
        conn = self._conn
        if conn is None:
            if self._aborted:
                raise RuntimeError("the response was closed before its body was read")
            return
        try:
            while (piece := await conn.next_piece(timeout)) is not None:
                yield piece
        except BaseException:  # incl. cancellation and a consumer that gave up (GeneratorExit)
            self._close(False)
            raise
        self._close(True)

    def _close(self, reuse: bool) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            if reuse and conn.keep_alive and not conn.closed:
                conn.pool.release(conn)
            else:
                self._aborted = not reuse
                conn.close()

    async def aclose(self) -> None:
        """Reuse the connection if the whole body arrived, else close it (cancels upstream)."""
        conn = self._conn
        if conn is not None and conn.complete:
            conn.drop_buffer()
            self._close(True)
        else:
            self._close(False)

    async def __aenter__(self) -> AsyncResponse:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if self._conn is not None:  # dropped without aclose(): don't leak the pool slot
            with contextlib.suppress(Exception):
                self._conn.close()


def _build_request(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]], body: bytes
) -> bytes:
    lines: list[str] = []
    for name, value in headers:
        if len(name) in _OWN_LENGTHS and name.lower() in OWN_HEADERS:
            if len(name) == 4:  # Host: the caller's wins; the length we compute
                host = value
            continue
        lines.append(f"{name}: {value}\r\n")
    if body or method in BODY_METHODS:
        lines.append(f"Content-Length: {len(body)}\r\n")
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{''.join(lines)}\r\n"
    crlf = len(lines) + 3
    if head.count("\n") != crlf or head.count("\r") != crlf or " " in target or " " in method:
        raise ValueError("CR, LF or space in the method, URL or a header")
    data = head.encode()
    return data + body if body else data


class AsyncHTTPClient:
    """HTTP/1.1 client with a per-(scheme, host, port) keep-alive pool, for one event loop."""

    def __init__(
        self,
        *,
        max_connections_per_host: int = 256,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self._max_per_host = max_connections_per_host
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._idle_timeout = idle_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._urls: dict[str, tuple[_Pool, str, str]] = {}  # url -> pool, Host, target
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> AsyncResponse:
        """Send a request; return once the response head arrived.

        ``timeout`` bounds waiting for a pooled connection + connecting + the response head.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or another loop: connections don't cross loops
            self._drop_pools()
            self._loop = loop
        pool, host, target = self._urls.get(url) or self._add_url(url)
        data = _build_request(method, target, host, headers, body)
        deadline = None if timeout is None else loop.time() + timeout
        skip_body = method == "HEAD"
        conn = await pool.acquire(deadline, False)
        try:
            await self._exchange(conn, data, skip_body, deadline)
        except _Stale as e:
            if not conn.reused:
                raise RemoteProtocolError(str(e)) from None
            conn = await pool.acquire(deadline, True)  # the stale keep-alive race: retry once
            try:
                await self._exchange(conn, data, skip_body, deadline)
            except _Stale as e2:
                raise RemoteProtocolError(str(e2)) from None
        return AsyncResponse(conn)

    @staticmethod
    async def _exchange(conn: _Conn, data: bytes, skip_body: bool, deadline: float | None) -> None:
        if not conn.send(data, skip_body):
            raise _Stale(f"connection to {conn.pool.label} was closed")
        while not conn.head_done:
            conn.check()
            await conn.wait(deadline)

    def _add_url(self, url: str) -> tuple[_Pool, str, str]:
        if self._closed:
            raise ConnectError("the AsyncHTTPClient is closed")
        origin, target = split_url(url)
        scheme, host, port, netloc = parse_origin(origin)
        key = (scheme, host.lower(), port)
        pool = self._pools.get(key)
        if pool is None:
            if scheme == "https" and self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            ctx = self._ssl_context if scheme == "https" else None
            pool = self._pools[key] = _Pool(self, host, port, ctx)
        entry = (pool, netloc, target)
        if len(self._urls) < _URL_CACHE_SIZE:
            self._urls[url] = entry
        return entry

    def _drop_pools(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        pools = list(self._pools.values())
        self._pools.clear()
        self._urls.clear()
        for pool in pools:
            with contextlib.suppress(RuntimeError):  # that loop may be closed already
                pool.shutdown()

    def _arm_sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sweep is None:
            self._sweep = loop.call_later(self._idle_timeout, self._run_sweep)

    def _run_sweep(self) -> None:
        """Close connections idle longer than idle_timeout."""
        self._sweep = None
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        oldest_ok = loop.time() - self._idle_timeout
        due: list[float] = []
        for pool in self._pools.values():
            while pool.idle and pool.idle[0].idle_since < oldest_ok:
                pool.idle[0].close()
            if pool.idle:
                due.append(pool.idle[0].idle_since + self._idle_timeout)
        if due:
            self._sweep = loop.call_at(min(due), self._run_sweep)

    async def aclose(self) -> None:
        """Close every connection; waiting requests fail, later ones raise ConnectError."""
        self._closed = True
        self._drop_pools()
        await asyncio.sleep(0)  # let the transports finish closing
