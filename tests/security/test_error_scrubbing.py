"""Issue 11, item 9 (the key part): an upstream error that quotes the deployment's key, or
anything that looks like a bearer token or an ``sk-`` key, reaches neither the client nor
the logs; the rest of the message still does, with ``[redacted]`` in its place."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from tests.security.raw_upstream import (
    ALIAS,
    MESSAGES,
    ROLE,
    SSE_HEAD,
    UPSTREAM_KEY,
    UpstreamConn,
    chunk,
    frame,
    http_response,
    proxy_for,
    raw_upstream,
)
from tests.security.wire import send_json

OTHER_TOKEN = "tok_9d8c7b6a5f4e3d2c1b0a"  # some other bearer token the upstream echoes
SK_KEY = "sk-proj-a1B2c3D4e5F6g7H8"
LEAKY = (
    f"model not allowed for key {UPSTREAM_KEY}; request had "
    f"Authorization: Bearer {OTHER_TOKEN}, and {SK_KEY} is revoked"
)
SECRETS = (UPSTREAM_KEY, OTHER_TOKEN, SK_KEY)


def leaky_error(status: int) -> Any:
    body = orjson.dumps({"error": {"message": LEAKY, "type": "invalid_request_error"}})

    async def script(conn: UpstreamConn) -> None:
        conn.send(http_response(status, body))

    return script


async def leaky_stream(conn: UpstreamConn) -> None:
    error = orjson.dumps({"error": {"message": LEAKY, "type": "server_error"}})
    text = frame({"content": "Hi"})
    conn.send(SSE_HEAD + chunk(ROLE + text) + chunk(b"event: error\ndata: " + error + b"\n\n"))
    conn.send(chunk(b""))


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
def test_an_upstream_error_quoting_keys_is_relayed_scrubbed(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with raw_upstream(leaky_error(status)) as upstream, proxy_for(upstream, 2) as proxy:
        for _ in range(8):  # enough failures for the router to cool a deployment down
            response = send_json(
                proxy.port, "POST", "/v1/chat/completions", {"model": ALIAS, "messages": MESSAGES}
            )
            assert response.status == status
            message = response.error()["message"]
            assert "model not allowed for key [redacted]" in message
            assert_clean(response.body.decode())
    if status >= 429:  # counted against the deployment: the router logged why it cooled
        assert "cooled down" in caplog.text and "[redacted]" in caplog.text
    assert_clean(caplog.text)


def test_an_error_frame_quoting_keys_is_relayed_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with raw_upstream(leaky_stream) as upstream, proxy_for(upstream) as proxy:
        response = send_json(
            proxy.port,
            "POST",
            "/v1/chat/completions",
            {"model": ALIAS, "messages": MESSAGES, "stream": True},
        )
        assert response.status == 200
        assert b"[redacted]" in response.body
        assert_clean(response.body.decode())
    assert "failed after content began" in caplog.text  # it was logged, scrubbed
    assert_clean(caplog.text)
