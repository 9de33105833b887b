"""The emulator's deterministic tokenizer.

A token is a run of up to four word characters or one punctuation mark, so a count is
a close upper bound of "non-whitespace characters / 4"; tokenway's SDK relies on that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "TOKEN_PATTERN",
    "count_tokens",
    "cut_after_tokens",
    "message_text",
    "prompt_tokens",
    "token_ends",
]

TOKEN_PATTERN = re.compile(r"\w{1,4}|[^\w\s]")
_PER_MESSAGE = 4
_PER_PROMPT = 3


def count_tokens(text: str) -> int:
    return len(TOKEN_PATTERN.findall(text))


def token_ends(text: str) -> list[int]:
    """The offset just past each token of `text`."""
    return [match.end() for match in TOKEN_PATTERN.finditer(text)]


def cut_after_tokens(text: str, limit: int) -> str:
    """The longest prefix of `text` holding at most `limit` tokens (it ends on a token)."""
    ends = token_ends(text)
    if len(ends) <= limit:
        return text
    return text[: ends[limit - 1]] if limit > 0 else ""


def prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] = ()) -> int:
    """Tokens of a chat prompt: 4 per message plus its text, 3 per prompt, plus the tools."""
    total = _PER_PROMPT
    for message in messages:
        total += _PER_MESSAGE + sum(count_tokens(text) for text in message_text(message))
    if tools:
        total += count_tokens(json.dumps(list(tools)))
    return total


def message_text(message: Mapping[str, Any]) -> Iterable[str]:
    """Every piece of text a message puts into the prompt."""
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            yield str(function.get("name", ""))
            yield str(function.get("arguments", ""))
