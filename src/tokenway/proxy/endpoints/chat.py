"""``POST /v1/chat/completions``: the proxy's hot path, as an endpoint spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenway.params import validate_chat_body
from tokenway.providers.base import CHAT_PATH
from tokenway.proxy.pipeline.endpoint import Body, Endpoint
from tokenway.tokens import prompt_floor, prompt_likely

_CHARS_PER_TOKEN = 4


def _floor(body: Body) -> int:
    return prompt_floor(body["messages"], body.get("tools"))


def _likely(body: Body) -> int:
    return prompt_likely(body["messages"], body.get("tools"))


def answer_tokens(answer: Mapping[str, Any]) -> int:
    """The completion tokens of a plain answer, from its text: content, tool calls' names
    and arguments, refusal, reasoning; four characters a token, rounded up."""
    chars = 0
    choices = answer.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            chars += _message_chars(message)
    return -(-chars // _CHARS_PER_TOKEN)


def _message_chars(message: Mapping[str, Any]) -> int:
    chars = 0
    for name in ("content", "refusal", "reasoning_content"):
        text = message.get(name)
        if isinstance(text, str):
            chars += len(text)
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for name in ("name", "arguments"):
                text = function.get(name)
                if isinstance(text, str):
                    chars += len(text)
    return chars


CHAT = Endpoint(
    name="chat",
    paths=("/v1/chat/completions", "/chat/completions"),
    upstream_path=CHAT_PATH,
    required="choices",
    validate=validate_chat_body,
    prompt_floor=_floor,
    prompt_likely=_likely,
    answer_tokens=answer_tokens,
    streams=True,
    chunk_object="chat.completion.chunk",
    mocks=True,
)
