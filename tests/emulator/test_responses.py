import json
from typing import Any

import orjson

from tokenway.emulator.generate import Choice, Completion
from tokenway.emulator.responses import completion_body, sse_frame, stream_chunks
from tokenway.emulator.tool_calls import ToolCall


def completion(*choices: Choice) -> Completion:
    return Completion("chatcmpl-abc", 1700000000, "m/x/fp-16", choices, prompt_tokens=10)


TEXT = Choice(0, "Hello there, bright world. Second sentence here.", (), "stop", 12)
CALLS = (
    ToolCall("call_" + "a" * 24, "get_weather", '{"location": "Paris"}'),
    ToolCall("call_" + "b" * 24, "get_time", '{"city": "Tokyo"}'),
)


def deltas(chunks: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    return [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index]


def test_text_stream_opens_with_the_role_streams_content_and_closes_with_an_empty_delta() -> None:
    chunks = stream_chunks(completion(TEXT), include_usage=False)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    middle = [c["choices"][0]["delta"] for c in chunks[1:-1]]
    assert all(set(d) == {"content"} for d in middle)
    assert "".join(d["content"] for d in middle) == TEXT.content
    assert len(middle) > 3  # a few tokens per delta, not the whole text at once
    assert {c["id"] for c in chunks} == {"chatcmpl-abc"}
    assert {c["created"] for c in chunks} == {1700000000}
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)


def test_tool_call_fragments_follow_the_openai_recording() -> None:
    choice = Choice(0, None, CALLS, "tool_calls", 20)
    chunks = stream_chunks(completion(choice), include_usage=False)
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    assert first["tool_calls"] == [
        {
            "index": 0,
            "id": CALLS[0].id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    joined: dict[int, str] = {}
    for chunk in chunks[1:-1]:
        delta = chunk["choices"][0]["delta"]
        assert "role" not in delta
        (fragment,) = delta["tool_calls"]
        if "id" in fragment:
            assert fragment["function"] == {"name": "get_time", "arguments": ""}
        else:
            assert set(fragment) == {"index", "function"} and set(fragment["function"]) == {
                "arguments"
            }
        joined[fragment["index"]] = (
            joined.get(fragment["index"], "") + fragment["function"]["arguments"]
        )
    assert {i: json.loads(a) for i, a in joined.items()} == {
        0: {"location": "Paris"},
        1: {"city": "Tokyo"},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_choices_interleave_one_per_chunk_and_usage_comes_last() -> None:
    others = [Choice(i, f"Choice {i} says hello to everyone.", (), "length", 8) for i in (1, 2)]
    chunks = stream_chunks(completion(TEXT, *others), include_usage=True)
    assert all(len(c["choices"]) == 1 for c in chunks[:-1])
    assert [c["choices"][0]["index"] for c in chunks[:3]] == [0, 1, 2]
    for index in range(3):
        mine = deltas(chunks, index)
        assert "role" in mine[0]["delta"] and all("role" not in d["delta"] for d in mine[1:])
        assert mine[-1]["delta"] == {} and mine[-1]["finish_reason"] is not None
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 28, "total_tokens": 38}


def test_streaming_the_same_completion_twice_splits_it_the_same_way() -> None:
    assert stream_chunks(completion(TEXT), include_usage=False) == stream_chunks(
        completion(TEXT), include_usage=False
    )


def test_frames_and_the_non_streaming_body() -> None:
    assert sse_frame({"a": 1}) == b'data: {"a":1}\n\n'
    body = completion_body(completion(Choice(0, None, CALLS[:1], "tool_calls", 7)))
    assert body["object"] == "chat.completion"
    (choice,) = body["choices"]
    assert choice["message"]["content"] is None and choice["logprobs"] is None
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert orjson.loads(orjson.dumps(body))["usage"]["total_tokens"] == 17
