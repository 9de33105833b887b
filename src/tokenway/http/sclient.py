"""Sync HTTP/1.1 client: ``http.client`` connections in a small thread-safe keep-alive pool.

The blocking twin of :mod:`.aclient`.
"""

from __future__ import annotations

import http.client
import io
import select
import ssl
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import BinaryIO, cast

from .errors import (
    BODY_METHODS,
    OWN_HEADERS,
    ConnectError,
    HTTPError,
    ReadTimeout,
    RemoteProtocolError,
    connect_error,
    host_label,
    parse_origin,
    split_url,
)

__all__ = ["SyncHTTPClient", "SyncResponse"]

_PIECE = 64 * 1024
_Key = tuple[str, str, int]
_Conn = http.client.HTTPConnection


class _Stale(RemoteProtocolError):
    """Closed before any response byte (or while sending): retried once if reused."""


class _LineWatch:
    """Wraps the response file while http.client reads the head: it takes EOF as the end."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.truncated = False

    def readline(self, limit: int = -1) -> bytes:
        line = self.fp.readline(limit)
        if not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            self.truncated = True
        return line

    def close(self) -> None:
        self.fp.close()


class _Response(http.client.HTTPResponse):
    def begin(self) -> None:
        try:  # one raw read: tells "no byte at all" from "closed mid-response"
            first = self.fp.peek(1)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
            raise _Stale(str(e)) from e
        if not first:
            raise _Stale("closed")
        fp, watch = self.fp, _LineWatch(self.fp)
        self.fp = wrapped = cast(io.BufferedReader, watch)
        try:
            super().begin()
        finally:
            if self.fp is wrapped:  # (http.client may have closed it)
                self.fp = fp
        if watch.truncated:
            raise http.client.HTTPException("connection closed in the middle of the head")


class _HTTPConnection(http.client.HTTPConnection):
    response_class = _Response


class _HTTPSConnection(http.client.HTTPSConnection):
    response_class = _Response


def _dropped(conn: _Conn) -> bool:
    """An idle connection that is readable has been closed (or sent garbage)."""
    sock = conn.sock
    if sock is None:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _read_error(e: OSError | http.client.HTTPException, label: str) -> HTTPError:
    if isinstance(e, TimeoutError):
        return ReadTimeout(f"timed out reading the response from {label}")
    return RemoteProtocolError(f"bad or incomplete response from {label}: {e!r}")


class SyncHTTPClient:
    """Thread-safe HTTP/1.1 client with per-(scheme, host, port) keep-alive pools."""

    def __init__(
        self,
        *,
        max_idle_per_host: int = 32,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_idle = max_idle_per_host
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[_Conn]] = {}
        self._closed = False

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> SyncResponse:
        """Send a request; return once the response head arrived.

        ``timeout`` is the socket timeout for connecting and for each read.
        """
        if self._closed:
            raise ConnectError("the SyncHTTPClient is closed")
        origin, target = split_url(url)
        scheme, host, port, netloc = parse_origin(origin)
        key = (scheme, host.lower(), port)
        label = host_label(host, port)
        lines = [("Host", netloc)]
        for name, value in headers:
            lname = name.lower()
            if lname in OWN_HEADERS:
                if lname == "host":
                    lines[0] = ("Host", value)
                continue
            lines.append((name, value))
        if body or method in BODY_METHODS:
            lines.append(("Content-Length", str(len(body))))
        conn = self._checkout(key)
        for attempt in (0, 1):
            reused = conn is not None
            if conn is None:
                conn = self._connect(scheme, host, port, label, timeout)
            try:
                resp = self._exchange(conn, method, target, lines, body, timeout, label)
                return SyncResponse(self, key, conn, resp, label)
            except _Stale:
                conn.close()
                conn = None
                if not reused or attempt:
                    msg = f"{label} closed the connection without sending a response"
                    raise RemoteProtocolError(msg) from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    @staticmethod
    def _exchange(
        conn: _Conn,
        method: str,
        target: str,
        lines: list[tuple[str, str]],
        body: bytes,
        timeout: float | None,
        label: str,
    ) -> http.client.HTTPResponse:
        try:
            conn.sock.settimeout(timeout)
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in lines:
                conn.putheader(name, value)
            conn.endheaders(body or None)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
            raise _Stale(str(e)) from e
        except TimeoutError as e:
            raise ReadTimeout(f"timed out sending the request to {label}") from e
        except OSError as e:
            raise RemoteProtocolError(f"sending the request to {label} failed: {e!r}") from e
        try:
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            raise _read_error(e, label) from e

    def _connect(
        self, scheme: str, host: str, port: int, label: str, timeout: float | None
    ) -> _Conn:
        limit = self._connect_timeout if timeout is None else min(self._connect_timeout, timeout)
        conn: _Conn
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            conn = _HTTPSConnection(host, port, timeout=limit, context=self._ssl_context)
        else:
            conn = _HTTPConnection(host, port, timeout=limit)
        try:
            conn.connect()
        except OSError as e:
            conn.close()
            raise connect_error(e, host, label, limit) from e
        except BaseException:
            conn.close()
            raise
        return conn

    def _checkout(self, key: _Key) -> _Conn | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if not _dropped(conn):
                return conn
            conn.close()

    def _release(self, key: _Key, conn: _Conn) -> None:
        with self._lock:
            if not self._closed:
                idle = self._idle.setdefault(key, [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; connections held by open responses close with them."""
        with self._lock:
            self._closed = True
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def __enter__(self) -> SyncHTTPClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyncResponse:
    """A response whose head has arrived; the body is read with read() or iter_bytes()."""

    def __init__(
        self,
        client: SyncHTTPClient,
        key: _Key,
        conn: _Conn,
        resp: http.client.HTTPResponse,
        label: str,
    ) -> None:
        self.status: int = resp.status
        headers: dict[str, str] = {}
        for raw_name, value in resp.getheaders():
            name = raw_name.lower()
            old = headers.get(name)
            headers[name] = value if old is None else f"{old}, {value}"
        self.headers = headers
        self._client, self._key, self._label = client, key, label
        self._conn: _Conn | None = conn
        self._resp = resp
        self._aborted = False

    def read(self) -> bytes:
        """The rest of the body."""
        if self._conn is None:
            if self._aborted:
                raise RuntimeError("the response was closed before its body was read")
            return b""
        try:
            data = self._resp.read()
        except (OSError, http.client.HTTPException) as e:
            self._abandon()
            raise _read_error(e, self._label) from e
        except BaseException:
            self._abandon()
            raise
        self._finish()
        return data

    def iter_bytes(self) -> Iterator[bytes]:
        """Body pieces as they arrive (de-chunked), each from at most one socket read."""
        if self._conn is None:
            if self._aborted:
                raise RuntimeError("the response was closed before its body was read")
            return
        resp = self._resp
        try:
            while piece := resp.read1(_PIECE):
                yield piece
            if resp.length:  # read1 ends quietly on EOF before Content-Length was met
                raise RemoteProtocolError(f"{self._label} closed the connection mid-body")
            resp.read()  # let http.client see the end (marks the response closed)
        except (OSError, http.client.HTTPException) as e:
            self._abandon()
            raise _read_error(e, self._label) from e
        except BaseException:  # incl. GeneratorExit: the consumer gave up on the stream
            self._abandon()
            raise
        self._finish()

    def _finish(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            reusable = self._resp.isclosed() and not self._resp.will_close
            if reusable and conn.sock is not None:
                self._client._release(self._key, conn)
            else:
                self._resp.close()
                conn.close()

    def _abandon(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._aborted = True
            self._resp.close()
            conn.close()

    def close(self) -> None:
        """Reuse the connection if the body was fully read, else close it."""
        resp = self._resp
        if self._conn is not None and resp.length == 0 and not resp.chunked:
            resp.read()  # nothing left to read (HEAD, 204, drained): no I/O
        if resp.isclosed():
            self._finish()
        else:
            self._abandon()

    def __enter__(self) -> SyncResponse:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
