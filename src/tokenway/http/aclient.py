"""Async HTTP/1.1 client: an ``asyncio.Protocol`` + httptools with a keep-alive pool.

One of the two places in tokenway that does outbound network I/O (the other is
:mod:`.sclient`). Built for the proxy's hot path: one ``transport.write`` per request,
no task per request (a future and a timer handle at most), headers decoded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import cast

from ._aconn import _URL_CACHE_SIZE, _Conn, _Pool
from ._head import StaleConnection
from .errors import (
    ConnectError,
    RemoteProtocolError,
    build_request,
    parse_origin,
    split_url,
)

__all__ = ["AsyncHTTPClient", "AsyncResponse"]


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
                conn.drop_buffer()
                conn.pool.release(conn)
            else:
                self._aborted = not reuse
                conn.close()

    async def aclose(self) -> None:
        """Reuse the connection if the whole body arrived, else close it (cancels upstream)."""
        self._close(self._conn is not None and self._conn.complete)

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
        data = build_request(method, target, host, headers, body)
        deadline = None if timeout is None else loop.time() + timeout
        skip_body = method == "HEAD"
        conn = pool.take_idle() or await pool.acquire(deadline)
        try:
            await self._exchange(conn, data, skip_body, deadline)
        except StaleConnection as e:
            if not conn.reused:
                raise RemoteProtocolError(str(e)) from None
            conn = await pool.acquire(deadline)  # the stale keep-alive race: retry once
            try:
                await self._exchange(conn, data, skip_body, deadline)
            except StaleConnection as e2:
                raise RemoteProtocolError(str(e2)) from None
        return AsyncResponse(conn)

    @staticmethod
    async def _exchange(conn: _Conn, data: bytes, skip_body: bool, deadline: float | None) -> None:
        if not conn.send(data, skip_body):
            raise StaleConnection(f"connection to {conn.pool.label} was closed")
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
