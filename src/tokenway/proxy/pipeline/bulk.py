"""Large plain answers read at the byte level (the OpenAI dialect's fast path).

An embeddings answer is mostly its vectors: 2,560 floats are 36 KB of JSON, which cost
the proxy about 100 µs to parse and write again, for nothing it needs. What it needs is
the usage (for spend) and the alias in place of the upstream's model id. So the answer
is relayed as bytes: the ``usage`` object alone is parsed (found from the end, where
OpenAI-style servers put it; it holds no strings, so its braces can be counted) and the
``"model"`` value is swapped as the stream relay swaps it. Anything unexpected (no
usage, another spacing of ``"model"``, not one JSON object) returns ``None``, and the
caller parses the whole answer as for any other endpoint.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenway.proxy.models import Route

_USAGE = b'"usage"'
_MAX_USAGE = 4096  # bytes; a usage object is a few dozen


def read_bulky(raw: bytes, route: Route) -> tuple[bytes, Any] | None:
    """(the answer with the alias swapped in, its usage value) or None (parse it all)."""
    body = raw.strip()
    if not (body.startswith(b"{") and body.endswith(b"}")):
        return None
    usage = _usage(body)
    if usage is None:
        return None
    compact, spaced = route.model_fields
    if body.count(compact) == 1:
        return body.replace(compact, route.alias_field), usage
    if body.count(spaced) == 1:
        return body.replace(spaced, route.alias_field), usage
    return None


def _usage(body: bytes) -> Any:
    at = body.rfind(_USAGE)
    if at == -1 or body.find(_USAGE) != at:  # none, or more than one: not plain
        return None
    start = body.find(b"{", at)
    if start == -1 or body[at + len(_USAGE) : start].strip() != b":":
        return None
    depth = 0
    for end in range(start, min(len(body), start + _MAX_USAGE)):
        char = body[end]
        if char == 0x7B:  # {
            depth += 1
        elif char == 0x7D:  # }
            depth -= 1
            if depth == 0:
                try:
                    return orjson.loads(body[start : end + 1])
                except orjson.JSONDecodeError:
                    return None
        elif char == 0x22 and body[end - 1] == 0x5C:  # an escaped quote: a string, give up
            return None
    return None
