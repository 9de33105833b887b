"""Token counts for spend: the upstream's, when they can be trusted, else an estimate.

An upstream's ``usage`` is read, never obeyed: a count that is not a plain non-negative
integer below ``MAX_TOKENS`` (a string, a bool, a float, a negative or astronomical
number) makes the whole object unusable, and the row is charged an estimate instead,
marked ``estimated`` (the spend row's ``usage_estimated``): the prompt's floor
(``tokens.prompt_floor``, a lower bound) and the delivered text at four characters a
token, rounded up. The client still gets the upstream's answer as it was sent. (A
stream's estimate is the relay's, ``tokenway.proxy.relay``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenway.tokens import prompt_floor

# No model's window is near this; above it a count is a bug, and a store column or a
# budget must not take it (SQLite's INTEGER ends at 2**63, PostgreSQL's INTEGER at 2**31).
MAX_TOKENS = 100_000_000
_CHARS_PER_TOKEN = 4


def counted(usage: object) -> int:
    """The total tokens of ``usage`` if its prompt and completion counts are sane
    integers, else -1 (one call on the hot path: the check and the sum).

    ``type(...) is int`` rather than ``isinstance``: a bool is an int to ``isinstance``."""
    if type(usage) is not dict:
        return -1
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if (
        type(prompt) is int
        and type(completion) is int
        and 0 <= prompt <= MAX_TOKENS
        and 0 <= completion <= MAX_TOKENS
    ):
        return prompt + completion
    return -1


def total_tokens(usage: Mapping[str, Any]) -> int:
    """Prompt plus completion of a ``counted`` or estimated usage (never raises)."""
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    return (prompt if type(prompt) is int else 0) + (completion if type(completion) is int else 0)


def estimate(body: Mapping[str, Any], completion_tokens: int) -> dict[str, Any]:
    """The usage charged when the upstream's cannot be used: prompt floor + completion."""
    return {
        "prompt_tokens": prompt_floor(body["messages"], body.get("tools")),
        "completion_tokens": completion_tokens,
        "estimated": True,
    }


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
