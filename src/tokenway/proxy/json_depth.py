"""How deep a request body may nest: ``MAX_DEPTH`` levels, checked where it is parsed.

orjson parses up to 1,024 levels but serializes at most ``ORJSON_MAX_DEPTH``, so a body
nested deeper than that would parse and then fail when the proxy forwards or stores it.
The bound is lower than orjson's so that what the proxy wraps a body in (a stored
payload) stays serializable, and Python's own recursion (``repr`` of tools in the
estimates) stays far from its limit. 64 levels is three times what any real JSON
Schema in ``tools`` or ``response_format`` uses (OpenAI's structured outputs allow 10
levels of objects, two JSON levels each, under the 4 of the body), and admin bodies
nest at most a few levels.

Both steps run in C. A body with at most ``MAX_DEPTH`` brackets cannot nest deeper, so
the caller tests ``raw.count(b"{") + raw.count(b"[") > MAX_DEPTH`` first, inline: most
bodies cost two counts and no call. Otherwise ``too_deep`` has orjson serialize the
parsed value at the bottom of a fixed chain of ``ORJSON_MAX_DEPTH - MAX_DEPTH`` lists,
which fails exactly when the value nests deeper than ``MAX_DEPTH`` (a Python walk of a
long conversation costs several times as much).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "ORJSON_MAX_DEPTH", "too_deep"]

MAX_DEPTH = 64
ORJSON_MAX_DEPTH = 254  # orjson.dumps refuses a 255th level (tests/proxy/test_json_depth.py)


class _Chain(threading.local):
    """The lists the value is put at the bottom of; one chain per thread, since the SDK's
    callers and tests run proxies in several threads of one process."""

    def __init__(self) -> None:
        self.slot: list[Any] = [None]
        outer = self.slot
        for _ in range(ORJSON_MAX_DEPTH - MAX_DEPTH - 1):
            outer = [outer]
        self.outer = outer


_chain = _Chain()


def too_deep(value: Any) -> bool:
    """Whether ``value`` (parsed JSON) nests more than ``MAX_DEPTH`` levels."""
    chain = _chain
    chain.slot[0] = value
    try:
        orjson.dumps(chain.outer)
    except orjson.JSONEncodeError:  # a parsed value fails only on its depth
        return True
    finally:
        chain.slot[0] = None
    return False
