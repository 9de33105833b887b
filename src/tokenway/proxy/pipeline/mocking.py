"""``mock_response``, ``mock_tool_calls`` and ``mock_timeout`` on the proxy, as in the SDK,
and LiteLLM's ``mock_testing_fallbacks`` and ``mock_testing_rate_limit_error``.

LiteLLM documents these request fields for tests: the answer is made up without calling
the upstream, and still routed, limited and accounted. ``take_mock`` takes them out of
the body (they are never sent upstream) and checks them; an attempt with a mock answers
with ``tokenway.mock``'s bytes in the upstream's own format, so the relay, the usage and
the spend row are the real ones. Chat only: another endpoint refuses them rather than
calling the upstream for real. ``mock_timeout: true`` waits the request's ``timeout``
(seconds, bounded by the attempt's budget), then fails as a timed-out upstream does.

``mock_testing_fallbacks: true`` treats the requested model as failed before any call and
goes to its fallbacks (the request's own, else the configured ones; none is a 500), so a
client can test its fallback set-up. ``mock_testing_rate_limit_error: true`` fails the
first attempt with a 429 that nothing was asked for, so the retry that follows is real.
Neither is held against a deployment (``router.cooldown.MOCK_FAILURE``): a test must not
take a deployment out of rotation for everyone else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tokenway.errors import BadRequestError, InternalServerError, RateLimitError
from tokenway.http.server import Response
from tokenway.mock import MOCK_PARAMS
from tokenway.proxy.models import Route
from tokenway.router.cooldown import MOCK_FAILURE

# LiteLLM's testing flags, which make failures rather than answers.
FLAGS = ("mock_testing_fallbacks", "mock_testing_rate_limit_error")
_FIELDS = (*sorted(MOCK_PARAMS), *FLAGS)
_FIELD_SET = frozenset(_FIELDS)
Send = Callable[[Route, float], Awaitable[Response]]


def take_mock(body: dict[str, Any], endpoint: str, mocks: bool) -> dict[str, Any] | None:
    """The request's mock fields, taken out of ``body`` and checked; None if it has none."""
    if body.keys().isdisjoint(_FIELD_SET):  # the usual request: one C-level check
        return None
    params = {name: body.pop(name) for name in _FIELDS if name in body}
    if not mocks:
        name = sorted(params)[0]
        raise BadRequestError(
            f"'{name}' is taken by the chat endpoint only, not by {endpoint}",
            param=name,
            code="unsupported_parameter",
        )
    reply = params.get("mock_response")
    if reply is not None and not isinstance(reply, str):
        raise _bad("mock_response", "a string (the answer's text, or an error's name)")
    calls = params.get("mock_tool_calls")
    if calls is not None and not (
        isinstance(calls, list) and all(isinstance(call, dict) for call in calls)
    ):
        raise _bad("mock_tool_calls", "a list of tool call objects")
    for flag in ("mock_timeout", *FLAGS):
        if params.get(flag) is not None and not isinstance(params[flag], bool):
            raise _bad(flag, "true or false")
    wait = params.get("mock_timeout")
    if wait:
        timeout = body.pop("timeout", None)
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if timeout is not None and not (number and 0 < timeout <= 3600):
            raise _bad("timeout", "seconds, more than 0 and at most 3600")
        params["timeout"] = timeout
    return params


def _bad(name: str, what: str) -> BadRequestError:
    return BadRequestError(f"'{name}' must be {what}", param=name, code="invalid_value")


def answers(params: dict[str, Any]) -> bool:
    """Whether the mock answers (or times out) in place of the upstream."""
    return any(params.get(name) is not None for name in MOCK_PARAMS)


def mock_fallback(
    alias: str, fallbacks: tuple[str, ...] | None, configured: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """``mock_testing_fallbacks``: the group to call instead of ``alias``, and the rest."""
    names = fallbacks if fallbacks is not None else configured
    if not names:
        raise InternalServerError(
            f"mock_testing_fallbacks: model '{alias}' failed (as asked) and has no fallbacks",
            code=MOCK_FAILURE,
        )
    return names[0], tuple(names[1:])


def rate_limited_once(send: Send) -> Send:
    """``mock_testing_rate_limit_error``: ``send``, after a first attempt that gets a 429."""
    failed = False

    async def attempt(route: Route, budget: float) -> Response:
        nonlocal failed
        if not failed:
            failed = True
            raise RateLimitError(
                f"mock_testing_rate_limit_error: a rate limit for model '{route.alias}', as asked",
                code=MOCK_FAILURE,
                retry_after=0.0,
            )
        return await send(route, budget)

    return attempt
