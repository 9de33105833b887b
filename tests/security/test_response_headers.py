"""Issue 11, item 1: client input echoed in response headers cannot split the response.

Every attempt goes through the real proxy over a raw socket; the answer must be one intact
response (the status a harmless request of the same kind gets, exactly the expected
headers, nothing after its body) and never a 500.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import orjson
import pytest
from tests.proxy.conftest import RunningProxy, proxy_config, running_proxy
from tests.security.wire import (
    WireResponse,
    connect,
    parse_response,
    read_until_close,
    send_json,
)
from tests.security.wire import request_bytes as build_request

from tokenway.emulator import Emulator, FaultConfig

SERVED = "llama-3.1-8b-instruct"

# What every chat answer carries, in order: the server's own headers around the app's.
_NOT_FOUND_HEADERS = [
    "date",
    "connection",
    "content-type",
    "x-request-id",
    "x-tokenway-model-group",
    "x-tokenway-deployment",
    "x-tokenway-attempted-retries",
    "x-tokenway-attempted-fallbacks",
    "x-litellm-model-group",
    "x-litellm-model-id",
    "x-litellm-attempted-retries",
    "x-litellm-attempted-fallbacks",
    "x-litellm-max-retries",
    "content-length",
]
_SERVED_HEADERS = [
    "date",
    "connection",
    "content-type",
    "x-request-id",
    "x-tokenway-overhead-ms",
    "x-tokenway-upstream-model",
    "x-litellm-call-id",
    "x-litellm-version",
    "x-tokenway-response-cost",
    "x-litellm-response-cost",
    *_NOT_FOUND_HEADERS[4:-1],
    "x-litellm-timeout",  # the deployment's
    "content-length",
]

INJECTED_MODELS = {
    "crlf": "x\r\nSet-Cookie: injected=1",
    "bare-lf": "x\nSet-Cookie: injected=1",
    "bare-cr": "x\rSet-Cookie: injected=1",
    "nul": "x\x00Set-Cookie: injected=1",
    "other-control": "x\x0bSet-Cookie: injected=1\x7f",
    "second-response": (
        "x\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok"
    ),
    "not-latin-1": "\u2603",
    "latin-1-but-not-ascii": "caf\u00e9",
}


def chat(port: int, model: str, extra_headers: str = "") -> WireResponse:
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
    raw = build_request(
        "POST", "/v1/chat/completions", body, "Connection: close\r\n" + extra_headers
    )
    with connect(port) as sock:
        sock.sendall(raw)
        return parse_response(read_until_close(sock))


def assert_intact(response: WireResponse, status: int, names: list[str]) -> None:
    assert response.status == status, response.head
    assert [name for name, _ in response.headers] == names, response.head
    lines = response.head.lower().split(b"\r\n")
    assert not any(line.startswith(b"set-cookie") for line in lines)
    assert not any(line.startswith(b"http/") for line in lines[1:])
    assert response.rest == b"", response.rest[:200]
    for byte in (b"\n", b"\r", b"\0"):  # in no header line, only between them
        assert all(byte not in line for line in response.head.split(b"\r\n"))


@pytest.mark.parametrize("model", INJECTED_MODELS.values(), ids=INJECTED_MODELS.keys())
def test_an_injected_model_leaves_the_response_intact(proxy: RunningProxy, model: str) -> None:
    response = chat(proxy.port, model)
    assert_intact(response, 404, _NOT_FOUND_HEADERS)
    assert response.error()["code"] == "model_not_found"
    # The alias comes back percent-encoded, and decodes to what was sent.
    echoed = response.header("x-tokenway-model-group")
    assert echoed is not None and echoed.isascii() and echoed.isprintable()
    assert unquote(echoed) == model


def test_a_1mb_model_is_refused_without_echoing_it(proxy: RunningProxy) -> None:
    response = chat(proxy.port, "a" * 1_000_000)
    assert_intact(response, 400, ["date", "connection", "content-type", "x-request-id",
                                  "content-length"])  # fmt: skip
    assert response.error()["param"] == "model"
    assert len(response.head) + len(response.body) < 1024


def test_a_long_unserved_model_comes_back_as_a_short_header(proxy: RunningProxy) -> None:
    response = chat(proxy.port, "\u2603" * 256)  # 256 characters, 2,304 once encoded
    assert_intact(response, 404, _NOT_FOUND_HEADERS)
    echoed = response.header("x-tokenway-model-group")
    assert echoed is not None and len(echoed) <= 256
    assert unquote(echoed) == "\u2603" * (256 // 9)  # whole characters only


def test_a_served_model_is_echoed_as_sent(proxy: RunningProxy) -> None:
    response = chat(proxy.port, SERVED)
    assert_intact(response, 200, _SERVED_HEADERS)
    assert response.header("x-tokenway-model-group") == SERVED


@pytest.mark.parametrize(
    "request_id",
    [
        "a\xffb",  # obs-text: latin-1, but not an id
        "an id with spaces",
        "x" * 129,
        "<script>",
    ],
)
def test_an_unusual_request_id_is_replaced_not_echoed(proxy: RunningProxy, request_id: str) -> None:
    response = chat(proxy.port, SERVED, f"X-Request-Id: {request_id}\r\n")
    assert_intact(response, 200, _SERVED_HEADERS)
    echoed = response.header("x-request-id")
    assert echoed is not None and echoed != request_id and echoed.isalnum()


def test_a_usual_request_id_is_echoed(proxy: RunningProxy) -> None:
    request_id = "req_0f3c2a9e-1b7d-4c55-9a0e-7d2f3c4b5a69:1.2"
    response = chat(proxy.port, SERVED, f"X-Request-Id: {request_id}\r\n")
    assert_intact(response, 200, _SERVED_HEADERS)
    assert response.header("x-request-id") == request_id


@pytest.mark.parametrize(
    "line",
    [
        "X-Request-Id: abc\rSet-Cookie: injected=1\r\n",
        "X-Request-Id: abc\r\n Set-Cookie: injected=1\r\n",  # obs-fold
        "X-Request-Id: abc\x00Set-Cookie: injected=1\r\n",
    ],
    ids=["bare-cr", "obs-fold", "nul"],
)
def test_a_request_id_with_line_breaks_is_refused_by_the_parser(
    proxy: RunningProxy, line: str
) -> None:
    """Kept so: the request parser refuses these before any handler sees them."""
    response = chat(proxy.port, SERVED, line)
    assert response.status == 400
    assert response.error()["type"] == "invalid_request_error"
    assert b"set-cookie" not in response.head.lower()
    assert response.rest == b""


def test_an_upstream_retry_after_beyond_any_float_is_relayed_bounded(
    clean_emulator: Emulator,
) -> None:
    """An upstream's ``retry-after: 1000...0`` (400 digits) parses as inf: relayed as a
    day, not a 500. (Its own proxy: the 429 cools the deployment down.)"""
    clean_emulator.faults = FaultConfig(error_rate=1.0, error_status=429, retry_after_s=10**400)
    with running_proxy(proxy_config(clean_emulator.base_url)) as proxy:
        response = chat(proxy.port, SERVED)
    assert response.status == 429, response.body
    assert response.error()["type"] == "rate_limit_error"
    assert response.header("retry-after") == "86400"
    assert response.rest == b""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ONCE = ("content-length", "transfer-encoding", "connection", "date")


def _sent_names_are_tokens(response: WireResponse) -> None:
    lines = response.head.decode("latin-1").split("\r\n")[1:]
    names = [line.partition(":")[0] for line in lines]
    assert all(_TOKEN.fullmatch(name) for name in names), names
    assert all(names.count(name) <= 1 for name in _ONCE), names
    assert response.rest == b""


def test_every_header_name_the_proxy_sends_is_a_token(proxy: RunningProxy) -> None:
    """Names are constants of the proxy's code, so the server checks on each response
    only what could split it; this walks the proxy's kinds of answer instead."""
    port = proxy.port
    key = send_json(port, "POST", "/key/generate", {"rpm_limit": 50, "tpm_limit": 10**6})
    limited = f"Authorization: Bearer {key.json()['key']}\r\n"
    message = {"role": "user", "content": "Hi"}
    answers = [
        key,
        chat(port, SERVED),
        chat(port, "no-such-model"),
        send_json(port, "POST", "/v1/chat/completions", b"{not json"),
        send_json(port, "POST", "/v1/chat/completions", {"model": SERVED}, auth=""),
        send_json(
            port,
            "POST",
            "/v1/chat/completions",
            {"model": SERVED, "messages": [message]},
            auth=limited,
        ),
        send_json(
            port,
            "POST",
            "/v1/chat/completions",
            {"model": SERVED, "messages": [message], "stream": True},
        ),
        send_json(port, "GET", "/v1/chat/completions", b""),
    ]
    for path in (
        "/v1/models",
        "/health/liveliness",
        "/health/readiness",
        "/openapi.json",
        "/key/list",
    ):
        answers.append(send_json(port, "GET", path, b""))
    assert answers[5].header("x-ratelimit-limit-requests") == "50"  # a header block's
    assert {answer.status for answer in answers} >= {200, 400, 401, 404, 405}
    for answer in answers:
        _sent_names_are_tokens(answer)
