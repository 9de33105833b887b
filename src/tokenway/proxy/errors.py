"""Errors on the wire: the OpenAI envelope, the right status, no secrets, no tracebacks."""

from __future__ import annotations

import logging

import orjson

from tokenway.errors import (
    APIConnectionError,
    AuthenticationError,
    BadGatewayError,
    PermissionDeniedError,
    Timeout,
    TokenwayError,
)
from tokenway.http.errors import ConnectTimeout, HTTPError, ReadTimeout
from tokenway.http.server import Response
from tokenway.proxy.models import Route

log = logging.getLogger("tokenway.proxy")

JSON_HEADERS = [("content-type", "application/json")]
_MAX_RETRY_AFTER = 86_400.0  # a day: longer retry-after figures are sent as this
SSE_HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
]


def envelope(
    message: str, err_type: str, param: str | None = None, code: str | None = None
) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": err_type, "param": param, "code": code}}
    )


def error_response(
    error: TokenwayError, request_id: str | None = None, status: int | None = None
) -> Response:
    """A local error (the client's request, the client's key) as an HTTP response."""
    headers = list(JSON_HEADERS)
    if request_id:
        headers.append(("x-request-id", request_id))
    retry_after = error.retry_after
    if retry_after is not None:
        if not retry_after <= _MAX_RETRY_AFTER:  # an upstream's inf, 1e300 or nan: no 500
            retry_after = _MAX_RETRY_AFTER
        headers.append(("retry-after", str(max(1, round(retry_after)))))
    extra = getattr(error, "headers", None)  # e.g. x-ratelimit-* of a key's own limits
    if extra:
        headers.extend(extra)
    body = orjson.dumps(error.to_dict())
    return Response(status or error.status_code, headers, body)


def upstream_error(error: TokenwayError, route: Route, request_id: str) -> Response:
    """An upstream's error answer, as the client should see it."""
    if isinstance(error, Timeout):
        status = 504
    elif isinstance(error, APIConnectionError):
        status = 502
    elif isinstance(error, AuthenticationError | PermissionDeniedError):
        # The proxy's own upstream credentials were refused: not the client's to fix.
        log.error(
            "upstream %s refused the proxy's credentials for model %s", route.model, route.alias
        )
        error = BadGatewayError(
            f"the upstream for model '{route.alias}' refused the proxy's credentials",
            code="upstream_auth_failed",
        )
        status = 502
    else:
        status = error.status_code if 400 <= error.status_code < 600 else 502
    return error_response(error, request_id, status)


def transport_error(exc: HTTPError, route: Route) -> TokenwayError:
    """No answer from the upstream at all: a timeout (504) or an unreachable upstream (502)."""
    log.warning("upstream %s for %s failed: %s", route.url, route.alias, exc)
    if isinstance(exc, ConnectTimeout | ReadTimeout):
        return Timeout(f"the upstream for model '{route.alias}' timed out")
    return APIConnectionError(f"the upstream for model '{route.alias}' is unreachable")
