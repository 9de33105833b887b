"""CORS for browser clients: off unless ``general_settings.cors_allow_origins`` is set.

tokenway's own keys (LiteLLM's config reference has none for this):

* ``cors_allow_origins``: origins allowed to call, as a browser sends them
  (``https://app.example``, ``http://localhost:3000``), or ``"*"`` for any;
* ``cors_max_age``: seconds a browser may cache a preflight's answer (default 600).

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) to any
path is answered here, 204, before authentication: browsers send it without credentials.
Every other answer to an allowed origin carries ``access-control-allow-origin``. A
disallowed origin gets no CORS header at all, so the browser refuses to hand it the
answer. Nothing the client sent is copied into a header unchecked: the origin echoed is
one that equals a configured origin, and the requested header names are echoed only when
each is an HTTP token (else a fixed list is sent).

The proxy pays for CORS only when it is configured: ``create_app`` then builds the app
class that calls ``Cors`` (``tokenway.proxy.app``); without it, requests never get here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tokenway.http.server import Request, Response
from tokenway.proxy.config.settings import DEFAULT_CORS_MAX_AGE
from tokenway.proxy.echo import echoable_token_list

__all__ = ["Cors"]

ALLOW_METHODS = "GET, POST"
# Sent when the requested header names are not a clean list of tokens.
DEFAULT_ALLOW_HEADERS = "authorization, content-type, x-request-id"
# Readable by a page's script: what the openai SDK and a rate-limit-aware client read.
EXPOSE_HEADERS = (
    "x-request-id, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
    "x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, "
    "x-ratelimit-reset-tokens"
)


class Cors:
    """The CORS answers of one proxy: which origins, for how long a preflight holds."""

    __slots__ = ("_any", "_max_age", "_origins")

    def __init__(self, origins: Sequence[str], max_age: int = DEFAULT_CORS_MAX_AGE) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins) - {"*"}
        self._max_age = str(max_age)

    def allow_origin(self, origin: str) -> str | None:
        """The ``access-control-allow-origin`` value for ``origin``; None when not allowed.
        With ``"*"`` configured the answer is ``*`` itself (no client bytes echoed)."""
        if self._any:
            return "*"
        lowered = origin.lower()
        return lowered if lowered in self._origins else None

    def preflight(self, request: Request, origin: str) -> Response | None:
        """The answer to a preflight; None when ``request`` is not one (it is routed on)."""
        if request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
            return None
        allowed = self.allow_origin(origin)
        if allowed is None:
            return Response(204, [("vary", "origin")])
        return Response(
            204,
            [
                ("access-control-allow-origin", allowed),
                ("access-control-allow-methods", ALLOW_METHODS),
                ("access-control-allow-headers", _allow_headers(request.headers)),
                ("access-control-max-age", self._max_age),
                ("vary", "origin, access-control-request-headers"),
            ],
        )

    def decorate(self, response: Response, origin: str) -> None:
        """Add the CORS headers of an allowed origin to an ordinary answer."""
        allowed = self.allow_origin(origin)
        if allowed is not None:
            response.headers = [
                *response.headers,
                ("access-control-allow-origin", allowed),
                ("access-control-expose-headers", EXPOSE_HEADERS),
                ("vary", "origin"),
            ]


def _allow_headers(headers: Mapping[str, str]) -> str:
    """The requested header names when they are a clean token list (``proxy.echo``)."""
    requested = headers.get("access-control-request-headers", "")
    return echoable_token_list(requested) or DEFAULT_ALLOW_HEADERS
