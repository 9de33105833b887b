"""What the app answers by itself, with no model behind it: request ids, the model
lists, liveness and readiness, ``/metrics``, ``/routes``, and the refusals of routing
(405, a route not allowed, an endpoint this gateway does not serve)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import parse_qsl

import orjson

from tokenway import __version__
from tokenway.errors import NotFoundError, PermissionDeniedError, TokenwayError
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.router_stats import RouterStats
from tokenway.proxy.config import ProxyConfig
from tokenway.proxy.endpoints.unsupported import unsupported
from tokenway.proxy.errors import JSON_HEADERS, envelope
from tokenway.proxy.models import ModelTable, build_router
from tokenway.proxy.models import Route as ModelRoute
from tokenway.proxy.pipeline import CallContext
from tokenway.proxy.pipeline.context import LITELLM_API_VERSION
from tokenway.proxy.services import Services
from tokenway.proxy.ui import UIRoute
from tokenway.retry import Backoff
from tokenway.router import RoutingEngine
from tokenway.router.shared import SharedCooldowns

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format


class ModelListing:
    """``GET /v1/models`` (``/models``) and ``GET /v1/models/{id}``: the served aliases a
    caller may use. ``models`` gives the current table (it changes when stored models
    do); ``groups``, LiteLLM's access groups, is kept by reference."""

    def __init__(
        self, models: Callable[[], ModelTable], groups: Mapping[str, frozenset[str]], started: int
    ) -> None:
        self._models = models
        self._groups = groups
        self._started = started

    async def list_models(self, request: Request, ctx: CallContext) -> Response:
        names = self.usable(ctx)
        if asks_access_groups(request.query):  # LiteLLM's: the access groups, as models
            allowed = ctx.key.models if ctx.key is not None else None
            names = [g for g in self._groups if allowed is None or g in allowed]
        data = [self.entry(alias) for alias in names]
        body = orjson.dumps({"object": "list", "data": data})
        return Response(200, [*JSON_HEADERS, ("x-request-id", ctx.request_id)], body)

    async def get_model(self, request: Request, ctx: CallContext) -> Response:
        alias = request.path.split("/models/", 1)[1]
        usable = self.usable(ctx)
        if alias not in usable:
            if ctx.key is None or ctx.key.models is None:
                self._models().group(alias)  # 404 listing the served aliases
            # 404 as OpenAI answers for a model the key cannot use: the SDK's
            # NotFoundError, and the key learns nothing about models outside its list.
            raise NotFoundError(
                f"model '{alias}' is not served to this API key; "
                f"its models: {', '.join(usable) or 'none'}",
                param="model",
                code="model_not_found",
            )
        body = orjson.dumps(self.entry(alias))
        return Response(200, [*JSON_HEADERS, ("x-request-id", ctx.request_id)], body)

    def usable(self, ctx: CallContext) -> list[str]:
        """The served aliases the caller may use: a virtual key's allowed models (its own
        capped by its team's, the set the gate admits chat requests by), else all."""
        aliases = self._models().aliases()
        allowed = ctx.key.models if ctx.key is not None else None
        return aliases if allowed is None else [a for a in aliases if a in allowed]

    def entry(self, alias: str) -> dict[str, object]:
        return {"id": alias, "object": "model", "created": self._started, "owned_by": "tokenway"}


def new_request_id() -> str:
    """Time-ordered: the process's start time (microseconds, hex), a random part, then a
    counter. Spend rows keyed by it are appended to the store's request-id index instead of
    scattered over it, which halves what a batch of rows costs SQLite to write; and there is
    no clock read or syscall per request (the random part is drawn once per process)."""
    return f"{_ids.prefix}{next(_ids.counter):010x}"


class _RequestIds:
    """The per-process state of ``new_request_id``, drawn again in a forked worker."""

    __slots__ = ("counter", "prefix")
    prefix: str
    counter: itertools.count[int]

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = f"{time.time_ns() // 1000:014x}{os.urandom(3).hex()}"
        self.counter = itertools.count()


_ids = _RequestIds()
os.register_at_fork(after_in_child=_ids.reset)


class MethodNotAllowed(TokenwayError):
    """A 405 with the ``Allow`` header RFC 9110 requires (sent by ``error_response``)."""

    status_code = 405
    error_type = "invalid_request_error"

    def __init__(self, request: Request, allowed: list[str]) -> None:
        allow = ", ".join(sorted(set(allowed)))
        super().__init__(f"{request.method} is not allowed on {request.path}; use {allow}")
        self.headers = [("allow", allow)]


# One instance: the refusal carries nothing of the request (the path is not echoed).
ROUTE_NOT_ALLOWED = PermissionDeniedError(
    "this route is not allowed on this proxy (general_settings.allowed_routes)",
    code="route_not_allowed",
)


def routes_body(routes: Sequence[tuple[str, str]]) -> bytes:
    methods: dict[str, list[str]] = {}
    for method, path in routes:
        methods.setdefault(path, []).append(method)
    listed = [{"path": path, "methods": sorted(set(m))} for path, m in sorted(methods.items())]
    return orjson.dumps({"routes": listed})


async def unsupported_route(request: Request, ctx: CallContext) -> Response:
    raise unsupported(request.path)


def asks_access_groups(query: str) -> bool:
    """``?only_model_access_groups=true`` (LiteLLM's ``/models`` flag)."""
    if not query:
        return False
    flag = dict(parse_qsl(query)).get("only_model_access_groups", "")
    return flag.strip().lower() in ("1", "true", "yes")


def answer(make: Callable[[], Response]) -> UIRoute:
    """A route whose answer needs nothing of the request."""

    async def route(request: Request) -> Response:
        return make()

    return route


def alive() -> Response:
    return Response(200, list(JSON_HEADERS), b'{"status":"healthy"}')


def readiness(state: str, models: int, services: Services) -> Response:
    """503 while starting, and while the store is known down (its last call failed):
    spend rows then wait in the journal, and unknown virtual keys are refused. With
    ``allow_requests_on_db_unavailable`` every key is served through an outage, so the
    proxy stays ready (200, ``degraded``) and a load balancer keeps sending to it."""
    ok = state == "ready" or (state == "degraded" and services.serves_through_outage)
    body = orjson.dumps(
        {
            "status": state,
            "models": models,
            "db": "connected" if services.store_available else "unavailable",
            # The LiteLLM release whose API this proxy is measured against, for
            # LiteLLM clients that read it; tokenway's own version is "version".
            "litellm_version": LITELLM_API_VERSION,
            "version": __version__,
        }
    )
    return Response(200 if ok else 503, list(JSON_HEADERS), body)


def metrics_routes(
    exposition: Callable[[], bytes],
) -> tuple[UIRoute, Callable[[Request, CallContext], Awaitable[Response]]]:
    """``GET /metrics`` as a public route and as a keyed one (Prometheus's text format)."""
    headers = [("content-type", METRICS_CONTENT_TYPE)]

    async def public(request: Request) -> Response:
        return Response(200, list(headers), exposition())

    async def keyed(request: Request, ctx: CallContext) -> Response:
        return Response(200, list(headers), exposition())

    return public, keyed


def shared_router(
    config: ProxyConfig, services: Services, routes: Sequence[ModelRoute], backoff: Backoff | None
) -> RoutingEngine[ModelRoute]:
    """The routing engine; with Redis, its cooldowns are every instance's, and with
    Redis or the workers' counter, so are its deployments' rpm/tpm/parallel limits."""
    events, shared = services.key_events, services.shared_limits
    cooldowns = SharedCooldowns(limits=shared) if events or shared else None
    router = build_router(config, routes, backoff, cooldowns)
    redis = config.redis
    if events is not None and cooldowns is not None and redis is not None:  # with Redis
        cooldowns.publish = events.publish_cooldown
        events.on_cooldown = cooldowns.apply
        services.router_stats = RouterStats(redis.url, redis.key_prefix, cooldowns)
    if shared is not None and cooldowns is not None:
        router.admission = cooldowns.admit
    return router


def protocol_error(status: int, message: str) -> Response:
    """For the server's own errors (malformed HTTP, body too large, a crashed handler)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 413:  # one sentence, whatever the server's wording
        message = "Request body too large: it is larger than this proxy accepts."
    return Response(status, list(JSON_HEADERS), envelope(message, kind))


__all__ = [
    "ROUTE_NOT_ALLOWED",
    "MethodNotAllowed",
    "ModelListing",
    "alive",
    "answer",
    "metrics_routes",
    "new_request_id",
    "protocol_error",
    "readiness",
    "routes_body",
    "shared_router",
    "unsupported_route",
]
