"""The proxy application: ``create_app(config)`` → an object the HTTP server calls.

Routing is a dict lookup on (method, path); every error leaves as the OpenAI envelope.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from tokenway.catalog import Catalog
from tokenway.errors import NotFoundError, PermissionDeniedError, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.gate import Gate
from tokenway.proxy.admin import AdminAPI
from tokenway.proxy.admin.permissions import check_usable, is_proxy_admin
from tokenway.proxy.app_parts import (
    ROUTE_NOT_ALLOWED,
    MethodNotAllowed,
    ModelListing,
    alive,
    answer,
    metrics_routes,
    new_request_id,
    protocol_error,
    readiness,
    routes_body,
    shared_router,
    unsupported_route,
)
from tokenway.proxy.auth import Authenticator, Principal
from tokenway.proxy.config import DeploymentConfig, ProxyConfig, StartupError
from tokenway.proxy.cors import Cors
from tokenway.proxy.echo import echoable_request_id
from tokenway.proxy.endpoints import ENDPOINTS
from tokenway.proxy.endpoints.azure import azure_target, with_model
from tokenway.proxy.endpoints.health import HealthChecker
from tokenway.proxy.endpoints.openapi import openapi_document
from tokenway.proxy.endpoints.unsupported import UNSUPPORTED_PATHS
from tokenway.proxy.errors import JSON_HEADERS, error_response
from tokenway.proxy.models import ModelTable, access_groups, build_routes
from tokenway.proxy.models import Route as ModelRoute
from tokenway.proxy.observability import build_observer
from tokenway.proxy.observability.access import Sink, access_record, answer_logged, logged_route
from tokenway.proxy.pipeline import CallContext, Pipeline, Wrap
from tokenway.proxy.served import LiveModels, ModelRoutes, SecretBox, Served
from tokenway.proxy.services import Services
from tokenway.proxy.ui import AdminUI, UIRoute
from tokenway.proxy.ui.data import UIData
from tokenway.proxy.ui.models_view import ModelsView
from tokenway.retry import Backoff

log = logging.getLogger("tokenway.proxy")

Route = Callable[[Request, CallContext], Awaitable[Response]]

# At shutdown, how long calls whose client has gone may run on before the upstream
# connections close: long enough for most answers; a call cut off later still leaves its
# spend row in the journal (recorded as a client that left).
DRAIN_TIMEOUT = 10.0


class ProxyApp:
    def __init__(
        self,
        config: ProxyConfig,
        *,
        env: Mapping[str, str] | None = None,
        catalog: Catalog | None = None,
        backoff: Backoff | None = None,
        data_dir: Path | None = None,
        wraps: Sequence[Wrap] = (),
        counter: str | None = None,
    ) -> None:
        """``wraps``: steps around every model endpoint's requests (``Pipeline``);
        ``counter``: the workers' shared limit counter's socket (``Services``)."""
        env = os.environ if env is None else env
        self.config = config
        self.started = int(time.time())
        self._env = env
        self._catalog = catalog or Catalog()
        routes = self._build_routes(config.deployments)
        self.models = ModelTable(routes)
        self._served = [Served(d, r) for d, r in zip(config.deployments, routes, strict=True)]
        # Shared by reference with the key cache and the admin API, updated in place when
        # the served models change (``_serve_deployments``).
        groups = access_groups(config.deployments)
        self._served_names = self.models.names()
        self.services = Services(
            config.database_url,
            config.spend,
            data_dir or Path("."),
            config.redis,
            counter,
            access_groups=groups,
        )
        self.router = shared_router(self.config, self.services, routes, backoff)
        self.auth = Authenticator(config.master_key, keys=self.services.keys)
        self.spend = self.services.tracker
        self.http = AsyncHTTPClient()
        self._build_pipelines(routes, wraps)
        self.ready = False
        self.live_models = LiveModels(
            config.deployments,
            self.services.store,
            SecretBox.from_env(env, config.master_key),
            env,
            self._serve_deployments,
            is_open=lambda: self.services.store_open,
        )
        self._listing = ModelListing(lambda: self.models, groups, self.started)
        self._route_tables(groups)
        self._serve_metrics()
        # A line for each request that is not a model request, when the request log is on.
        self._access = self.observer.log if self.observer is not None else None
        self._model_detail: Route = self._listing.get_model
        if self._access is not None:
            self._log_routes(self._access)
        self._openapi_body = orjson.dumps(openapi_document(self.models.aliases()))
        self._routes_body = routes_body((*self._private, *self._admin, *self._public))
        # general_settings.allowed_routes: exact paths; None (the default) allows every route
        self._allowed_routes = config.allowed_routes

    def _build_pipelines(self, routes: Sequence[ModelRoute], wraps: Sequence[Wrap]) -> None:
        """One pipeline per endpoint over one gate, the observer, and the health checks."""
        config = self.config
        gate = Gate(self.services.limits, budgets=self.services.budgets)
        self.end_users = self.services.end_users_of(gate)
        self.observer = build_observer(config.observability, routes)
        self.pipelines = {
            endpoint.name: Pipeline(
                endpoint,
                self.router,
                self.http,
                self.spend,
                gate,
                wraps,
                self.end_users,
                self.observer,
            )
            for endpoint in ENDPOINTS
        }
        self.health = HealthChecker(
            self.router,
            routes,
            self.http,
            master_key=config.master_key,
            settings=config.health,
        )

    def _build_routes(self, deployments: Sequence[DeploymentConfig]) -> list[ModelRoute]:
        config = self.config
        return build_routes(
            tuple(deployments),
            self._env,
            self._catalog,
            config.request_timeout,
            drop_params=config.drop_params,
        )

    def _serve_deployments(self, deployments: Sequence[DeploymentConfig]) -> None:
        """Serve ``deployments`` from now on: the config's and the stored ones
        (``LiveModels`` calls this when the stored models change)."""
        try:
            routes = self._build_routes(deployments)
        except StartupError as error:  # LiveModels checked each; keep serving what is
            log.error("served models not changed: %s", error)
            return
        self.router.set_deployments(routes)
        self.models = ModelTable(routes)
        self._served = [Served(d, r) for d, r in zip(deployments, routes, strict=True)]
        for pipeline in self.pipelines.values():
            pipeline.models_changed()
        self.health.set_routes(routes)
        self._served_names[:] = self.models.names()
        self.services.models_served(deployments)  # team models: their teams' keys only
        groups = access_groups(deployments)
        self._groups.clear()
        self._groups.update(groups)

    def _route_tables(self, groups: dict[str, frozenset[str]]) -> None:
        """The (method, path) tables: model endpoints, management, and public routes."""
        self._groups = groups
        models = ModelRoutes(
            self.live_models, lambda: self._served, enabled=self.config.store_model_in_db
        )
        self._private: dict[tuple[str, str], Route] = {
            **{
                ("POST", path): pipeline.handle
                for pipeline in self.pipelines.values()
                for path in pipeline.endpoint.paths
            },
            ("GET", "/v1/models"): self._listing.list_models,
            ("GET", "/models"): self._listing.list_models,
            **models.readable(),
            **{("POST", path): unsupported_route for path in UNSUPPORTED_PATHS},
        }
        admin = AdminAPI(
            self.services.store,
            served_models=self._served_names,
            access_groups=groups,
            on_key_change=self.services.key_changed,
            admins_join_teams=not self.config.general_settings.get(
                "disable_auto_add_proxy_admin_to_teams"
            ),
            on_end_user_change=self.end_users.invalidate,
        )
        management = admin.routes()
        self._admin: dict[tuple[str, str], Route] = {
            **management,
            **models.managing(),
            ("GET", "/health"): self.health,
        }
        # Management routes a virtual key may try; its handler checks the key's scope.
        self._self_service = admin.self_service()
        # Answered without a key (the UI's own routes check their session themselves).
        self._public: dict[tuple[str, str], UIRoute] = {
            ("GET", "/health/liveliness"): answer(alive),
            ("GET", "/health/liveness"): answer(alive),
            ("GET", "/health/readiness"): answer(self._readiness),
            ("GET", "/openapi.json"): answer(self._openapi),
            ("GET", "/routes"): answer(self._routes),
            **AdminUI(
                self.config.master_key,
                management,
                UIData(self.services.store, self._models_view()).routes(),
                aliases=self.models.aliases(),
                status=self._state,
            ).routes(),
        }

    def _models_view(self) -> ModelsView:
        key = self.config.master_key
        # the current table: models added or removed through /model/* show at once
        return ModelsView(lambda: self.models.routes, self.router, self.__call__, key)

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or ""
        # Echoed and stored only in a conservative form; anything else gets a fresh id.
        chosen = bool(request_id) and echoable_request_id(request_id)
        if not chosen:
            request_id = new_request_id()
        key = (request.method, request.path)
        public = self._public.get(key)
        if public is not None:
            if self._access is not None:
                return await answer_logged(self._access, public, request, request_id, started)
            return await public(request)
        ctx = None
        if self._allowed_routes is not None and request.path not in self._allowed_routes:
            return self._refused(ROUTE_NOT_ALLOWED, request, request_id, started, ctx)
        try:
            principal = self.auth.authenticate(request.headers)
            if principal.unresolved:
                principal = await self.auth.resolve(principal)
            route = (
                self._private.get(key)
                or self._admin_route(key, principal)
                or self._model_route(request)
            )
            ctx = CallContext(request_id, started, principal.key_hash, principal.key, chosen)
            return await route(request, ctx)
        except TokenwayError as error:
            if self._access is None:
                return error_response(error, request_id)
            return self._refused(error, request, request_id, started, ctx)

    def _refused(
        self,
        error: TokenwayError,
        request: Request,
        request_id: str,
        started: float,
        ctx: CallContext | None,
    ) -> Response:
        """The error's answer, and its line unless a model request's own says it (the
        observer's: it set ``on_close``)."""
        response = error_response(error, request_id)
        if self._access is not None and (ctx is None or ctx.on_close is None):
            key_hash = ctx.key_hash if ctx is not None else None
            code = error.code or error.error_type
            record = access_record(request, request_id, started, response.status, key_hash, code)
            self._access.emit_access(record)
        return response

    def _log_routes(self, sink: Sink) -> None:
        """Every route but the model endpoints (which the observer logs), each answer with
        its line."""
        for key, route in self._admin.items():
            self._admin[key] = logged_route(sink, route)
        model_paths = {path for p in self.pipelines.values() for path in p.endpoint.paths}
        for key, route in self._private.items():
            if key[1] not in model_paths:  # model lists and info, refused endpoints
                self._private[key] = logged_route(sink, route)
        self._model_detail = logged_route(sink, self._listing.get_model)

    async def start(self) -> None:
        """Open the store, start the spend writer and health checks, in the serving loop."""
        await self.services.start()
        if self.config.store_model_in_db:
            await self.live_models.start()
        self.health.start()
        if self.observer is not None:
            self.observer.watch(self.router, self.services.writer)
            self.observer.start()

    async def aclose(self, drain_timeout: float = DRAIN_TIMEOUT) -> None:
        """Let upstream calls still running end (bounded; the server has stopped taking
        requests), so that their spend rows hold what happened, then close."""
        await self.health.stop()
        await self.live_models.aclose()
        await self.services.drain(drain_timeout)
        await self.http.aclose()
        await self.services.aclose()
        if self.observer is not None:
            self.observer.close()

    def watch_connections(self, count: Callable[[], int]) -> None:
        """The server's open connections, for the metrics (``serve_app`` tells it)."""
        if self.observer is not None:
            self.observer.watch(connections=count)

    def _serve_metrics(self) -> None:
        """``GET /metrics`` when the prometheus callback is on: the master key's, unless
        ``require_auth_for_metrics_endpoint: false``."""
        metrics = self.observer.metrics if self.observer is not None else None
        if metrics is None:
            return
        public, route = metrics_routes(metrics.exposition)
        if self.config.observability.metrics_public:
            self._public[("GET", "/metrics")] = public
        else:
            self._admin[("GET", "/metrics")] = route

    def _admin_route(self, key: tuple[str, str], principal: Principal) -> Route | None:
        """Management endpoints: the master key's, a ``proxy_admin`` user's key's, and the
        self-service routes for other virtual keys (``proxy/admin/permissions.py``)."""
        route = self._admin.get(key)
        if route is None or principal.kind == "master":
            return route
        virtual = principal.key
        if virtual is not None:
            check_usable(virtual)
            if key in self._self_service or is_proxy_admin(virtual):
                return route
        if key == ("GET", "/health") and principal.kind == "anonymous":
            return route  # a loopback-only proxy without a master key may be probed
        needs = "needs the master key" if self.auth.enabled else "needs a master_key in config"
        raise PermissionDeniedError(f"{key[1]} {needs}", code="master_key_required")

    def _model_route(self, request: Request) -> Route:
        azure = azure_target(request.path) if request.method == "POST" else None
        if azure is not None:  # /openai/deployments/{model}/chat/completions
            request.body = with_model(request.body, azure[1])
            return self.pipelines[azure[0]].handle
        if request.path.startswith(("/v1/models/", "/models/")):
            if request.method == "GET":
                return self._model_detail
            raise MethodNotAllowed(request, ["GET"])
        routes = (*self._private, *self._public, *self._admin)
        allowed = [method for method, path in routes if path == request.path]
        if allowed:
            raise MethodNotAllowed(request, allowed)
        raise NotFoundError(f"no route {request.method} {request.path}", code="route_not_found")

    def _readiness(self) -> Response:
        state, services = self._state(), self.services
        return readiness(state, len(self.models.aliases()), services)

    def _state(self) -> str:
        """``starting``, ``ready``, or ``degraded`` (ready, with the store known down)."""
        if not self.ready:
            return "starting"
        return "ready" if self.services.store_available else "degraded"

    def _openapi(self) -> Response:
        return Response(200, list(JSON_HEADERS), self._openapi_body)

    def _routes(self) -> Response:
        """LiteLLM's ``/routes``: every path and its methods (no key needed, as there and
        as ``/openapi.json``, which says as much)."""
        return Response(200, list(JSON_HEADERS), self._routes_body)


class _CorsProxyApp(ProxyApp):
    """The app with CORS (``tokenway.proxy.cors``). A class of its own, chosen at start, so
    a proxy without CORS pays nothing for it on any request."""

    def __init__(self, config: ProxyConfig, cors: Cors, **options: Any) -> None:
        super().__init__(config, **options)
        self._cors = cors

    async def __call__(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is None:  # not a browser's cross-origin call
            return await super().__call__(request)
        answer = self._cors.preflight(request, origin)
        if answer is not None:
            return answer
        response = await super().__call__(request)
        self._cors.decorate(response, origin)
        return response


def create_app(
    config: ProxyConfig,
    *,
    env: Mapping[str, str] | None = None,
    backoff: Backoff | None = None,
    data_dir: Path | None = None,
    wraps: Sequence[Wrap] = (),
    counter: str | None = None,
) -> ProxyApp:
    """``data_dir`` holds the default SQLite file and the spend journal (default: cwd);
    ``wraps`` are steps around every model endpoint's requests (``Pipeline``); ``counter``
    is the socket of the limit counter the workers of ``--workers N`` share."""
    options: dict[str, Any] = {
        "env": env,
        "backoff": backoff,
        "data_dir": data_dir,
        "counter": counter,
    }
    if config.cors is not None:
        cors = Cors(config.cors.origins, config.cors.max_age)
        return _CorsProxyApp(config, cors, **options, wraps=wraps)
    return ProxyApp(config, **options, wraps=wraps)


__all__ = ["ProxyApp", "create_app", "protocol_error"]
