"""Durations written the LiteLLM way (``30s``, ``15m``, ``1h``, ``1d``, ``30d``).

Key expiry (``duration``) and budget windows (``budget_duration``) use the same syntax,
so the proxy and the store parse them with this one function. A duration is at most
``MAX_DURATION_SECONDS`` (100 years): every time computed from one (an expiry, a budget
reset) then stays within what ``datetime`` can represent and show.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DURATION_SECONDS", "parse_duration"]

MAX_DURATION_SECONDS = 100 * 365 * 86400.0

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (a positive number followed by s, m, h, d or w)."""
    match = _PATTERN.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: write a number and a unit, "
            "such as 30s, 15m, 1h, 1d or 30d (s, m, h, d, w)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: it must be longer than zero")
    if seconds > MAX_DURATION_SECONDS:  # "1" * 400 + "s" is inf seconds, caught here too
        raise ValueError(f"invalid duration {text[:40]!r}: at most 100 years (36500d)")
    return seconds
