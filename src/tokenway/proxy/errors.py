"""Errors on the wire: the OpenAI envelope, the right status, no secrets, no tracebacks.

An upstream's error text is the upstream's to write: it may quote the key the proxy sent
(some servers echo a rejected key, or the request's headers). ``upstream_failure`` is how
the proxy turns an upstream's error answer into an error, and it scrubs the text then, so
the router's and the relay's logs and the client's answer never carry it; ``upstream_error``
scrubs again where any error becomes the client's answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

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

REDACTED = "[redacted]"
# What looks like a credential whoever it belongs to: a bearer token (eight characters of
# token alphabet at least: "the bearer of" is prose), an OpenAI-style ``sk-`` key, a
# URL's password. The deployment's own key is matched exactly besides.
_CREDENTIALS = re.compile(
    r"(?i)(?P<bearer>\bbearer\s+)[\w.~+/=-]{8,}"
    r"|\bsk-[\w-]{6,}"
    r"|(?P<url>\b[a-z][\w+.-]*://[^:/@\s]*:)[^@\s]+@"
)

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


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without ``secrets`` nor anything that looks like a credential."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _CREDENTIALS.sub(_redact, text)


def _redact(match: re.Match[str]) -> str:
    keep = match["bearer"] or match["url"] or ""
    return f"{keep}{REDACTED}" + ("@" if match["url"] else "")


def scrub_error(error: TokenwayError, route: Route) -> TokenwayError:
    """``error`` with its client-visible text scrubbed, and the upstream's raw body dropped."""
    secrets = route.secrets
    error.message = scrub(error.message, secrets)
    if error.param is not None:
        error.param = scrub(error.param, secrets)
    if error.code is not None:
        error.code = scrub(error.code, secrets)
    error.body = None
    return error


def upstream_failure(
    route: Route, status: int, headers: Mapping[str, str], raw: bytes
) -> TokenwayError:
    """The error an upstream's error answer (or error frame) stands for, scrubbed."""
    return scrub_error(route.provider.map_error(status, headers, raw), route)


def bad_answer(route: Route, what: str) -> BadGatewayError:
    """An upstream answer the proxy cannot read: a 502 the router may retry elsewhere."""
    log.warning("upstream %s for %s sent %s", route.model, route.alias, what)
    return BadGatewayError(
        f"the upstream for model '{route.alias}' sent {what}", code="bad_upstream_response"
    )


def upstream_error(error: TokenwayError, route: Route, request_id: str) -> Response:
    """An upstream's error answer, as the client should see it."""
    error = scrub_error(error, route)
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
