"""SyncHTTPClient over real loopback sockets, against small scripted threaded servers."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tokenway.http.errors import (
    ConnectError,
    ReadTimeout,
    RemoteProtocolError,
    parse_origin,
    split_url,
)
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


def test_get_post_and_request_head(serve: Callable[..., Server], client: SyncHTTPClient) -> None:
    srv = serve(keep_alive())
    r = client.request("GET", srv.url + "/a/b?x=1#frag", headers=[("X-Key", "V a")])
    assert (r.status, r.headers, r.read()) == (200, {"content-length": "5"}, b"hello")
    with client.request("POST", srv.url + "/p", body=b'{"a":1}', timeout=2) as r:
        assert r.read() == b'{"a":1}'
    client.request("POST", srv.url, headers=[("content-length", "9"), ("Host", "x.test")]).read()
    (l1, h1, _), (l2, h2, b2), (_, h3, _) = srv.requests
    assert l1 == "GET /a/b?x=1 HTTP/1.1" and h1 == {"Host": f"127.0.0.1:{srv.port}", "X-Key": "V a"}
    assert l2 == "POST /p HTTP/1.1" and h2["Content-Length"] == "7" and b2 == b'{"a":1}'
    assert h3 == {"Host": "x.test", "Content-Length": "0"}
    assert srv.conns == 1


@pytest.mark.parametrize(
    ("response", "reused"),
    [
        (ok(b"hello world", "X-A: 1\r\nx-a: 2\r\n"), True),
        (CHUNKED + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\n\r\nhello world", False),  # read until close
        (ok(b"hello world", "Connection: close\r\n"), False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world", False),
    ],
)
def test_bodies_and_reuse(
    serve: Callable[..., Server], client: SyncHTTPClient, response: bytes, reused: bool
) -> None:
    def handler(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.send(response)
            if b"Content-Length" not in response and b"chunked" not in response:
                return

    srv = serve(handler)
    for i in range(3):
        r = client.request("GET", srv.url, timeout=2)
        body = r.read() if i % 2 else b"".join(r.iter_bytes())
        assert body == b"hello world"
        if b"X-A" in response:
            assert r.headers["x-a"] == "1, 2"
        r.close()
    assert srv.conns == (1 if reused else 3)


def test_head_then_reuse(serve: Callable[..., Server], client: SyncHTTPClient) -> None:
    def handler(conn: Conn) -> None:
        while (req := conn.read_request()) is not None:
            head = req[0].startswith("HEAD")
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" if head else ok())

    srv = serve(handler)
    with client.request("HEAD", srv.url, timeout=2) as r:
        assert r.headers["content-length"] == "5"
    assert client.request("GET", srv.url, timeout=2).read() == b"hello"
    assert srv.conns == 1


def test_stale_keep_alive_retried(serve: Callable[..., Server], client: SyncHTTPClient) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(ok(b"first"))
        if conn.n == 1:  # the next request arrives on a connection we close unanswered
            conn.read_request()
            return
        keep_alive(ok(b"again"))(conn)

    srv = serve(handler)
    assert client.request("GET", srv.url, timeout=2).read() == b"first"
    assert client.request("POST", srv.url, body=b"payload", timeout=2).read() == b"first"
    assert client.request("GET", srv.url, timeout=2).read() == b"again"
    assert srv.conns == 2
    assert [req[2] for req in srv.requests] == [b"", b"payload", b"payload", b""]


def test_server_closed_idle_connection(
    serve: Callable[..., Server], client: SyncHTTPClient
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(ok(b"%d" % conn.n))

    srv = serve(handler)
    assert client.request("GET", srv.url, timeout=2).read() == b"1"
    time.sleep(0.02)
    assert client.request("GET", srv.url, timeout=2).read() == b"2"


def test_no_retry_after_partial_response(
    serve: Callable[..., Server], client: SyncHTTPClient
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(ok())
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Le")

    srv = serve(handler)
    client.request("GET", srv.url, timeout=2).read()
    with pytest.raises(RemoteProtocolError):
        client.request("GET", srv.url, timeout=2)
    assert srv.conns == 1


@pytest.mark.parametrize("stream", [False, True])
def test_partial_body_is_an_error(
    serve: Callable[..., Server], client: SyncHTTPClient, stream: bool
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    srv = serve(handler)
    r = client.request("GET", srv.url, timeout=2)
    with pytest.raises(RemoteProtocolError):
        list(r.iter_bytes()) if stream else r.read()
    with pytest.raises(RuntimeError):
        r.read()


def test_fresh_connection_closed_without_response(
    serve: Callable[..., Server], client: SyncHTTPClient
) -> None:
    srv = serve(lambda conn: conn.read_request() and None)
    with pytest.raises(RemoteProtocolError, match="without sending a response"):
        client.request("GET", srv.url, timeout=2)
    assert srv.conns == 1


def test_malformed_response(serve: Callable[..., Server], client: SyncHTTPClient) -> None:
    srv = serve(keep_alive(b"HTTQ/9 nope\r\n\r\n"))
    with pytest.raises(RemoteProtocolError):
        client.request("GET", srv.url, timeout=2)


def test_refused_port(client: SyncHTTPClient) -> None:
    port = free_port()
    with pytest.raises(ConnectError, match=f"connection refused by 127.0.0.1:{port}"):
        client.request("GET", f"http://127.0.0.1:{port}/")


def test_head_timeout(serve: Callable[..., Server], client: SyncHTTPClient) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(ok())
        conn.read_request()
        conn.wait_eof()

    srv = serve(handler)
    assert client.request("GET", srv.url).read() == b"hello"
    t0 = time.monotonic()
    with pytest.raises(ReadTimeout):  # on the reused connection: its timeout is per request
        client.request("GET", srv.url, timeout=0.1)
    assert time.monotonic() - t0 < 0.5
    assert srv.eof.wait(1)  # the connection was closed


def test_streaming_is_incremental_and_idle_timeout(
    serve: Callable[..., Server], client: SyncHTTPClient
) -> None:
    go = threading.Event()

    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(CHUNKED + b"7\r\npiece 1\r\n")
        go.wait(2)
        conn.send(b"7\r\npiece 2\r\n")
        conn.wait_eof()  # never finishes the body

    srv = serve(handler)
    r = client.request("POST", srv.url, body=b"{}", timeout=0.2)
    pieces = r.iter_bytes()
    assert next(pieces) == b"piece 1"  # before the server sent piece 2
    go.set()
    assert next(pieces) == b"piece 2"
    with pytest.raises(ReadTimeout):
        next(pieces)
    assert srv.eof.wait(1)


def test_close_half_read_stream_closes_socket(
    serve: Callable[..., Server], client: SyncHTTPClient
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst")
        conn.wait_eof()

    srv = serve(handler)
    with client.request("GET", srv.url, timeout=2) as r:
        pieces = r.iter_bytes()
        assert next(pieces) == b"first"
    assert srv.eof.wait(1)
    del pieces


def test_threads_share_the_pool(serve: Callable[..., Server]) -> None:
    srv = serve(keep_alive())
    with SyncHTTPClient() as client:

        def work(i: int) -> bytes:
            return client.request("POST", srv.url, body=b"%d" % i, timeout=2).read()

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(work, range(40))) == [b"%d" % i for i in range(40)]
        assert 1 <= srv.conns <= 4
    assert srv.eof.wait(1)  # close() closed the idle connections


def test_max_idle_per_host(serve: Callable[..., Server]) -> None:
    srv = serve(keep_alive())
    with SyncHTTPClient(max_idle_per_host=1) as client:
        first = client.request("GET", srv.url, timeout=2)
        second = client.request("GET", srv.url, timeout=2)  # first is still open: a 2nd conn
        assert first.read() == second.read() == b"hello"  # one kept idle, one closed
        assert srv.eof.wait(1)
        for _ in range(3):
            client.request("GET", srv.url, timeout=2).read()
    assert srv.conns == 2


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-keyout", str(key), "-out", str(crt), "-days", "1", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, crt


def test_https(serve: Callable[..., Server], cert: tuple[Path, Path]) -> None:
    key, crt = cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    srv = serve(keep_alive(), server_ctx)
    with SyncHTTPClient(ssl_context=ssl.create_default_context(cafile=str(crt))) as client:
        for _ in range(2):
            assert client.request("GET", srv.url, timeout=2).read() == b"hello"
    assert srv.conns == 1
    with (
        SyncHTTPClient() as client,
        pytest.raises(ConnectError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"),
    ):
        client.request("GET", srv.url, timeout=2)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://h", ("http", "h", 80, "/")),
        ("HTTPS://Api.Example:8443/v1/x?y=/z#frag", ("https", "Api.Example", 8443, "/v1/x?y=/z")),
        ("http://h?q=1", ("http", "h", 80, "/?q=1")),
        ("https://[::1]:9/p", ("https", "::1", 9, "/p")),
    ],
)
def test_url_helpers(url: str, parts: tuple[object, ...]) -> None:
    origin, target = split_url(url)
    scheme, host, port, _ = parse_origin(origin)
    assert (scheme, host, port, target) == parts


@pytest.mark.parametrize(
    "url",
    ["/relative", "ftp://h/", "http://user:pw@h/", "http://h:99999/", "http://h:x/", "http://"],
)
def test_bad_urls(url: str, client: SyncHTTPClient) -> None:
    with pytest.raises(ValueError):
        client.request("GET", url)
