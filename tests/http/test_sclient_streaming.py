"""SyncHTTPClient over real loopback sockets: streamed bodies and closing them early."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from tests.http.sclient_helpers import CHUNKED, Conn, Server
from tests.http.sclient_helpers import client as client  # a fixture
from tests.http.sclient_helpers import serve as serve  # a fixture

from tokenway.http.errors import ReadTimeout
from tokenway.http.sclient import SyncHTTPClient


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
