"""CORS over raw sockets (issue 12, item 7): off by default, exact when configured.

Before, every ``OPTIONS`` was a 405 and no answer carried ``access-control-*``, so a
browser page could not call the proxy at all. Configured, a preflight to any path is a
204 for an allowed origin, and nothing a client sends reaches a header unchecked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy, proxy_config, running_proxy
from tests.security.wire import WireResponse, exchange, request_bytes

from tokenway.emulator import Emulator

APP = "https://app.example"
CHAT = {
    "model": "llama-3.1-8b-instruct",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 2,
}


@pytest.fixture(scope="module")
def cors_proxy(emulator: Emulator) -> Iterator[RunningProxy]:
    config = proxy_config(emulator.base_url, cors_allow_origins=[APP], cors_max_age=120)
    with running_proxy(config) as running:
        yield running


def _preflight(
    port: int, origin: str, path: str = "/v1/chat/completions", extra: str = "", auth: str = ""
) -> WireResponse:
    """A browser's preflight: no credentials (``auth`` only to see how routing answers)."""
    headers = (
        f"Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n{extra}Connection: close\r\n"
    )
    return exchange(port, request_bytes("OPTIONS", path, None, headers, auth=auth))


def _cors_headers(response: WireResponse) -> dict[str, str]:
    return {name: value for name, value in response.headers if name.startswith("access-control-")}


def _chat_from(
    port: int, origin: str, auth: str = f"Authorization: Bearer {MASTER_KEY}\r\n"
) -> WireResponse:
    import orjson

    body = orjson.dumps(CHAT)
    headers = f"Origin: {origin}\r\nConnection: close\r\n"
    return exchange(port, request_bytes("POST", "/v1/chat/completions", body, headers, auth=auth))


def test_a_preflight_from_an_allowed_origin_is_answered(cors_proxy: RunningProxy) -> None:
    started = time.monotonic()
    answer = _preflight(
        cors_proxy.port,
        APP,
        extra="Access-Control-Request-Headers: Authorization, Content-Type\r\n",
    )
    assert time.monotonic() - started < 1.0  # answered at once: no auth, no upstream
    assert answer.status == 204 and answer.body == b""
    assert _cors_headers(answer) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "authorization, content-type",
        "access-control-max-age": "120",
    }
    assert "origin" in (answer.header("vary") or "")
    for path in ("/v1/models", "/key/generate", "/no/such/route"):  # any route
        assert _preflight(cors_proxy.port, APP, path).status == 204


def test_a_disallowed_origin_gets_no_cors_headers(cors_proxy: RunningProxy) -> None:
    for origin in ("https://evil.example", "https://app.example.evil", "null"):
        answer = _preflight(cors_proxy.port, origin)
        assert answer.status == 204 and not _cors_headers(answer)
        served = _chat_from(cors_proxy.port, origin)
        assert served.status == 200 and not _cors_headers(served)


def test_requested_headers_are_echoed_only_when_they_are_tokens(cors_proxy: RunningProxy) -> None:
    for hostile in ("x-a; evil=1", "x-a, <script>", "x" * 2000, "a b"):
        answer = _preflight(
            cors_proxy.port, APP, extra=f"Access-Control-Request-Headers: {hostile}\r\n"
        )
        assert answer.status == 204
        allowed = answer.header("access-control-allow-headers")
        assert allowed == "authorization, content-type, x-request-id", hostile
        assert hostile.encode() not in answer.head


def test_answers_to_an_allowed_origin_carry_allow_origin(cors_proxy: RunningProxy) -> None:
    served = _chat_from(cors_proxy.port, APP.upper().replace("HTTPS", "https"))
    assert served.status == 200
    assert served.header("access-control-allow-origin") == APP
    assert "x-request-id" in (served.header("access-control-expose-headers") or "")
    assert served.header("vary") == "origin"
    refused = _chat_from(cors_proxy.port, APP, auth="Authorization: Bearer wrong\r\n")
    assert refused.status == 401  # a page must be able to read why it was refused
    assert refused.header("access-control-allow-origin") == APP


def test_any_origin_is_star_not_an_echo(emulator: Emulator) -> None:
    config = proxy_config(emulator.base_url, cors_allow_origins=["*"])
    with running_proxy(config) as running:
        answer = _preflight(running.port, "https://whoever.example")
        assert answer.header("access-control-allow-origin") == "*"
        assert b"whoever" not in answer.head
        assert (
            _chat_from(running.port, "https://x.example").header("access-control-allow-origin")
            == "*"
        )
