"""Wire shapes of a completion: the `chat.completion` body and the `chat.completion.chunk` stream.

Streams follow reference §6: a role delta opens each choice, content arrives a few
tokens at a time, tool arguments in fragments split anywhere, a `delta: {}` chunk
closes each choice, choices interleave one per chunk, and an optional usage chunk
with `choices: []` precedes `data: [DONE]`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import orjson

from .generate import Choice, Completion
from .tokens import token_ends

__all__ = [
    "DONE_FRAME",
    "completion_body",
    "content_pieces",
    "error_frame",
    "interleave",
    "sse_frame",
    "stream_chunks",
]

T = TypeVar("T")
DONE_FRAME = b"data: [DONE]\n\n"
_MAX_TOKENS_PER_DELTA = 3
_MAX_CHARS_PER_FRAGMENT = 12


def completion_body(completion: Completion) -> dict[str, Any]:
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": [_message_choice(choice) for choice in completion.choices],
        "usage": completion.usage(),
        "system_fingerprint": None,
    }


def stream_chunks(completion: Completion, *, include_usage: bool) -> list[dict[str, Any]]:
    """Every chunk of the stream, in order, `[DONE]` excluded."""
    steps = interleave(
        [
            [(choice.index, delta, finish) for delta, finish in _choice_deltas(choice)]
            for choice in completion.choices
        ]
    )
    chunks = [
        _chunk(
            completion,
            [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        )
        for index, delta, finish in steps
    ]
    if include_usage:
        chunks.append({**_chunk(completion, []), "usage": completion.usage()})
    return chunks


def interleave(sequences: Iterable[Iterable[T]]) -> list[T]:
    """Round robin over the sequences: one item of each in turn, as choices interleave (§6.4)."""
    pending = [iter(sequence) for sequence in sequences]
    items: list[T] = []
    while pending:
        for source in list(pending):
            item = next(source, _END)
            if item is _END:
                pending.remove(source)
            else:
                items.append(item)
    return items


_END: Any = object()


def sse_frame(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def error_frame(envelope: dict[str, Any]) -> bytes:
    """A mid-stream error event (reference §6.6)."""
    return b"event: error\ndata: " + orjson.dumps(envelope) + b"\n\n"


def _message_choice(choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in choice.tool_calls
        ]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": choice.finish_reason,
    }


def _chunk(completion: Completion, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
        "choices": choices,
    }


def _choice_deltas(choice: Choice) -> Iterator[tuple[dict[str, Any], str | None]]:
    # Split points are drawn from the choice's own text, so a stream is reproducible.
    rng = random.Random(f"{choice.index}:{choice.content}:{len(choice.tool_calls)}")
    if choice.tool_calls:
        yield from _tool_call_deltas(choice, rng)
    else:
        yield {"role": "assistant", "content": ""}, None
        for piece in content_pieces(choice.content or "", rng):
            yield {"content": piece}, None
    yield {}, choice.finish_reason


def _tool_call_deltas(choice: Choice, rng: random.Random) -> Iterator[tuple[dict[str, Any], None]]:
    for position, call in enumerate(choice.tool_calls):
        opening: dict[str, Any] = {
            "index": position,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if position == 0:
            yield {"role": "assistant", "content": None, "tool_calls": [opening]}, None
        else:
            yield {"tool_calls": [opening]}, None
        for fragment in _fragments(call.arguments, rng):
            yield {"tool_calls": [{"index": position, "function": {"arguments": fragment}}]}, None


def content_pieces(text: str, rng: random.Random) -> list[str]:
    """`text` in pieces of one to three tokens; a piece starts with the space before its token."""
    ends = token_ends(text)
    pieces: list[str] = []
    start = taken = 0
    while taken < len(ends):
        taken = min(taken + rng.randint(1, _MAX_TOKENS_PER_DELTA), len(ends))
        end = ends[taken - 1] if taken < len(ends) else len(text)
        pieces.append(text[start:end])
        start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _fragments(text: str, rng: random.Random) -> list[str]:
    fragments: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + rng.randint(1, _MAX_CHARS_PER_FRAGMENT), len(text))
        fragments.append(text[start:end])
        start = end
    return fragments
