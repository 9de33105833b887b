"""The relay's framing rules, fed recorded upstream bytes split in awkward places."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tokenway.catalog import Catalog
from tokenway.errors import InternalServerError, TokenwayError
from tokenway.proxy.config import parse_config
from tokenway.proxy.models import Route, build_routes
from tokenway.proxy.pipeline.relay import StreamRelay
from tokenway.proxy.usage import Usage

FIXTURES = Path(__file__).parent.parent / "fixtures"
HEAD = b'data: {"id":"c","model":"meta-llama/llama-3.1-8b-instruct/fp-16","choices":'
ROLE = HEAD + b'[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
TEXT = HEAD + b'[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
# "Hi" delivered before the stream failed: one token, and the prompt (7 in these tests)
ESTIMATE_HI = Usage(7, 1, estimated=True)
ERROR = b'event: error\ndata: {"error":{"message":"boom","type":"server_error"}}\n\n'


class FakeResponse:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.closed = False

    async def _gen(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece

    def iter_bytes(self, timeout: float | None = None) -> AsyncIterator[bytes]:
        return self._gen()

    async def aclose(self) -> None:
        self.closed = True


def route() -> Route:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "fast",
                    "litellm_params": {
                        "model": "inference/meta-llama/llama-3.1-8b-instruct/fp-16",
                        "api_key": "k",
                        "api_base": "http://127.0.0.1:1/v1",
                    },
                }
            ]
        },
        env={},
    )
    return build_routes(config.deployments, {}, Catalog(), None)[0]


async def relay_all(
    pieces: list[bytes], wants_usage: bool = False
) -> tuple[bytes, list[Usage], FakeResponse]:
    response = FakeResponse(pieces)
    ended: list[Usage] = []
    relay = StreamRelay(
        route(),
        response,  # type: ignore[arg-type]
        wants_usage,
        lambda usage, error_code: ended.append(usage),
        lambda: 7,
    )
    first = await relay.prime()
    out = [frame async for frame in relay.frames(first)]
    return b"".join(out), ended, response


async def test_recorded_stream_split_byte_by_byte_keeps_frames_and_rewrites_model() -> None:
    raw = (FIXTURES / "stream_tool_call.sse").read_bytes()
    out, ended, response = await relay_all([raw[i : i + 1] for i in range(len(raw))])
    frames = [f for f in out.decode().split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert len(frames) == 5  # the usage chunk was tokenway's, not the client's
    assert all('"model":"fast"' in f for f in frames[:-1])
    assert ended == [Usage(44, 16)]
    assert response.closed


async def test_usage_chunk_is_forwarded_when_asked() -> None:
    raw = (FIXTURES / "stream_tool_call.sse").read_bytes()
    out, _, _ = await relay_all([raw], wants_usage=True)
    assert out.count(b'"usage":{') == 1


async def test_error_before_content_is_raised_for_an_http_answer() -> None:
    response = FakeResponse([ROLE + ERROR])
    relay = StreamRelay(route(), response, False, lambda u, e: None, lambda: 7)  # type: ignore[arg-type]
    with pytest.raises(InternalServerError, match="boom"):
        await relay.prime()
    assert response.closed


async def test_error_after_content_in_the_same_read_keeps_the_content() -> None:
    out, ended, _ = await relay_all([ROLE + TEXT + ERROR])
    frames = [f for f in out.decode().split("\n\n") if f]
    assert '"content":"Hi"' in frames[1]
    assert json.loads(frames[-1].removeprefix("data: "))["error"]["message"].endswith("boom")
    assert "[DONE]" not in out.decode()
    # no usage frame came: charged for the one content frame delivered, marked estimated
    assert ended == [ESTIMATE_HI]


async def test_cut_without_done_ends_with_an_error_frame() -> None:
    out, _, _ = await relay_all([ROLE, TEXT])
    last = json.loads(out.decode().split("\n\n")[-2].removeprefix("data: "))
    assert last["error"]["code"] == "stream_incomplete"


async def test_whole_plain_frames_pass_through_with_the_alias_swapped() -> None:
    usage = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    spaced = TEXT.replace(b'"model":', b'"model": ')
    out, ended, _ = await relay_all([ROLE + TEXT, TEXT + spaced, usage + b"data: [DONE]\n\n"])
    frames = [f for f in out.decode().split("\n\n") if f]
    assert len(frames) == 5  # role, 3 x text, [DONE]; the usage frame is hidden
    assert all('"model":"fast"' in f for f in frames[:-1])
    assert "llama" not in out.decode()
    assert ended == [Usage(3, 2)]


async def test_a_stream_closed_before_its_first_send_still_closes_and_reports() -> None:
    # The server closes a response stream it never iterated when the client is gone.
    response = FakeResponse([ROLE, TEXT, TEXT])
    ended: list[str | None] = []
    relay = StreamRelay(
        route(),
        response,  # type: ignore[arg-type]
        False,
        lambda usage, error_code: ended.append(error_code),
        lambda: 7,
    )
    frames = relay.frames(await relay.prime())
    assert await anext(frames) == b""  # the chat route takes this one before answering
    await frames.aclose()
    assert response.closed
    assert ended == ["client_disconnected"]


class BrokenResponse(FakeResponse):
    """Pieces, then an error nobody planned for (not an HTTPError)."""

    async def _gen(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        raise ValueError("a bug, or a surprise")


async def test_an_unexpected_error_before_content_is_a_failed_attempt() -> None:
    response = BrokenResponse([ROLE])
    relay = StreamRelay(route(), response, False, lambda u, e: None, lambda: 7)  # type: ignore[arg-type]
    with pytest.raises(TokenwayError) as failed:  # which the router retries: not a 500
        await relay.prime()
    assert failed.value.code == "stream_error"
    assert response.closed


async def test_an_unexpected_error_after_content_ends_with_the_error_frame() -> None:
    response = BrokenResponse([ROLE + TEXT])
    ended: list[tuple[Usage, str | None]] = []
    relay = StreamRelay(
        route(),
        response,  # type: ignore[arg-type]
        False,
        lambda usage, error_code: ended.append((usage, error_code)),
        lambda: 7,
    )
    out = b"".join([frame async for frame in relay.frames(await relay.prime())])
    last = json.loads(out.decode().split("\n\n")[-2].removeprefix("data: "))
    assert last["error"]["code"] == "stream_error"
    assert ended == [(ESTIMATE_HI, "stream_error")]
    assert response.closed


SPACED = (
    b": ping\n\n"
    b'data: {"id": "c", "model": "meta-llama/llama-3.1-8b-instruct/fp-16", "choices": '
    b'[{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}\n\n'
    b'data: {"id": "c", "model" :  "meta-llama/llama-3.1-8b-instruct/fp-16", "choices": '
    b'[{"index": 0, "delta": {"content": "Hello \\"world\\" again"}, "finish_reason": null}]}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("split", [1, 7, len(SPACED)])
async def test_spaced_frames_are_parsed_however_they_are_split(split: int) -> None:
    pieces = [SPACED[i : i + split] for i in range(0, len(SPACED), split)]
    out, ended, _ = await relay_all(pieces, wants_usage=True)
    assert b"meta-llama" not in out  # every spacing of "model" swapped for the alias
    frames = [json.loads(f[len("data: ") :]) for f in out.decode().split("\n\n")[:-2] if f]
    assert [f["model"] for f in frames] == ["fast"] * 3
    assert frames[1]["choices"][0]["delta"]["content"] == 'Hello "world" again'
    usage = {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13, "estimated": True}
    assert frames[2] == {"id": "c", "object": "chat.completion.chunk", "created": None,
                         "model": "fast", "choices": [], "usage": usage}  # fmt: skip
    assert ended == [Usage(7, 6, estimated=True)]


async def test_a_role_frame_without_content_is_held() -> None:
    role = SPACED.split(b"\n\n")[1] + b"\n\n"
    relay = StreamRelay(route(), FakeResponse([role]), False, lambda u, e: None, lambda: 7)  # type: ignore[arg-type]
    with pytest.raises(TokenwayError) as failed:  # cut before content: no 200 was sent
        await relay.prime()
    assert failed.value.code == "stream_cut_before_content"
