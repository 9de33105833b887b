"""What one request carries through the pipeline: its id, its caller, its timings.

Its answer carries tokenway's ``x-tokenway-*`` headers and, beside them, the
``x-litellm-*`` headers LiteLLM's clients read (call id, response cost, model group and
id, attempts, version), with the same values. Not LiteLLM's ``x-litellm-model-api-base``:
an upstream's address stays inside the proxy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.echo import header_alias
from tokenway.proxy.models import Route
from tokenway.router import RouteTrace
from tokenway.store.base import SpendRow

if TYPE_CHECKING:
    from tokenway.proxy.pipeline.spans import Spans

# The LiteLLM release whose API tokenway matches (as /health/readiness says).
LITELLM_API_VERSION = "1.78.5"
_LITELLM_VERSION = ("x-litellm-version", LITELLM_API_VERSION)


@dataclass(slots=True)
class CallContext:
    request_id: str
    started: float  # perf_counter at arrival
    key_hash: str | None
    key: KeyContext | None = None  # a virtual key's records and limits
    client_chose_id: bool = False  # request_id came from the client's x-request-id
    upstream_seconds: float = 0.0
    sent: Route | None = None  # the deployment the prompt was last sent to
    on_close: Callable[[SpendRow], None] | None = None  # a wrap's: given the spend row
    spans: Spans | None = None  # a tracing wrap's: told of admission and each attempt
    traceparent: str | None = None  # the current attempt's, sent to the upstream
    route_trace: RouteTrace[Route] | None = None  # the router's attempts (once routing began)

    def headers(self, route: Route, cost: float | None) -> list[tuple[str, str]]:
        overhead = (time.perf_counter() - self.started - self.upstream_seconds) * 1000
        headers = [
            ("x-request-id", self.request_id),
            ("x-tokenway-overhead-ms", f"{overhead:.3f}"),
            ("x-tokenway-upstream-model", route.model),
            ("x-litellm-call-id", self.request_id),
            _LITELLM_VERSION,
        ]
        if cost is not None:
            shown = f"{cost:.10f}"
            headers += (("x-tokenway-response-cost", shown), ("x-litellm-response-cost", shown))
        return headers


def route_headers(trace: RouteTrace[Route]) -> list[tuple[str, str]]:
    """Which group and deployment answered (or were tried last), and what it took."""
    route = trace.deployment
    group = header_alias(trace.group)  # the client's own text, made safe
    deployment = route.deployment_id if route is not None else ""
    retries, fallbacks = str(trace.retries), str(trace.fallbacks)
    return [
        ("x-tokenway-model-group", group),
        ("x-tokenway-deployment", deployment),
        ("x-tokenway-attempted-retries", retries),
        ("x-tokenway-attempted-fallbacks", fallbacks),
        ("x-litellm-model-group", group),
        ("x-litellm-model-id", deployment),
        ("x-litellm-attempted-retries", retries),
        ("x-litellm-attempted-fallbacks", fallbacks),
    ]
