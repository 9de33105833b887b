"""OpenAI endpoints this gateway does not serve, answered with an error that says so.

Inference.net, tokenway's provider, has no image generation and no moderation model, so
these paths have nothing to route to. A client gets a 404 in the OpenAI envelope naming
the endpoint (code ``unsupported_endpoint``), rather than the generic unknown-route
answer, so the reason is plain; 404 like OpenAI's own unknown path (no SDK retries it).
"""

from __future__ import annotations

from tokenway.errors import NotFoundError

_WHY = {
    "images/generations": "no image generation model is served (Inference.net has none)",
    "images/edits": "no image generation model is served (Inference.net has none)",
    "images/variations": "no image generation model is served (Inference.net has none)",
    "moderations": "no moderation model is served (Inference.net has none)",
}

UNSUPPORTED_PATHS: dict[str, str] = {
    f"{prefix}/{path}": why for path, why in _WHY.items() for prefix in ("", "/v1")
}


def unsupported(path: str) -> NotFoundError:
    """The error for POST ``path`` (one of ``UNSUPPORTED_PATHS``)."""
    return NotFoundError(
        f"POST {path} is not supported by this gateway: {UNSUPPORTED_PATHS[path]}",
        code="unsupported_endpoint",
    )
