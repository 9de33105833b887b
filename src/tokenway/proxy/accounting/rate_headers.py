"""x-ratelimit-* headers of a limit verdict (``Headroom``), as OpenAI sends them.

Two forms of the same six headers: ``rate_headers`` as (name, value) pairs, for refusals;
``rate_header_block`` as rendered lines for ``Response.header_block``, for every admitted
request of a limited key, so it costs one ``bytes %`` on a cached template (a
``BlockTemplate``: checked by the server's header rules once, when it is made).
"""

from __future__ import annotations

from tokenway.http.server import BlockTemplate
from tokenway.limits.window import Headroom

__all__ = ["rate_header_block", "rate_headers"]


def rate_headers(figures: Headroom) -> list[tuple[str, str]]:
    """The same headers as (name, value) pairs, read off ``rate_header_block``."""
    lines = rate_header_block(figures).decode("latin-1").split("\r\n")
    return [(name, value) for name, _, value in (line.partition(": ") for line in lines if line)]


def rate_header_block(figures: Headroom) -> bytes:
    """x-ratelimit-* of the tightest limits as rendered header lines, at the cost of one
    format: a template per pair of limits holds the names and limits, the request fills in
    what changes (``Headroom``'s figures are final: clamped and rounded)."""
    limit_requests, requests, reset_requests, limit_tokens, tokens, reset_tokens = figures
    template = _BLOCKS.get((limit_requests, limit_tokens))
    if template is None:
        template = _block_template(limit_requests, limit_tokens)
    if limit_tokens is None:
        return template.render(requests, reset_requests) if limit_requests is not None else b""
    if limit_requests is None:
        return template.render(tokens, reset_tokens)
    return template.render(requests, reset_requests, tokens, reset_tokens)


# Checked once by the server's header rules when made, so the server writes what they
# render without another look.
_BLOCKS: dict[tuple[int | None, int | None], BlockTemplate] = {}


def _block_template(limit_requests: int | None, limit_tokens: int | None) -> BlockTemplate:
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
    template = BlockTemplate("".join(lines).encode("latin-1"))
    _BLOCKS[(limit_requests, limit_tokens)] = template
    return template
