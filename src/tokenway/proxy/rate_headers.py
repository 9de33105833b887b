"""x-ratelimit-* headers of a limit verdict (``RateState``), as OpenAI sends them.

Two forms of the same six headers: ``rate_headers`` as (name, value) pairs, for refusals;
``rate_header_block`` as rendered lines for ``Response.header_block``, for every admitted
request of a limited key, so it costs one ``bytes %`` on a cached template.
"""

from __future__ import annotations

import math

from tokenway.limits.window import SPAN, RateState

__all__ = ["rate_header_block", "rate_headers"]


def rate_headers(state: RateState) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if state.limit_requests is not None:
        headers += (
            ("x-ratelimit-limit-requests", _text(state.limit_requests)),
            ("x-ratelimit-remaining-requests", str(max(0, state.remaining_requests))),
            ("x-ratelimit-reset-requests", _seconds(state.reset_requests)),
        )
    if state.limit_tokens is not None:
        headers += (
            ("x-ratelimit-limit-tokens", _text(state.limit_tokens)),
            ("x-ratelimit-remaining-tokens", str(max(0, state.remaining_tokens))),
            ("x-ratelimit-reset-tokens", _seconds(state.reset_tokens)),
        )
    return headers


def rate_header_block(state: RateState) -> bytes:
    """``rate_headers`` as rendered header lines, at the cost of one format: a template per
    pair of limits holds the names and limits, the request fills in what changes."""
    limit_requests, limit_tokens = state.limit_requests, state.limit_tokens
    if limit_requests is None and limit_tokens is None:
        return b""
    template = _BLOCKS.get((limit_requests, limit_tokens))
    if template is None:
        template = _block_template(limit_requests, limit_tokens)
    requests, tokens = state.remaining_requests, state.remaining_tokens
    requests, tokens = requests if requests > 0 else 0, tokens if tokens > 0 else 0
    if limit_tokens is None:
        return template % (requests, math.ceil(state.reset_requests))
    if limit_requests is None:
        return template % (tokens, math.ceil(state.reset_tokens))
    return template % (
        requests,
        math.ceil(state.reset_requests),
        tokens,
        math.ceil(state.reset_tokens),
    )


_BLOCKS: dict[tuple[int | None, int | None], bytes] = {}


def _block_template(limit_requests: int | None, limit_tokens: int | None) -> bytes:
    lines: list[str] = []
    for kind, limit in (("requests", limit_requests), ("tokens", limit_tokens)):
        if limit is not None:
            lines += (
                f"x-ratelimit-limit-{kind}: {limit}\r\n",
                f"x-ratelimit-remaining-{kind}: %d\r\n",
                f"x-ratelimit-reset-{kind}: %ds\r\n",
            )
    if len(_BLOCKS) >= 4096:
        _BLOCKS.clear()
    template = _BLOCKS[(limit_requests, limit_tokens)] = "".join(lines).encode("latin-1")
    return template


# Limits and reset times repeat from request to request: format each one once.
_LIMIT_TEXTS: dict[int, str] = {}
_SECONDS_TEXTS = [f"{seconds}s" for seconds in range(SPAN + 1)]


def _text(limit: int) -> str:
    text = _LIMIT_TEXTS.get(limit)
    if text is None:
        if len(_LIMIT_TEXTS) >= 4096:
            _LIMIT_TEXTS.clear()
        text = _LIMIT_TEXTS[limit] = str(limit)
    return text


def _seconds(seconds: float) -> str:
    whole = math.ceil(seconds)
    return _SECONDS_TEXTS[whole] if 0 <= whole <= SPAN else f"{whole}s"
