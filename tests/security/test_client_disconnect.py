"""Issue 11, item 8: a client that leaves cancels its upstream call.

The upstream here takes the request and never answers; the client closes its socket. The
proxy must close the upstream connection at once (not after its timeout), release the
deployment, and write a 499 ``client_disconnected`` row charged the prompt only. Only a
full close is tested: a half-close is not a disconnect (the server's ``eof_received``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from tests.proxy.conftest import RunningProxy
from tests.security.raw_upstream import (
    ALIAS,
    MESSAGES,
    ROLE,
    SSE_HEAD,
    T,
    UpstreamConn,
    answer,
    chunk,
    frame,
    http_response,
    proxy_for,
    raw_upstream,
)
from tests.security.wire import connect, request_bytes, send_json

from tokenway.tokens import prompt_floor


async def never_answers(conn: UpstreamConn) -> None:
    await conn.wait_closed_by_peer()


async def stream_never_starts(conn: UpstreamConn) -> None:
    conn.send(SSE_HEAD + chunk(b": waiting\n\n"))  # a head and a comment, never content
    await conn.wait_closed_by_peer()


def rows_of(proxy: RunningProxy) -> list[Any]:
    return [row for row in proxy.app.spend.recent if row.model_alias == ALIAS]


def wait_for(condition: Any, timeout: float = T) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize(
    ("script", "stream"),
    [(never_answers, False), (stream_never_starts, True)],
    ids=["plain", "stream-before-content"],
)
def test_a_client_that_leaves_closes_the_upstream_call_and_gets_a_499_row(
    script: Any, stream: bool
) -> None:
    body = orjson.dumps({"model": ALIAS, "messages": MESSAGES, "stream": stream})
    with raw_upstream(script) as upstream, proxy_for(upstream, timeout=60) as proxy:
        sock = connect(proxy.port)
        sock.sendall(request_bytes("POST", "/v1/chat/completions", body))
        assert upstream.received.wait(T)
        sock.close()
        left = time.monotonic()

        assert upstream.closed.wait(T), "the proxy kept the upstream call open"
        assert time.monotonic() - left < 2.0  # at once, not at the 60 s timeout
        assert wait_for(lambda: len(rows_of(proxy)) == 1)
        (row,) = rows_of(proxy)
        assert (row.status, row.error_code, row.stream) == (499, "client_disconnected", stream)
        # The upstream had the prompt: charged its floor, nothing more (module docstring).
        assert (row.prompt_tokens, row.completion_tokens) == (prompt_floor(MESSAGES), 0)
        assert row.cost is not None and row.cost > 0
        assert row.deployment is not None
        (stats,) = proxy.app.router.stats(ALIAS)
        assert stats.in_flight == 0  # the router let go of the deployment


def test_a_client_that_stays_gets_its_answer_after_a_slow_upstream() -> None:
    """The cancellation is for a client that left, not for a call that takes a while."""

    async def slow(conn: UpstreamConn) -> None:
        await asyncio.sleep(0.3)
        conn.send(http_response(200, answer("hi")))

    body = orjson.dumps({"model": ALIAS, "messages": MESSAGES})
    with raw_upstream(slow) as upstream, proxy_for(upstream) as proxy:
        sock = connect(proxy.port)
        sock.sendall(request_bytes("POST", "/v1/chat/completions", body))
        data = sock.recv(65536)
        sock.close()
        assert data.startswith(b"HTTP/1.1 200 ")
        assert not upstream.closed.is_set()  # the upstream connection went back to the pool


def test_a_stream_that_goes_silent_is_cut_at_its_idle_timeout() -> None:
    """A hung upstream holds its sockets only as long as a stream's idle bound (set short
    here with ``stream_timeout``; 60 s by default, not the SDK's 600)."""

    async def goes_silent(conn: UpstreamConn) -> None:
        conn.send(SSE_HEAD + chunk(ROLE + frame({"content": "Hi"})))
        await conn.wait_closed_by_peer()

    body = {"model": ALIAS, "messages": MESSAGES, "stream": True}
    with raw_upstream(goes_silent) as upstream, proxy_for(upstream, stream_timeout=0.5) as proxy:
        started = time.monotonic()
        response = send_json(proxy.port, "POST", "/v1/chat/completions", body)
        assert 0.4 < time.monotonic() - started < 3.0
        assert response.status == 200
        last = response.body.split(b"\n\n")[-2]
        assert orjson.loads(last.removeprefix(b"data: "))["error"]["type"] == "timeout"
        assert upstream.closed.wait(T)
