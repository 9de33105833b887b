"""Issue 11, item 4: a request's head and body have deadlines that trickled bytes do not
reset (408 and close); the keep-alive idle timeout still closes silent connections."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Iterator

import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.security.wire import connect, parse_response, read_until_close

from tokenway.emulator import Emulator
from tokenway.http.server import HTTPServer, Request, Response, ServerLimits

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture(scope="module")
def impatient(emulator: Emulator) -> Iterator[RunningProxy]:
    """A proxy that gives a head 1 s and a body 1 s (plus its size at 1 KiB/s)."""
    config = proxy_config(
        emulator.base_url, header_timeout=1.0, body_timeout=1.0, min_body_rate=1024
    )
    with running_proxy(config) as running:
        yield running


def trickle(sock: socket.socket, data: bytes, every: float, until: float) -> bool:
    """Send ``data`` a byte at a time; False once the server answered or closed."""
    for byte in data:
        if time.monotonic() > until:
            return True
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return False
        sock.settimeout(every)
        try:
            if sock.recv(1, socket.MSG_PEEK):
                return False  # the server answered
        except TimeoutError:
            continue
    return True


def test_a_head_trickled_a_byte_at_a_time_gets_408_at_its_deadline(
    impatient: RunningProxy,
) -> None:
    with connect(impatient.port) as sock:
        started = time.monotonic()
        trickle(sock, HEAD + b"x" * 200, every=0.1, until=started + 4.0)
        elapsed = time.monotonic() - started
        response = parse_response(read_until_close(sock, 2.0))
    assert response.status == 408
    assert response.error()["type"] == "invalid_request_error"
    assert response.header("connection") == "close"
    assert 0.9 < elapsed < 2.5  # 1 s however the bytes trickle (the timer looks every 1 s)


def test_the_first_head_counts_from_the_connection_opening(impatient: RunningProxy) -> None:
    with connect(impatient.port) as sock:
        started = time.monotonic()
        time.sleep(0.6)  # silent, but within the 5 s keep-alive idle timeout
        sock.sendall(HEAD)
        response = parse_response(read_until_close(sock, 4.0))
        elapsed = time.monotonic() - started
    assert response.status == 408
    assert elapsed < 2.5


def test_a_body_trickled_below_the_minimum_rate_gets_408(impatient: RunningProxy) -> None:
    body = b'{"model": "llama-3.1-8b-instruct", "messages": []}' * 4  # 200 bytes: 1 + 1 + 0.2 s
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with connect(impatient.port) as sock:
        started = time.monotonic()
        sock.sendall(head)
        trickle(sock, body, every=0.1, until=started + 5.0)
        elapsed = time.monotonic() - started
        response = parse_response(read_until_close(sock, 2.0))
    assert response.status == 408
    assert 2.0 < elapsed < 4.0


async def _silent_sockets_close_at_the_idle_timeout(count: int) -> float:
    async def handler(request: Request) -> Response:
        return Response(body=b"ok")

    server = HTTPServer(
        handler,
        keepalive_timeout=0.5,
        limits=ServerLimits(header_timeout=5.0, max_connections=3000),
    )
    await server.start()
    loop = asyncio.get_running_loop()
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", server.port))
            socks.append(sock)
        started = time.monotonic()
        for sock in socks:
            assert await asyncio.wait_for(loop.sock_recv(sock, 1), 3.0) == b""
        return time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
        await server.shutdown(1.0)


def test_2000_silent_sockets_are_closed_at_the_idle_timeout() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 8192) < 4400:
        pytest.skip("needs 4,400 file descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    try:
        elapsed = asyncio.run(_silent_sockets_close_at_the_idle_timeout(2000))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert elapsed < 2.5
