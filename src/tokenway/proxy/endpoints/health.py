"""``GET /health``: probe every deployment with a minimal request, report who answers.

Each deployment gets one minimal request of its mode (``model_info.mode``, else the
catalog's): a chat or legacy completion of ``max_tokens: 1``, or the embedding of one
word. The report lists healthy
and unhealthy endpoints with their model group, deployment id, api_base and latency, and
for the unhealthy ones the error class and message. Keys never appear: not in api_base,
not in an upstream's error message. Only the master key may ask (probes cost tokens).

With ``general_settings.background_health_checks`` the same probes run every
``health_check_interval`` seconds from start-up, and feed the router: a deployment that
fails its probe is cooled down until the next one, and one that passes is back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from tokenway.errors import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    TokenwayError,
)
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import HTTPError
from tokenway.http.server import Request, Response
from tokenway.providers.base import CHAT_PATH, EMBEDDINGS_PATH, TEXT_COMPLETIONS_PATH
from tokenway.proxy.auth import hash_key
from tokenway.proxy.config.settings import HealthSettings
from tokenway.proxy.errors import JSON_HEADERS, transport_error
from tokenway.proxy.models import Route
from tokenway.proxy.pipeline import CallContext
from tokenway.router import RoutingEngine

__all__ = ["HealthChecker"]

log = logging.getLogger("tokenway.proxy")

PROBE_TIMEOUT = 30.0  # seconds; a deployment slower than this for one token is not healthy
_PROBES: dict[str, tuple[str, dict[str, Any]]] = {  # mode -> (upstream path, body)
    "chat": (CHAT_PATH, {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}),
    "embedding": (EMBEDDINGS_PATH, {"input": "ping"}),
    "completion": (TEXT_COMPLETIONS_PATH, {"prompt": "ping", "max_tokens": 1}),
}


class HealthChecker:
    """The ``/health`` route and the optional background probes."""

    def __init__(
        self,
        router: RoutingEngine[Route],
        routes: Sequence[Route],
        http: AsyncHTTPClient,
        *,
        master_key: str | None,
        settings: HealthSettings,
    ) -> None:
        self._router = router
        self._routes = tuple(r for r in routes if r.wildcard is None)  # "*" is no model to probe
        self._http = http
        self._master_hash = hash_key(master_key) if master_key else None
        self.background = settings.background
        self.interval = settings.interval
        self._task: asyncio.Task[None] | None = None

    def set_routes(self, routes: Sequence[Route]) -> None:
        """The deployments to probe from now on (the served models changed)."""
        self._routes = tuple(r for r in routes if r.wildcard is None)

    async def __call__(self, request: Request, ctx: CallContext) -> Response:
        if self._master_hash is not None and ctx.key_hash != self._master_hash:
            raise PermissionDeniedError(
                "/health probes every deployment and needs the master key",
                code="master_key_required",
            )
        report = await self.check_all()
        headers = [*JSON_HEADERS, ("x-request-id", ctx.request_id)]
        return Response(200, headers, orjson.dumps(report))

    async def check_all(self) -> dict[str, Any]:
        """Probe every deployment at once; the report ``/health`` answers with."""
        results = await asyncio.gather(*(self.probe(route) for route in self._routes))
        healthy = [entry for entry, error in results if error is None]
        unhealthy = [entry for entry, error in results if error is not None]
        return {
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
            "healthy_count": len(healthy),
            "unhealthy_count": len(unhealthy),
        }

    async def probe(self, route: Route) -> tuple[dict[str, Any], TokenwayError | None]:
        """One minimal request to ``route``: its report entry, and its error if it failed."""
        started = time.perf_counter()
        error = await self._send_probe(route)
        entry: dict[str, Any] = {
            "model_group": route.alias,
            "deployment_id": route.deployment_id,
            "model": route.model,
            "api_base": _without_credentials(route.api_base),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if error is not None:
            entry["error_class"] = type(error).__name__
            entry["error"] = _redacted(error.message, route)
        return entry, error

    # ---- background checks ----------------------------------------------------------

    def start(self) -> None:
        """Start the background probes, if the config asks for them (call in the event loop)."""
        if self.background and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._check_and_report()
            except Exception:  # a probe bug must not end the checks
                log.exception("background health check failed")
            await asyncio.sleep(self.interval)

    async def _check_and_report(self) -> None:
        results = await asyncio.gather(*(self.probe(route) for route in self._routes))
        for route, (_, error) in zip(self._routes, results, strict=True):
            self._router.report_health(route, error, cooldown=self.interval)
            if error is not None:
                log.warning(
                    "health check: deployment %s of %s failed: %s",
                    route.deployment_id, route.alias, _redacted(error.message, route),
                )  # fmt: skip

    async def _send_probe(self, route: Route) -> TokenwayError | None:
        found = _PROBES.get(route.mode)
        if found is None:
            return BadRequestError(f"mode '{route.mode}' is not an endpoint tokenway serves")
        path, probe = found
        body = route.provider.encode_body({"model": route.upstream_model, **probe})
        timeout = min(route.timeout, PROBE_TIMEOUT)
        try:
            response = await self._http.request(
                "POST", route.urls[path], headers=route.headers, body=body, timeout=timeout
            )
            async with response:
                raw = await response.read(timeout)
        except HTTPError as exc:
            return transport_error(exc, route)
        if response.status >= 400:
            error = route.provider.map_error(response.status, response.headers, raw)
            if isinstance(error, AuthenticationError | PermissionDeniedError):
                log.error("upstream %s refused the proxy's credentials", route.model)
            return error
        return None


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _redacted(message: str, route: Route) -> str:
    """The message without any credential the route sends (an upstream may echo its key)."""
    for name, value in route.headers:
        if name.lower() in ("authorization", "api-key", "x-api-key"):
            secret = value.partition(" ")[2] if " " in value else value
            if len(secret) >= 4:
                message = message.replace(secret, "***")
    return message
