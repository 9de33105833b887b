"""Issue 11, item 6: an upstream's bad usage never turns a good answer into a 500.

A plain answer with unusable ``usage`` reaches the client as the upstream sent it, and
its row is charged an estimate marked ``usage_estimated``; a stream whose usage frame is
broken fails as an ordinary 502 before content, and ends with the explicit error frame
after it, with a row that says so (not ``client_disconnected``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from tests.proxy.conftest import RunningProxy
from tests.security.raw_upstream import (
    ALIAS,
    DONE,
    MESSAGES,
    ROLE,
    SSE_HEAD,
    UpstreamConn,
    answer,
    chunk,
    frame,
    http_response,
    proxy_for,
    raw_upstream,
    rows_for,
)
from tests.security.wire import WireResponse, send_json

from tokenway.tokens import prompt_floor, prompt_likely

CONTENT = "Hello, world! " * 7  # 98 characters: 25 tokens at four a token, rounded up
CHAT = {"model": ALIAS, "messages": MESSAGES}
GOOD_USAGE = {"prompt_tokens": 12, "completion_tokens": 25, "total_tokens": 37}


def replying(data: bytes, status: int = 200) -> Any:
    async def script(conn: UpstreamConn) -> None:
        conn.send(http_response(status, data))

    return script


def ask(proxy: RunningProxy, body: dict[str, Any] = CHAT) -> WireResponse:
    return send_json(proxy.port, "POST", "/v1/chat/completions", body)


def only_row(proxy: RunningProxy, response: WireResponse) -> Any:
    (row,) = rows_for(proxy, response.header("x-request-id"))
    return row


BAD_USAGE = [
    "lots",
    ["prompt_tokens", 1],
    {"prompt_tokens": "12", "completion_tokens": "25"},
    {"prompt_tokens": 12, "completion_tokens": -25},
    {"prompt_tokens": True, "completion_tokens": 25},
    {"prompt_tokens": 12.5, "completion_tokens": 25},
    {"prompt_tokens": 12, "completion_tokens": 2**63},  # a store's column would overflow
    {"prompt_tokens": 12, "completion_tokens": 10**30},  # read as a float
    {"prompt_tokens": 12},
    None,
]


@pytest.mark.parametrize("usage", BAD_USAGE, ids=repr)
def test_a_plain_answer_with_bad_usage_reaches_the_client_and_is_charged_an_estimate(
    usage: Any,
) -> None:
    with raw_upstream(replying(answer(CONTENT, usage))) as upstream, proxy_for(upstream) as proxy:
        response = ask(proxy)
        assert response.status == 200, response.body
        data = response.json()
        assert data["choices"][0]["message"]["content"] == CONTENT
        assert data["model"] == ALIAS
        assert data["usage"] == orjson.loads(json.dumps(usage))  # as the upstream sent it
        row = only_row(proxy, response)
        assert (row.status, row.error_code, row.usage_estimated) == (200, None, True)
        assert row.prompt_tokens == prompt_floor(MESSAGES)
        assert row.completion_tokens == 25
        assert row.cost is not None and row.cost > 0
        header_cost = float(response.header("x-tokenway-response-cost") or "nan")
        assert header_cost == pytest.approx(row.cost)
        assert ask(proxy).status == 200  # and it still answers


def test_a_plain_answer_without_usage_is_charged_an_estimate() -> None:
    with (
        raw_upstream(replying(answer(CONTENT, with_usage=False))) as upstream,
        proxy_for(upstream) as proxy,
    ):
        response = ask(proxy)
        assert response.status == 200
        assert "usage" not in response.json()
        row = only_row(proxy, response)
        assert (row.error_code, row.usage_estimated, row.completion_tokens) == (None, True, 25)


def test_a_plain_answer_with_good_usage_is_charged_what_it_says() -> None:
    with raw_upstream(replying(answer(CONTENT, GOOD_USAGE))) as upstream, proxy_for(upstream) as p:
        response = ask(p)
        assert response.json()["usage"] == GOOD_USAGE
        row = only_row(p, response)
        assert (row.error_code, row.prompt_tokens, row.completion_tokens) == (None, 12, 25)
        assert not row.usage_estimated


@pytest.mark.parametrize(
    "raw",
    [b"[" * 300 + b"]" * 300, b'{"choices":' + b"[" * 300 + b"]" * 300 + b"}", b"[1, 2]"],
    ids=["deep-array", "deep-in-object", "array"],
)
def test_an_unreadable_plain_answer_is_a_502_with_the_envelope(raw: bytes) -> None:
    with raw_upstream(replying(raw)) as upstream, proxy_for(upstream) as proxy:
        response = ask(proxy)
        assert response.status == 502, response.body
        assert response.error()["code"] == "bad_upstream_response"
        row = only_row(proxy, response)
        assert (row.status, row.error_code) == (502, "bad_upstream_response")


def streaming(*pieces: bytes) -> Any:
    async def script(conn: UpstreamConn) -> None:
        conn.send(SSE_HEAD)
        for piece in pieces:
            conn.send(chunk(piece))
            await asyncio.sleep(0.01)  # separate reads, as a real stream arrives
        conn.send(chunk(b""))

    return script


STREAM = {**CHAT, "stream": True}
TEXT = frame({"content": "Hi"})
BROKEN_USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":12,\n\n'


def test_a_broken_usage_frame_before_content_is_an_ordinary_502() -> None:
    with (
        raw_upstream(streaming(ROLE, BROKEN_USAGE, TEXT, DONE)) as upstream,
        proxy_for(upstream) as proxy,
    ):
        response = ask(proxy, STREAM)
        assert response.status == 502, response.body
        assert response.error()["code"] == "bad_upstream_response"
        row = only_row(proxy, response)
        assert (row.status, row.error_code, row.stream) == (502, "bad_upstream_response", True)


def test_a_broken_usage_frame_after_content_ends_with_the_error_frame() -> None:
    with (
        raw_upstream(streaming(ROLE, TEXT, TEXT, BROKEN_USAGE, DONE)) as upstream,
        proxy_for(upstream) as proxy,
    ):
        response = ask(proxy, STREAM)
        assert response.status == 200
        frames = [f for f in response.body.split(b"\n\n") if f]  # the chunked body is whole
        assert frames[-1].startswith(b"data: {")
        error = orjson.loads(frames[-1][len(b"data: ") :])["error"]
        assert error["code"] == "bad_upstream_response"
        assert b"[DONE]" not in response.body
        row = only_row(proxy, response)
        assert (row.status, row.error_code) == (200, "bad_upstream_response")
        assert row.completion_tokens == 2  # the delivered frames, estimated
        assert ask(proxy, STREAM).status == 200  # and it still answers


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": "12", "completion_tokens": 2},
        {"prompt_tokens": 12, "completion_tokens": -1},
    ],
    ids=repr,
)
def test_a_stream_with_bad_usage_counts_completes_and_is_charged_an_estimate(usage: Any) -> None:
    with (
        raw_upstream(streaming(ROLE, TEXT, TEXT, frame(None, usage=usage), DONE)) as upstream,
        proxy_for(upstream) as proxy,
    ):
        response = ask(proxy, {**STREAM, "stream_options": {"include_usage": True}})
        assert response.status == 200
        assert response.body.endswith(DONE)
        row = only_row(proxy, response)
        assert (row.status, row.error_code, row.usage_estimated) == (200, None, True)
        assert (row.prompt_tokens, row.completion_tokens) == (prompt_likely(MESSAGES), 2)
