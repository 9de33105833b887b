"""SyncHTTPClient's pool over loopback sockets: shared by threads, and its idle limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.http.sclient_helpers import Server, keep_alive
from tests.http.sclient_helpers import serve as serve  # a fixture

from tokenway.http.sclient import SyncHTTPClient


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
