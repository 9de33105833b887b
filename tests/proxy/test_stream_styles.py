"""Issue 12, item 4: streams in a second upstream style, as llama.cpp's server sends them.

Spaced JSON (``"model": "x"``, ``"usage": {...}``), a role frame without ``content``,
``: ping`` comments, no usage at all (llama.cpp ignores ``stream_options``), and a 200
followed by a cut before any content. The proxy parses frames rather than matching
compact JSON: it holds the stream until real content, charges a stream without usage
an estimate within 10 % of the emulator's own count of the text, marks the row and the
client's usage chunk as estimated, and does not retry a cut before content as a network
failure (at most once, counted by the upstream's requests).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.proxy.conftest import MASTER_KEY, RunningProxy, running_proxy
from tests.proxy.virtual_key_helpers import Management
from tests.security.raw_upstream import (
    ALIAS,
    DONE,
    SSE_HEAD,
    UPSTREAM_KEY,
    UPSTREAM_MODEL,
    RawUpstream,
    UpstreamConn,
    chunk,
    raw_upstream,
)

from tokenway.emulator.prose import write_prose
from tokenway.emulator.tokens import count_tokens, prompt_tokens, token_ends
from tokenway.proxy.config import parse_config

T = 10.0  # bound on one request in these tests
PING = b": ping\n\n"
TEXT = write_prose(random.Random(12), 60)  # what the upstream generates
PROMPT = [{"role": "user", "content": write_prose(random.Random(7), 40)}]


def spaced(data: dict[str, Any]) -> bytes:
    """A frame as llama.cpp writes it: ``json.dumps``'s spacing, not compact JSON."""
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def delta_frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    head = {"id": "chatcmpl-l", "object": "chat.completion.chunk", "created": 1}
    return spaced({**head, "model": UPSTREAM_MODEL, "choices": [choice], **extra})


ROLE = delta_frame({"role": "assistant"})  # no "content" key, as llama.cpp sends it
COMPACT_ROLE = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
)
ROLES = pytest.mark.parametrize("role", [ROLE, COMPACT_ROLE], ids=["llama.cpp", "openai"])


def text_frames(text: str) -> list[bytes]:
    """``text`` a token a frame (the emulator's tokens), with a ping now and then."""
    frames, start = [], 0
    for n, end in enumerate(token_ends(text)):
        frames.append(delta_frame({"content": text[start:end]}))
        if n % 10 == 0:
            frames.append(PING)
        start = end
    return [*frames, delta_frame({}, "stop")]


def streaming(*frames: bytes, end: bytes = DONE) -> Any:
    """An upstream script: a 200, ``frames`` in separate reads, then ``end`` (``b""``: the
    stream is cut, the connection closed without ``[DONE]``)."""

    async def script(conn: UpstreamConn) -> None:
        conn.send(SSE_HEAD)
        for n, data in enumerate(frames):
            conn.send(chunk(data))
            if n % 4 == 0:  # some frames arrive alone, some several to a read
                await conn.writer.drain()
                await asyncio.sleep(0.002)
        if not end:
            await conn.writer.drain()
            conn.writer.transport.abort()
            return
        conn.send(chunk(end) + chunk(b""))

    return script


@contextmanager
def llama_proxy(
    upstream: RawUpstream, tmp_path: Path, deployments: int = 1, num_retries: int = 0
) -> Iterator[RunningProxy]:
    """A proxy over a SQLite store whose model is ``upstream``, ``deployments`` times."""
    entries = [
        {
            "model_name": ALIAS,
            "litellm_params": {
                "model": f"inference/{UPSTREAM_MODEL}",
                "api_base": upstream.base_url,
                "api_key": UPSTREAM_KEY,
            },
            "model_info": {"id": f"llama-{n}"},
        }
        for n in range(deployments)
    ]
    config = parse_config(
        {
            "model_list": entries,
            "general_settings": {
                "master_key": MASTER_KEY,
                "database_url": f"sqlite:///{tmp_path / 'tokenway.db'}",
                "proxy_batch_write_at": 0.2,
            },
            "litellm_settings": {"num_retries": num_retries},
        },
        env={},
    )
    with running_proxy(config) as proxy:
        yield proxy


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]  # names in lower case
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def ask(proxy: RunningProxy, **body: Any) -> Answer:
    data = json.dumps({"model": ALIAS, "messages": PROMPT, "stream": True, **body}).encode()
    headers = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
    url = f"{proxy.url}/v1/chat/completions"
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=T) as answer:
            status, items, raw = answer.status, answer.headers.items(), answer.read()
    except urllib.error.HTTPError as failed:
        status, items, raw = failed.code, failed.headers.items(), failed.read()
    return Answer(status, {k.lower(): v for k, v in items}, raw.decode())


def chunks(response: Answer) -> list[Any]:
    """The JSON chunks of a streamed answer, asserting it ended with ``[DONE]``."""
    events = [e for e in response.text.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]", events[-3:]
    return [json.loads(e.removeprefix("data: ")) for e in events[:-1] if e.startswith("data: ")]


def spend_row(proxy: RunningProxy, request_id: str) -> dict[str, Any]:
    """The row of ``request_id`` as ``/spend/logs`` shows it, once the writer flushed it."""
    deadline = time.monotonic() + T
    while time.monotonic() < deadline:
        rows = [r for r in Management(proxy).spend_logs() if r["request_id"] == request_id]
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no spend row for {request_id}")


def test_a_stream_without_usage_is_relayed_whole_and_charged_a_marked_estimate(
    tmp_path: Path,
) -> None:
    script = streaming(PING, ROLE, PING, *text_frames(TEXT))
    with raw_upstream(script) as upstream, llama_proxy(upstream, tmp_path) as proxy:
        response = ask(proxy, stream_options={"include_usage": True})
        assert response.status_code == 200, response.text
        assert UPSTREAM_MODEL not in response.text  # "model": "x", spaced, swapped too
        received = chunks(response)
        assert all(c["model"] == ALIAS for c in received)
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in received[:-1])
        assert text == TEXT
        usage = received[-1]["usage"]  # the chunk the client asked for, made by the proxy
        assert received[-1]["choices"] == [] and usage["estimated"] is True
        real = count_tokens(TEXT)
        assert abs(usage["completion_tokens"] - real) <= 0.1 * real, (usage, real)
        real_prompt = prompt_tokens(PROMPT)
        assert abs(usage["prompt_tokens"] - real_prompt) <= 0.1 * real_prompt, usage
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        row = spend_row(proxy, response.headers["x-request-id"])
        assert row["usage_estimated"] is True
        assert (row["status"], row["error_code"], row["stream"]) == ("success", None, True)
        assert row["prompt_tokens"] == usage["prompt_tokens"]
        assert row["completion_tokens"] == usage["completion_tokens"]


def test_spaced_usage_from_the_upstream_is_charged_as_sent(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 37, "completion_tokens": 60, "total_tokens": 97}
    last = delta_frame({}, "stop")[: -len(b"}\n\n")] + b', "usage" :  ' + json.dumps(usage).encode()
    script = streaming(ROLE, delta_frame({"content": "Hi"}), last + b"}\n\n")
    with raw_upstream(script) as upstream, llama_proxy(upstream, tmp_path) as proxy:
        response = ask(proxy)
        assert response.status_code == 200, response.text
        received = chunks(response)
        assert received[-1]["usage"] == usage  # it had choices: the client gets it as sent
        row = spend_row(proxy, response.headers["x-request-id"])
        assert (row["prompt_tokens"], row["completion_tokens"]) == (37, 60)
        assert row["usage_estimated"] is False


@ROLES
def test_a_stream_cut_before_content_is_held_and_retried_once_without_a_cooldown(
    tmp_path: Path, role: bytes
) -> None:
    script = streaming(PING, role, PING, end=b"")  # a 200, then the connection closes
    with (
        raw_upstream(script) as upstream,
        llama_proxy(upstream, tmp_path, deployments=2, num_retries=3) as proxy,
    ):
        started = time.monotonic()
        response = ask(proxy)
        assert response.status_code == 502, response.text  # held: nothing was sent yet
        assert response.json()["error"]["code"] == "stream_cut_before_content"
        assert len(upstream.bodies) == 2  # one retry, not num_retries of them
        assert response.headers["x-tokenway-attempted-retries"] == "1"
        assert time.monotonic() - started < T / 2
        stats = proxy.app.router.stats(ALIAS)
        assert all(not s.failures and not s.cooldown_until for s in stats)


CONTEXT_ERROR = spaced(
    {
        "error": {
            "code": "context_length_exceeded",
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
        }
    }
)


@ROLES
def test_a_context_error_frame_before_content_is_a_400_not_retried(
    tmp_path: Path, role: bytes
) -> None:
    script = streaming(role, CONTEXT_ERROR)
    with (
        raw_upstream(script) as upstream,
        llama_proxy(upstream, tmp_path, deployments=2, num_retries=3) as proxy,
    ):
        response = ask(proxy)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "context_length_exceeded"
        assert len(upstream.bodies) == 1  # another deployment of the group would fail alike
        row = spend_row(proxy, response.headers["x-request-id"])
        assert (row["http_status"], row["error_code"]) == (400, "context_length_exceeded")


@pytest.mark.parametrize("wants_usage", [False, True])
def test_a_short_stream_without_usage_gives_usage_only_when_asked(
    tmp_path: Path, wants_usage: bool
) -> None:
    script = streaming(ROLE, delta_frame({"content": "Hello there."}), delta_frame({}, "stop"))
    with raw_upstream(script) as upstream, llama_proxy(upstream, tmp_path) as proxy:
        options = {"stream_options": {"include_usage": True}} if wants_usage else {}
        response = ask(proxy, **options)
        received = chunks(response)
        assert ("usage" in received[-1]) is wants_usage
        row = spend_row(proxy, response.headers["x-request-id"])
        assert row["usage_estimated"] is True and row["completion_tokens"] > 0
