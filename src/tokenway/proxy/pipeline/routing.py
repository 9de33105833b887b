"""What a chat request itself says about its routing: its own ``fallbacks``, and the
concrete route of a wildcard deployment for the model it names.

A request's ``"fallbacks": ["alias", ...]`` (LiteLLM's client-side fallbacks) replaces the
configured fallbacks of its model for that call. It is never sent upstream. Each name
must be served (an alias, or a model a wildcard deployment takes), and a virtual key may
name only models it may use. LiteLLM's other form, objects ``{"model": "alias",
"messages": [...]}``, sends that fallback the given messages instead of the request's;
an object with any other field is refused rather than half honoured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tokenway.errors import BadRequestError, PermissionDeniedError
from tokenway.http.server import Response
from tokenway.proxy.accounting.gate import may_use
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.models import Route
from tokenway.router import RouteTrace, RoutingEngine
from tokenway.router.patterns import is_pattern

MAX_FALLBACKS = 16  # names one request may list; more is a mistake, not a plan

Send = Callable[[Route, float], Awaitable[Response]]


def request_fallbacks(
    value: object, router: RoutingEngine[Route], key: KeyContext | None
) -> tuple[str, ...]:
    """The request's ``fallbacks``, checked; raises the 400 or 403 naming ``fallbacks``."""
    if isinstance(value, list):
        value = [_name_of(item) for item in value]
    if (
        not isinstance(value, list)
        or len(value) > MAX_FALLBACKS
        or not all(isinstance(name, str) and name for name in value)
    ):
        raise BadRequestError(
            "'fallbacks' must be a list of at most "
            f'{MAX_FALLBACKS} model names served here, e.g. ["other-model"]',
            param="fallbacks",
            code="invalid_value",
        )
    for name in value:
        if router.find(name) is None:
            served = ", ".join(a for a in router.groups() if not is_pattern(a)) or "none"
            raise BadRequestError(
                f"'fallbacks' names model '{name}', which is not served here; "
                f"served models: {served}",
                param="fallbacks",
                code="model_not_found",
            )
        models = key.models if key is not None and not key.unrestricted else None
        if not may_use(models, name):
            raise PermissionDeniedError(
                f"'fallbacks' names model '{name}', which this API key may not use",
                param="fallbacks",
                code="model_not_allowed",
            )
    return tuple(value)


def fallback_messages(value: object) -> dict[str, list[Any]]:
    """The messages each object-form fallback replaces the request's with, by alias
    (``value`` is a list ``request_fallbacks`` accepted)."""
    found: dict[str, list[Any]] = {}
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict) and "messages" in item:
            found[item["model"]] = item["messages"]
    return found


def with_messages(sends: dict[str, Send], default: Send) -> Send:
    """``default``, except for the groups of ``sends`` (object-form fallbacks)."""

    async def attempt(route: Route, budget: float) -> Response:
        return await sends.get(route.alias, default)(route, budget)

    return attempt


def _name_of(item: object) -> object:
    """A fallback's alias: the item itself, or an object's ``model`` (checked here)."""
    if not isinstance(item, dict):
        return item
    messages = item.get("messages")
    if set(item) - {"model", "messages"} or (
        "messages" in item
        and not (
            isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages)
        )
    ):
        raise BadRequestError(
            "an object in 'fallbacks' takes 'model' and optionally 'messages' (a non-empty "
            'list of messages), e.g. {"model": "other-model", "messages": [...]}',
            param="fallbacks",
            code="invalid_value",
        )
    return item.get("model")


def concrete(send: Send, trace: RouteTrace[Route]) -> Send:
    """``send`` given, for a wildcard deployment, its route for the model being tried
    (the requested one, or the fallback the router moved on to)."""

    async def attempt(route: Route, budget: float) -> Response:
        wildcard = route.wildcard
        if wildcard is not None:
            route = wildcard.route(trace.group)
        return await send(route, budget)

    return attempt
