"""SyncHTTPClient over loopback sockets: requests, bodies, connection reuse and retries."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from tests.http.sclient_helpers import CHUNKED, Conn, Server, keep_alive, ok
from tests.http.sclient_helpers import client as client  # a fixture
from tests.http.sclient_helpers import serve as serve  # a fixture

from tokenway.http.sclient import SyncHTTPClient


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
