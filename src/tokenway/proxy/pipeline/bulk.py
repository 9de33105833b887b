"""Large plain answers read at the byte level (the OpenAI dialect's fast path).

An embeddings answer is mostly its vectors: 2,560 floats are 36 KB of JSON, which cost
the proxy about 100 µs to parse and write again, for nothing it needs. What it needs is
the usage (for spend) and the alias in place of the upstream's model id. So the answer
is relayed as bytes: the last ``usage`` object alone is parsed (OpenAI-style servers put
it last; it holds no strings, so its braces can be counted) and the last ``"model"``
value is swapped as the stream relay swaps it (an embedding's data holds numbers or
base64, never either key). Anything unexpected (no usage, another spacing of
``"model"``, not one JSON object) returns ``None``, and the caller parses the whole
answer as for any other endpoint.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenway.proxy.models import Route

_USAGE = b'"usage"'
_MAX_USAGE = 4096  # bytes; a usage object is a few dozen


def read_bulky(raw: bytes, route: Route) -> tuple[bytes, Any] | None:
    """(the answer with the alias swapped in, its usage value) or None (parse it all).

    Every search runs from the end, where the usage and the model name are, so a large
    answer costs a few short scans and one copy (the swap), not a pass per check."""
    last = raw.rfind(b"}")
    first = raw.find(b"{", 0, 64)
    if first == -1 or last == -1 or raw[:first].strip() or raw[last + 1 :].strip():
        return None  # not one JSON object
    usage = _usage(raw)
    if usage is None:
        return None
    for field in route.model_fields:  # the compact and the spaced form
        at = raw.rfind(field)
        if at != -1:  # one copy: the two sides as views
            view = memoryview(raw)
            swapped = b"".join((view[:at], route.alias_field, view[at + len(field) :]))
            return swapped, usage
    return None


def _usage(raw: bytes) -> Any:
    """The last ``"usage": {...}`` of ``raw``, parsed; None if there is none or it is
    not a flat object of a few keys."""
    at = raw.rfind(_USAGE)
    if at == -1:
        return None
    start = raw.find(b"{", at, at + 64)
    if start == -1 or raw[at + len(_USAGE) : start].strip() != b":":
        return None
    depth = 0
    for end in range(start, min(len(raw), start + _MAX_USAGE)):
        char = raw[end]
        if char == 0x7B:  # {
            depth += 1
        elif char == 0x7D:  # }
            depth -= 1
            if depth == 0:
                try:
                    return orjson.loads(raw[start : end + 1])
                except orjson.JSONDecodeError:
                    return None
        elif char == 0x22 and raw[end - 1] == 0x5C:  # an escaped quote: a string, give up
            return None
    return None
