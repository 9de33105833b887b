"""Issue 11, items 2 and 3 and the connection cap: what a client may send before it is
refused. Request target 8 KiB (414), a header line 8 KiB, the head 32 KiB, 100 header
lines (431); a header that never ends costs a bounded amount of memory; repeated header
names are refused in linear time while other clients go on being served; connections over
the cap get a 503 instead of exhausting the process's file descriptors."""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time

import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.security.server_process import rss_bytes, server_process, settle_rss
from tests.security.wire import (
    WireResponse,
    connect,
    exchange,
    parse_response,
    read_until_close,
    request_bytes,
)

from tokenway.emulator import Emulator

MIB = 1024 * 1024
LIVELINESS = b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def refused(port: int, raw: bytes) -> tuple[WireResponse, float]:
    """Send ``raw``; the answer and how long until the server closed the connection."""
    started = time.monotonic()
    response = exchange(port, raw, deadline=4.0)
    return response, time.monotonic() - started


def assert_refused(response: WireResponse, elapsed: float, status: int) -> None:
    assert response.status == status, response.head
    assert response.error()["type"] == "invalid_request_error"
    assert response.header("connection") == "close"
    assert elapsed < 2.0  # closed at once, not left to an idle timeout


def test_a_request_target_over_8_kib_is_414_and_closed(proxy: RunningProxy) -> None:
    ok, _ = refused(
        proxy.port, request_bytes("GET", "/v1/models?" + "a" * 8000, None, "Connection: close\r\n")
    )
    assert ok.status == 200
    response, elapsed = refused(proxy.port, request_bytes("GET", "/v1/models?" + "a" * 8200))
    assert_refused(response, elapsed, 414)


def test_a_header_line_over_8_kib_is_431_and_closed(proxy: RunningProxy) -> None:
    raw = request_bytes("GET", "/v1/models", None, f"X-Big: {'v' * (8 * 1024)}\r\n")
    response, elapsed = refused(proxy.port, raw)
    assert_refused(response, elapsed, 431)


def test_a_head_over_32_kib_is_431_and_closed(proxy: RunningProxy) -> None:
    lines = "".join(f"X-Part-{i}: {'v' * 7000}\r\n" for i in range(5))  # each line allowed
    response, elapsed = refused(proxy.port, request_bytes("GET", "/v1/models", None, lines))
    assert_refused(response, elapsed, 431)


def test_more_than_100_header_lines_is_431(proxy: RunningProxy) -> None:
    def with_extra(n: int) -> bytes:  # plus Host and Authorization
        lines = "".join(f"X-H{i}: v\r\n" for i in range(n))
        return request_bytes("GET", "/v1/models", None, lines + "Connection: close\r\n")

    ok, _ = refused(proxy.port, with_extra(97))  # 100 lines with Connection
    assert ok.status == 200
    response, elapsed = refused(proxy.port, with_extra(98))
    assert_refused(response, elapsed, 431)


def _send_endless_header(port: int, results: list[WireResponse | None]) -> None:
    """Up to 64 MiB of one header, 1 MiB at a time, until the server answers or closes."""
    block = b"a" * MIB
    with connect(port, timeout=10) as sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
            for _ in range(64):
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered
                sock.sendall(block)
        except OSError:
            pass  # the server closed (reset) the connection while we were sending
        data = read_until_close(sock, 5.0)
    results.append(parse_response(data) if data else None)


def test_eight_endless_64_mib_headers_cost_under_5_mb_and_get_431() -> None:
    with server_process() as (proc, port):
        for _ in range(20):  # warm up: first requests allocate what every request needs
            assert (
                exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").status
                == 200
            )
        before = settle_rss(proc.pid)
        results: list[WireResponse | None] = []
        senders = [
            threading.Thread(target=_send_endless_header, args=(port, results)) for _ in range(8)
        ]
        for sender in senders:
            sender.start()
        peak = before
        while any(s.is_alive() for s in senders):
            peak = max(peak, rss_bytes(proc.pid))
            time.sleep(0.01)
        after = settle_rss(proc.pid)

    assert [r.status if r else None for r in results] == [431] * 8
    assert peak - before < 5 * MIB, (before, peak)
    assert after - before < 5 * MIB, (before, after)


def _ping(port: int) -> float:
    with connect(port, timeout=2) as sock:
        started = time.monotonic()
        sock.sendall(LIVELINESS)
        data = b""
        while b'"status"' not in data:
            chunk = sock.recv(4096)
            assert chunk, "the liveliness connection closed"
            data += chunk
        return time.monotonic() - started


def test_400k_repeated_headers_are_refused_at_once_and_others_are_served(
    proxy: RunningProxy,
) -> None:
    flood = b"X-Dup: vvvvvvvvvv\r\n" * 400_000  # 7.6 MB
    head = b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    answered: list[tuple[float, bytes]] = []

    def attack() -> None:
        with connect(proxy.port, timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(head)
            reader = threading.Thread(
                target=lambda: answered.append((time.monotonic() - started, sock.recv(65536)))
            )
            reader.start()
            with contextlib.suppress(OSError):  # closed by the server after its answer
                sock.sendall(flood)
            reader.join(5)

    attacker = threading.Thread(target=attack)
    attacker.start()
    pings = [_ping(proxy.port) for _ in range(5)]
    attacker.join(15)

    assert answered, "no answer to the flood"
    elapsed, data = answered[0]
    assert parse_response(data).status == 431
    assert elapsed < 0.1
    assert max(pings) < 0.05, pings


def test_connections_over_the_cap_get_503_and_one_log_line(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tokenway.http")
    with running_proxy(proxy_config(emulator.base_url, max_connections=4)) as small:
        held = [connect(small.port) for _ in range(4)]
        time.sleep(0.05)  # let the server accept them
        over = [exchange(small.port, LIVELINESS, deadline=2.0) for _ in range(3)]
        for sock in held[:2]:
            sock.close()
        time.sleep(0.1)
        again = exchange(
            small.port, LIVELINESS.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        )
        for sock in held[2:]:
            sock.close()

    assert [r.status for r in over] == [503] * 3
    assert over[0].error()["type"] == "server_error"
    assert again.status == 200
    messages = [r.getMessage() for r in caplog.records if r.name == "tokenway.http"]
    assert len([m for m in messages if "refusing new ones" in m]) == 1, messages
    assert any("accepting connections again; 3 refused" in m for m in messages), messages
