"""An offline token floor: nothing is downloaded, ever.

``prompt_floor`` is a deliberately low count, used to refuse a request before the network
only when it *clearly* overflows the context window: real tokenizers rarely pack more
than five visible characters into a token, and never two space-separated words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

_PER_MESSAGE = 4
_PER_PROMPT = 3


def visible_chars(text: str) -> int:
    return len(text) - sum(text.count(ws) for ws in (" ", "\n", "\t", "\r"))


def prompt_floor(messages: Iterable[Any], tools: Any = None) -> int:
    """A lower bound on the prompt's tokens, framing included."""
    return _prompt(messages, tools, _text_floor, lambda text: visible_chars(text) // 10)


def _prompt(
    messages: Iterable[Any],
    tools: Any,
    per_text: Callable[[str], int],
    per_tools: Callable[[str], int],
) -> int:
    """Framing plus ``per_text`` of each message's texts, plus ``per_tools`` of the tools."""
    total = _PER_PROMPT
    for message in messages:
        total += _PER_MESSAGE
        if isinstance(message, dict):
            total += sum(per_text(t) for t in _texts(message.get("content")))
    if tools:
        total += per_tools(str(tools))
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


_ESTIMATE_PER_MESSAGE = 8
_ESTIMATE_PER_IMAGE = 1_500  # a large high-detail image; images are priced per tile
_WORDY = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ \t\n\r"


def prompt_estimate(messages: Iterable[Any], tools: Any = None) -> int:
    """An upper-ish count of the prompt's tokens, for budget reservations.

    Letters and spaces count a token per three (English packs about four characters into
    a token), every other ASCII character a token of its own (digits, punctuation and JSON
    split finely, about two characters a token), and text with non-ASCII characters a
    token per two bytes of UTF-8 (CJK runs about one token per three-byte character).
    """
    total = _PER_PROMPT
    for message in messages:
        total += _ESTIMATE_PER_MESSAGE
        if not isinstance(message, dict):
            continue
        for name, value in message.items():
            if name == "content":
                total += _content_estimate(value)
            elif name != "role" and value is not None:
                total += _bytes_estimate(value if isinstance(value, str) else str(value))
    if tools:
        total += _bytes_estimate(str(tools))
    return total


def _content_estimate(content: Any) -> int:
    if isinstance(content, str):
        return _bytes_estimate(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                total += _bytes_estimate(text)
            elif part.get("type") in ("image_url", "input_image"):
                total += _ESTIMATE_PER_IMAGE
            else:
                total += _bytes_estimate(str(part))
    return total


def _bytes_estimate(text: str) -> int:
    if not text.isascii():
        return len(text.encode()) // 2 + 1
    raw = text.encode()
    symbols = len(raw.translate(None, _WORDY))
    return (len(raw) - symbols) // 3 + symbols + 1


def text_likely(text: str) -> int:
    """A likely token count of generated text, for a row the upstream gave no usage for.

    English prose runs about 3.5 characters a token, spaces included (the emulator's
    tokenizer and Llama's agree within a few percent); text with non-ASCII characters a
    token per two bytes of UTF-8, as ``prompt_estimate`` counts it.
    """
    if not text:
        return 0
    if text.isascii():
        return -(-len(text) * 2 // 7)
    return len(text.encode()) // 2 + 1


def prompt_likely(messages: Iterable[Any], tools: Any = None) -> int:
    """A likely count of the prompt's tokens (framing included), between ``prompt_floor``
    and ``prompt_estimate``: what a stream without usage is charged for its prompt."""
    return _prompt(messages, tools, text_likely, text_likely)


def _input_tokens(value: Any, per_text: Callable[[str], int]) -> int:
    """``per_text`` of each string of a prompt or an embedding input (a string, strings,
    token arrays), plus the tokens given as arrays (those are exact)."""
    if isinstance(value, str):
        return per_text(value)
    total = 0
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                total += per_text(item)
            elif isinstance(item, list):
                total += len(item)
            else:
                total += 1  # one token of a single token array
    return total


def input_floor(value: Any) -> int:
    """A lower bound on the tokens of a prompt or an embedding input."""
    return _input_tokens(value, _text_floor)


def input_likely(value: Any) -> int:
    """A likely count of them, for a stream the upstream gave no usage for."""
    return _input_tokens(value, text_likely)
