"""``mock_response``, ``mock_tool_calls`` and ``mock_timeout`` on the proxy, as in the SDK.

LiteLLM documents these request fields for tests: the answer is made up without calling
the upstream, and still routed, limited and accounted. ``take_mock`` takes them out of
the body (they are never sent upstream) and checks them; an attempt with a mock answers
with ``tokenway.mock``'s bytes in the upstream's own format, so the relay, the usage and
the spend row are the real ones. Chat only: another endpoint refuses them rather than
calling the upstream for real. ``mock_timeout: true`` waits the request's ``timeout``
(seconds, bounded by the attempt's budget), then fails as a timed-out upstream does.
"""

from __future__ import annotations

from typing import Any

from tokenway.errors import BadRequestError
from tokenway.mock import MOCK_PARAMS


def take_mock(body: dict[str, Any], endpoint: str, mocks: bool) -> dict[str, Any] | None:
    """The request's mock fields, taken out of ``body`` and checked; None if it has none."""
    if (
        "mock_response" not in body
        and "mock_tool_calls" not in body
        and ("mock_timeout" not in body)
    ):
        return None
    params = {name: body.pop(name) for name in MOCK_PARAMS if name in body}
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
    wait = params.get("mock_timeout")
    if wait is not None and not isinstance(wait, bool):
        raise _bad("mock_timeout", "true or false")
    if wait:
        timeout = body.pop("timeout", None)
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if timeout is not None and not (number and 0 < timeout <= 3600):
            raise _bad("timeout", "seconds, more than 0 and at most 3600")
        params["timeout"] = timeout
    return params


def _bad(name: str, what: str) -> BadRequestError:
    return BadRequestError(f"'{name}' must be {what}", param=name, code="invalid_value")
