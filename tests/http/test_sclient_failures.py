"""SyncHTTPClient over real loopback sockets: broken responses, refused connections, timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from tests.http.sclient_helpers import Conn, Server, free_port, keep_alive, ok
from tests.http.sclient_helpers import client as client  # a fixture
from tests.http.sclient_helpers import serve as serve  # a fixture

from tokenway.http.errors import ConnectError, ReadTimeout, RemoteProtocolError
from tokenway.http.sclient import SyncHTTPClient


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
