"""Sync HTTP/1.1 client: blocking sockets + httptools in a small thread-safe keep-alive pool.

The blocking twin of :mod:`.aclient`. Per request: one ``sendall`` (head and body in one
buffer), then ``recv_into`` a buffer owned by the connection, fed to an
``httptools.HttpResponseParser``, which parses the head and de-chunks the body in C.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType

import httptools

from ._head import ResponseHead, StaleConnection
from .errors import (
    ConnectError,
    ReadTimeout,
    RemoteProtocolError,
    build_request,
    connect_error,
    host_label,
    parse_origin,
    split_url,
)

__all__ = ["SyncHTTPClient", "SyncResponse"]

_PIECE = 64 * 1024  # the receive buffer: at most this much per socket read
_Key = tuple[str, str, int]
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_UNSET = -1.0  # a timeout no socket has: the first request sets its own


class _Conn(ResponseHead):
    """One blocking connection, and the parse state of the response being read on it."""

    __slots__ = (
        "buf", "complete", "got_bytes", "head_done", "headers", "informational",
        "keep_alive", "label", "parser", "parser_dirty", "pieces", "poller", "raw_headers",
        "skip_body", "sock", "status", "timeout",
    )  # fmt: skip

    def __init__(self, sock: socket.socket, label: str) -> None:
        self.sock, self.label = sock, label
        self.timeout: float | None = _UNSET
        self.buf = memoryview(bytearray(_PIECE))
        self.parser = httptools.HttpResponseParser(self)
        self.parser_dirty = False
        self.poller: select.poll | None = None
        if hasattr(select, "poll"):
            self.poller = select.poll()
            self.poller.register(sock, select.POLLIN)
        self.skip_body = self.got_bytes = self.head_done = self.complete = False
        self.keep_alive = self.informational = False
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headers: dict[str, str] = {}
        self.pieces: list[bytes] = []

    def exchange(self, data: bytes, skip_body: bool, timeout: float | None) -> None:
        """Send the request; return once the response head (past any 1xx) arrived."""
        if self.parser_dirty:
            self.parser = httptools.HttpResponseParser(self)
            self.parser_dirty = False
        self.skip_body = skip_body
        self.got_bytes = self.head_done = self.complete = self.keep_alive = False
        self.raw_headers = []
        self.pieces = []
        try:
            if timeout != self.timeout:
                self.sock.settimeout(timeout)
                self.timeout = timeout
            self.sock.sendall(data)
        except _GONE as e:
            raise StaleConnection(str(e)) from e
        except TimeoutError as e:
            raise ReadTimeout(f"timed out sending the request to {self.label}") from e
        except OSError as e:
            msg = f"sending the request to {self.label} failed: {e!r}"
            raise RemoteProtocolError(msg) from e
        while not self.head_done:
            self.fill()

    def fill(self) -> None:
        """One socket read, fed to the parser."""
        try:
            n = self.sock.recv_into(self.buf)
        except TimeoutError as e:
            raise ReadTimeout(f"timed out reading the response from {self.label}") from e
        except OSError as e:
            if not self.got_bytes and isinstance(e, _GONE):
                raise StaleConnection(str(e)) from e
            raise self._bad(repr(e)) from e
        if not n:
            self._at_eof()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(self.buf[:n])
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            if not self.complete:
                raise self._bad(repr(e)) from e
            self.keep_alive = False  # bytes after the response: the connection is unusable

    def _at_eof(self) -> None:
        if not self.got_bytes:
            raise StaleConnection("closed")
        if not self.head_done:
            raise self._bad("connection closed in the middle of the head")
        headers = self.headers
        if "content-length" in headers or "chunked" in headers.get("transfer-encoding", ""):
            raise RemoteProtocolError(f"{self.label} closed the connection mid-body")
        self.complete = True  # a read-until-close body: EOF is its end
        self.keep_alive = False

    def _bad(self, why: str) -> RemoteProtocolError:
        return RemoteProtocolError(f"bad or incomplete response from {self.label}: {why}")

    def take(self) -> bytes:
        """The body bytes received and not yet taken."""
        pieces = self.pieces
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        return data

    def dropped(self) -> bool:
        """An idle connection that is readable has been closed (or sent garbage)."""
        if self.poller is not None:
            return bool(self.poller.poll(0))
        return bool(select.select([self.sock], [], [], 0)[0])

    def close(self) -> None:
        self.keep_alive = False
        self.sock.close()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_body(self, body: bytes) -> None:
        if not self.skip_body:
            self.pieces.append(body)


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
        data = build_request(method, target, netloc, headers, body)
        key = (scheme, host.lower(), port)
        label = host_label(host, port)
        conn = self._checkout(key)
        for attempt in (0, 1):
            reused = conn is not None
            if conn is None:
                conn = self._connect(scheme, host, port, label, timeout)
            try:
                conn.exchange(data, method == "HEAD", timeout)
                return SyncResponse(self, key, conn)
            except StaleConnection:
                conn.close()
                conn = None
                if not reused or attempt:
                    msg = f"{label} closed the connection without sending a response"
                    raise RemoteProtocolError(msg) from None
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _connect(
        self, scheme: str, host: str, port: int, label: str, timeout: float | None
    ) -> _Conn:
        limit = self._connect_timeout if timeout is None else min(self._connect_timeout, timeout)
        try:
            sock = socket.create_connection((host, port), limit)
        except OSError as e:
            raise connect_error(e, host, label, limit) from e
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl_context is None:
                    self._ssl_context = ssl.create_default_context()
                sock = self._ssl_context.wrap_socket(sock, server_hostname=host)
        except OSError as e:
            sock.close()
            raise connect_error(e, host, label, limit) from e
        except BaseException:
            sock.close()
            raise
        return _Conn(sock, label)

    def _checkout(self, key: _Key) -> _Conn | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if not conn.dropped():
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

    __slots__ = ("_aborted", "_client", "_conn", "_key", "headers", "status")

    def __init__(self, client: SyncHTTPClient, key: _Key, conn: _Conn) -> None:
        self.status: int = conn.status
        self.headers: dict[str, str] = conn.headers
        self._client, self._key = client, key
        self._conn: _Conn | None = conn
        self._aborted = False

    def _live(self) -> _Conn | None:
        if self._conn is None and self._aborted:
            raise RuntimeError("the response was closed before its body was read")
        return self._conn

    def read(self) -> bytes:
        """The rest of the body."""
        conn = self._live()
        if conn is None:
            return b""
        try:
            while not conn.complete:
                conn.fill()
        except BaseException:
            self._abandon()
            raise
        data = conn.take()
        self._finish(conn)
        return data

    def iter_bytes(self) -> Iterator[bytes]:
        """Body pieces as they arrive (de-chunked), each from at most one socket read."""
        conn = self._live()
        if conn is None:
            return
        try:
            while True:
                if conn.pieces:
                    yield conn.take()
                if conn.complete:
                    break
                conn.fill()
        except BaseException:  # incl. GeneratorExit: the consumer gave up on the stream
            self._abandon()
            raise
        self._finish(conn)

    def _finish(self, conn: _Conn) -> None:
        self._conn = None
        if conn.keep_alive:
            self._client._release(self._key, conn)
        else:
            conn.close()

    def _abandon(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._aborted = True
            conn.close()

    def close(self) -> None:
        """Reuse the connection if the body was fully read, else close it."""
        conn = self._conn
        if conn is None:
            return
        if conn.complete and not conn.pieces:  # read to the end, or none (HEAD, 204)
            self._finish(conn)
        else:
            self._abandon()

    def __enter__(self) -> SyncResponse:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
