"""The Models page's facts: each alias with its deployments and the router's live state
(in flight, latency, recent failures, cooldown), and a test call sent through the proxy
itself, as a client's chat request with the master key (so it is routed, limited and
accounted like any other)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from tokenway.errors import BadRequestError
from tokenway.http.server import Request, Response
from tokenway.proxy.models import Route
from tokenway.router import RoutingEngine

TEST_PROMPT = "Say hello in five words."
TEST_TIMEOUT = 30.0


class ModelsView:
    def __init__(
        self,
        routes: Callable[[], Sequence[Route]],
        router: RoutingEngine[Route],
        send: Callable[[Request], Awaitable[Response]],
        master_key: str | None,
    ) -> None:
        self._routes = routes
        self._router = router
        self._send = send
        self._master_key = master_key

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        groups: dict[str, list[Route]] = {}
        for route in self._routes():
            groups.setdefault(route.alias, []).append(route)
        return [self._group(alias, routes, now) for alias, routes in groups.items()]

    def _group(self, alias: str, routes: list[Route], now: float) -> dict[str, Any]:
        stats = {s.deployment_id: s for s in self._router.stats(alias)}
        deployments = []
        for route in routes:
            state = stats.get(route.deployment_id)
            cooled = state is not None and state.cooldown_until > now
            deployments.append(
                {
                    "id": route.deployment_id,
                    "model": route.model,
                    "api_base": route.api_base,
                    "in_flight": state.in_flight if state else 0,
                    "latency_ms": round(state.latency * 1000, 1) if state else 0.0,
                    "rpm_used": state.rpm_used if state else 0,
                    "recent_failures": len(state.failures) if state else 0,
                    "cooldown_until": state.cooldown_until if cooled and state else None,
                    "state": "cooling down" if cooled else "available",
                }
            )
        return {"alias": alias, "deployments": deployments}

    async def test_call(self, body: bytes) -> dict[str, Any]:
        alias = _alias(body, [r.alias for r in self._routes()])
        payload = {
            "model": alias,
            "messages": [{"role": "user", "content": TEST_PROMPT}],
            "max_tokens": 32,
        }
        headers = {"content-type": "application/json"}
        if self._master_key:
            headers["authorization"] = f"Bearer {self._master_key}"
        request = Request(
            "POST",
            "/v1/chat/completions",
            "",
            headers,
            orjson.dumps(payload),
            None,
            asyncio.Event(),
        )
        started = time.perf_counter()
        response = await asyncio.wait_for(self._send(request), TEST_TIMEOUT)
        latency = (time.perf_counter() - started) * 1000
        answer = orjson.loads(response.body) if response.body else {}
        result: dict[str, Any] = {
            "model": alias,
            "status": response.status,
            "latency_ms": round(latency, 1),
        }
        if response.status == 200:
            result["content"] = answer["choices"][0]["message"]["content"]
        else:
            result["error"] = answer.get("error", {}).get("message", "no error message")
        return result


def _alias(body: bytes, served: list[str]) -> str:
    try:
        alias = orjson.loads(body).get("model")
    except (orjson.JSONDecodeError, AttributeError):
        alias = None
    if not isinstance(alias, str) or alias not in served:
        raise BadRequestError(
            'send {"model": <one of this proxy\'s aliases>}', param="model", code="invalid_value"
        )
    return alias
