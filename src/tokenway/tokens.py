"""An offline token floor: nothing is downloaded, ever.

``prompt_floor`` is a deliberately low count, used to refuse a request before the network
only when it *clearly* overflows the context window: real tokenizers rarely pack more
than five visible characters into a token, and never two space-separated words.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_PER_MESSAGE = 4
_PER_PROMPT = 3


def visible_chars(text: str) -> int:
    return len(text) - sum(text.count(ws) for ws in (" ", "\n", "\t", "\r"))


def prompt_floor(messages: Iterable[Any], tools: Any = None) -> int:
    """A lower bound on the prompt's tokens, framing included."""
    total = _PER_PROMPT
    for message in messages:
        total += _PER_MESSAGE
        if isinstance(message, dict):
            total += sum(_text_floor(t) for t in _texts(message.get("content")))
    if tools:
        total += visible_chars(str(tools)) // 10
    return total


def _text_floor(text: str) -> int:
    return max(visible_chars(text) // 5, len(text.split()))


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []
