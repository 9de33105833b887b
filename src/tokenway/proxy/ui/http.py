"""What every page and asset of the admin UI, the landing page and ``/docs`` is sent with:
a strict Content-Security-Policy (no inline script or style, nothing from elsewhere) and
the headers that keep a browser from guessing types or leaking the URL."""

from __future__ import annotations

from typing import Any

import orjson

from tokenway.errors import TokenwayError
from tokenway.http.server import Response
from tokenway.proxy.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
]
HTML = "text/html; charset=utf-8"
NO_STORE = ("cache-control", "no-store")


def html_response(
    body: str, status: int = 200, extra: list[tuple[str, str]] | None = None
) -> Response:
    headers = [("content-type", HTML), NO_STORE, *SECURITY_HEADERS, *(extra or [])]
    return Response(status, headers, body.encode())


def json_answer(data: Any, status: int = 200) -> Response:
    headers = [("content-type", "application/json"), NO_STORE, *SECURITY_HEADERS]
    return Response(status, headers, orjson.dumps(data))


def json_error(error: TokenwayError) -> Response:
    response = error_response(error)
    response.headers.extend([NO_STORE, *SECURITY_HEADERS])
    return response


def redirect(location: str, extra: list[tuple[str, str]] | None = None) -> Response:
    """A 303 to one of our own paths (never a client's value)."""
    headers = [("location", location), NO_STORE, *SECURITY_HEADERS, *(extra or [])]
    return Response(303, headers, b"")
