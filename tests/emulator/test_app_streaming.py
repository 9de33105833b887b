"""Streaming chat completions over HTTP (checklist 9-13)."""

from __future__ import annotations

import json
from typing import Any

import openai

from tokenway.emulator import Emulator

from .raw_http import MODEL, chat, sse_chunks, sse_events

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {key: {"type": "string"}},
                "required": [key],
            },
        },
    }
    for name, description, key in (
        ("get_weather", "Weather in a location", "location"),
        ("get_time", "Local time in a city", "city"),
    )
]
BOTH = [{"role": "user", "content": "What's the weather in Paris and the time in Tokyo?"}]


def per_choice(chunks: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    choices: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            choices.setdefault(choice["index"], []).append(choice)
    return choices


def test_item9_framing_ids_and_object(emulator: Emulator) -> None:
    response = chat(emulator, stream=True, seed=1)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in sse_events(response.body))
    chunks = sse_chunks(response.body)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert not any("obfuscation" in json.dumps(c) for c in chunks)


def test_item10_role_first_empty_delta_last_and_same_text_as_non_streaming(
    emulator: Emulator,
) -> None:
    streamed = per_choice(sse_chunks(chat(emulator, stream=True, seed=11).body))[0]
    assert streamed[0]["delta"] == {"role": "assistant", "content": ""}
    assert all("role" not in c["delta"] for c in streamed[1:])
    assert streamed[-1]["delta"] == {} and streamed[-1]["finish_reason"] == "stop"
    assert all(c["finish_reason"] is None for c in streamed[:-1])
    text = "".join(c["delta"].get("content") or "" for c in streamed)
    assert text == chat(emulator, seed=11).json()["choices"][0]["message"]["content"]


def test_item10_the_sdk_sees_the_same_text_streamed_or_not(client: openai.OpenAI) -> None:
    kwargs: Any = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "seed": 2,
        "max_tokens": 20,
    }
    whole = client.chat.completions.create(**kwargs)
    pieces = [
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(stream=True, **kwargs)
    ]
    assert "".join(pieces) == whole.choices[0].message.content
    assert whole.choices[0].finish_reason == "length"


def test_item11_tool_call_fragments_and_parallel_indices(emulator: Emulator) -> None:
    choices = per_choice(sse_chunks(chat(emulator, messages=BOTH, tools=TOOLS, stream=True).body))
    assert set(choices) == {0}
    deltas = [c["delta"] for c in choices[0]]
    assert deltas[0]["role"] == "assistant" and deltas[0]["content"] is None
    assert choices[0][-1]["delta"] == {} and choices[0][-1]["finish_reason"] == "tool_calls"
    arguments: dict[int, str] = {}
    for delta in deltas[:-1]:
        for fragment in delta["tool_calls"]:
            if "id" in fragment:
                assert fragment["type"] == "function" and fragment["function"]["arguments"] == ""
                assert fragment["id"].startswith("call_") and fragment["function"]["name"]
                arguments[fragment["index"]] = ""
            else:
                assert set(fragment) == {"index", "function"}
                arguments[fragment["index"]] += fragment["function"]["arguments"]
    assert sorted(arguments) == [0, 1]
    assert json.loads(arguments[0]) == {"location": "Paris"}
    assert json.loads(arguments[1]) == {"city": "Tokyo"}
    assert len(deltas) > 4  # arguments arrive in several fragments


def test_item11_the_sdk_accumulates_streamed_tool_calls(client: openai.OpenAI) -> None:
    messages: Any = BOTH
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True
    )
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or ():
            if call.function and call.function.name:
                names[call.index] = call.function.name
            args[call.index] = args.get(call.index, "") + (
                (call.function and call.function.arguments) or ""
            )
    assert names == {0: "get_weather", 1: "get_time"}
    assert all(isinstance(json.loads(a), dict) for a in args.values())


def test_item12_n3_interleaves_one_choice_per_chunk(emulator: Emulator) -> None:
    chunks = sse_chunks(chat(emulator, n=3, stream=True).body)
    assert all(len(c["choices"]) == 1 for c in chunks)
    assert [c["choices"][0]["index"] for c in chunks[:3]] == [0, 1, 2]
    choices = per_choice(chunks)
    assert sorted(choices) == [0, 1, 2]
    for streamed in choices.values():
        assert streamed[0]["delta"]["role"] == "assistant"
        assert sum("role" in c["delta"] for c in streamed) == 1
        assert streamed[-1]["delta"] == {} and streamed[-1]["finish_reason"] == "stop"
    non_streaming = chat(emulator, n=3).json()["choices"]
    for index, streamed in choices.items():
        text = "".join(c["delta"].get("content") or "" for c in streamed)
        assert text == non_streaming[index]["message"]["content"]


def test_item13_one_usage_chunk_only_with_include_usage(emulator: Emulator) -> None:
    chunks = sse_chunks(
        chat(emulator, n=2, stream=True, stream_options={"include_usage": True}).body
    )
    with_usage = [c for c in chunks if "usage" in c]
    assert len(with_usage) == 1 and chunks[-1] is with_usage[0]
    assert chunks[-1]["choices"] == []
    whole = chat(emulator, n=2).json()["usage"]
    assert chunks[-1]["usage"] == whole
    assert chunks[-2]["choices"][0]["finish_reason"] is not None
    plain = sse_chunks(chat(emulator, stream=True).body)
    assert not any("usage" in c for c in plain)
    off = sse_chunks(chat(emulator, stream=True, stream_options={"include_usage": False}).body)
    assert not any("usage" in c for c in off)


def test_item13_the_sdk_reads_the_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert (
        chunks[-1].usage.total_tokens
        == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    )
