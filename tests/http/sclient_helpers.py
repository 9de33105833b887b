"""Scripted threaded servers and the serve/client fixtures for the SyncHTTPClient tests.

Test modules import the fixtures ``as`` themselves (an explicit re-export).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import pytest

from tokenway.http.sclient import SyncHTTPClient

Request = tuple[str, dict[str, str], bytes]


class Conn:
    """One accepted connection, as seen by a scripted handler."""

    def __init__(self, server: Server, sock: socket.socket, n: int) -> None:
        self.server, self.sock, self.n = server, sock, n
        self.rfile = sock.makefile("rb")

    def read_request(self) -> Request | None:
        try:
            line = self.rfile.readline().decode()
            if not line:
                self.server.eof.set()
                return None
            headers = {}
            while (h := self.rfile.readline().decode()) not in ("\r\n", ""):
                name, value = h.rstrip("\r\n").split(": ", 1)
                headers[name] = value
            body = self.rfile.read(int(headers.get("Content-Length", 0)))
        except OSError:
            self.server.eof.set()
            return None
        req = (line.rstrip("\r\n"), headers, body)
        self.server.requests.append(req)
        return req

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait_eof(self) -> None:
        self.sock.settimeout(5)
        with contextlib.suppress(OSError):
            while self.rfile.read1(1024):
                pass
        self.server.eof.set()


Handler = Callable[[Conn], None]


class Server:
    """Threaded raw TCP server running ``handler(conn)`` per connection."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.conns = 0
        self.requests: list[Request] = []
        self.eof = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.socks: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.conns += 1
            thread = threading.Thread(target=self._run, args=(sock, self.conns), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket, n: int) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.socks.append(sock)
            self.handler(Conn(self, sock, n))
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
        self.listener.close()
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(2)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(handler, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def client() -> Iterator[SyncHTTPClient]:
    with SyncHTTPClient(connect_timeout=1.0) as c:
        yield c


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def keep_alive(response: bytes = b"") -> Handler:
    def handler(conn: Conn) -> None:
        while (req := conn.read_request()) is not None:
            conn.send(response or ok(req[2] or b"hello"))

    return handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
