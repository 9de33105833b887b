"""Issue 11, item 9's HTTP cases and item 8's half-close: request lines and Host as RFC 9112
has them (400 and close otherwise), a client that half-closes after its request still gets
its answer, and the 413's message is one sentence."""

from __future__ import annotations

import socket
import time

import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.security.wire import (
    WireResponse,
    connect,
    exchange,
    parse_response,
    read_until_close,
    request_bytes,
)

from tokenway.emulator import Emulator, FaultConfig

CHAT = b'{"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "Hi"}]}'


def refused_and_closed(port: int, raw: bytes) -> WireResponse:
    started = time.monotonic()
    response = exchange(port, raw, deadline=4.0)
    assert time.monotonic() - started < 2.0, "the connection was left open"
    assert response.header("connection") == "close"
    assert response.error()["type"] == "invalid_request_error"
    return response


@pytest.mark.parametrize("line", [b"GET /health/liveliness", b"GET /"])
def test_an_http_0_9_request_line_is_400(proxy: RunningProxy, line: bytes) -> None:
    assert refused_and_closed(proxy.port, line + b"\r\n\r\n").status == 400


def test_an_http_1_1_request_without_host_is_400(proxy: RunningProxy) -> None:
    response = refused_and_closed(proxy.port, b"GET /health/liveliness HTTP/1.1\r\n\r\n")
    assert response.status == 400
    assert "Host" in response.error()["message"]


def test_two_host_headers_are_400(proxy: RunningProxy) -> None:
    raw = b"GET /health/liveliness HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    assert refused_and_closed(proxy.port, raw).status == 400


def test_http_1_0_needs_no_host(proxy: RunningProxy) -> None:
    assert exchange(proxy.port, b"GET /health/liveliness HTTP/1.0\r\n\r\n").status == 200


def test_an_http_2_0_request_line_is_505(proxy: RunningProxy) -> None:
    response = exchange(proxy.port, b"GET /health/liveliness HTTP/2.0\r\nHost: a\r\n\r\n")
    assert response.status == 505


def test_a_client_that_half_closes_after_its_request_gets_the_answer(
    proxy: RunningProxy, clean_emulator: Emulator
) -> None:
    clean_emulator.faults = FaultConfig(latency_ms=100)  # the FIN arrives mid-request
    with connect(proxy.port) as sock:
        sock.sendall(request_bytes("POST", "/v1/chat/completions", CHAT))
        sock.shutdown(socket.SHUT_WR)
        data = read_until_close(sock, 5.0)
    # an interim 100 first: it probes whether the client only half-closed
    response = parse_response(data.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"))
    assert response.status == 200, data[:300]
    assert response.json()["choices"][0]["message"]["content"]
    assert response.rest == b""


def test_the_413_message_is_one_sentence(emulator: Emulator) -> None:
    with running_proxy(proxy_config(emulator.base_url, max_request_size_mb=0.001)) as small:
        raw = request_bytes("POST", "/v1/chat/completions", b"x" * 2048)
        response = exchange(small.port, raw)
    assert response.status == 413
    message = response.error()["message"]
    assert message == "Request body too large: it is larger than this proxy accepts."
