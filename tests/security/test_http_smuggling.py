"""Issue 11's "already right, keep it so": request smuggling patterns get 400 and close,
and a body over the limit gets 413 before the server reads it."""

from __future__ import annotations

import time

import pytest
from tests.proxy.conftest import RunningProxy
from tests.security.wire import MASTER_AUTH, connect, exchange, parse_response, read_until_close

HEAD = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + MASTER_AUTH
BODY = '{"model": "llama-3.1-8b-instruct", "messages": []}'
SMUGGLED = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

CASES = {
    "content-length and transfer-encoding": (
        f"Content-Length: {len(BODY)}\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n"
    ),
    "two different content-lengths": (
        f"Content-Length: 5\r\nContent-Length: {len(BODY)}\r\n\r\n{BODY}"
    ),
    "xchunked": f"Transfer-Encoding: xchunked\r\n\r\n{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n",
    "chunked with a space before the colon": (
        f"Transfer-Encoding : chunked\r\n\r\n{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n"
    ),
    "chunked folded on a second line": (
        f"Transfer-Encoding:\r\n chunked\r\n\r\n{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n"
    ),
    "chunked, identity": (
        f"Transfer-Encoding: chunked, identity\r\n\r\n{len(BODY):x}\r\n{BODY}\r\n0\r\n\r\n"
    ),
    "a chunk size that is not hex": f"Transfer-Encoding: chunked\r\n\r\nzz\r\n{BODY}\r\n0\r\n\r\n",
    "a negative chunk size": f"Transfer-Encoding: chunked\r\n\r\n-5\r\n{BODY}\r\n0\r\n\r\n",
    "a chunk size that overflows": (
        f"Transfer-Encoding: chunked\r\n\r\n{'f' * 40}\r\n{BODY}\r\n0\r\n\r\n"
    ),
    "a chunk without its CRLF": "Transfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("tail", list(CASES.values()), ids=list(CASES))
def test_smuggling_patterns_are_400_and_close(proxy: RunningProxy, tail: str) -> None:
    started = time.monotonic()
    with connect(proxy.port) as sock:
        sock.sendall((HEAD + tail + SMUGGLED).encode())
        data = read_until_close(sock, 4.0)
    response = parse_response(data)
    assert response.status == 400, data[:300]
    assert response.header("connection") == "close"
    assert response.error()["type"] == "invalid_request_error"
    assert response.rest == b""  # nothing answered the smuggled request
    assert time.monotonic() - started < 3.0


def test_a_body_over_the_limit_is_413_before_it_is_sent(proxy: RunningProxy) -> None:
    head = HEAD + f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    response = exchange(proxy.port, head.encode(), deadline=3.0)  # no body byte sent
    assert response.status == 413
    assert response.header("connection") == "close"
