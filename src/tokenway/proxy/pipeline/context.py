"""What one request carries through the pipeline: its id, its caller, its timings."""

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

    def set_traceparent(self, value: str) -> None:
        self.traceparent = value

    def headers(self, route: Route, cost: float | None) -> list[tuple[str, str]]:
        overhead = (time.perf_counter() - self.started - self.upstream_seconds) * 1000
        headers = [
            ("x-request-id", self.request_id),
            ("x-tokenway-overhead-ms", f"{overhead:.3f}"),
            ("x-tokenway-upstream-model", route.model),
        ]
        if cost is not None:
            headers.append(("x-tokenway-response-cost", f"{cost:.10f}"))
        return headers


def route_headers(trace: RouteTrace[Route]) -> list[tuple[str, str]]:
    """Which group and deployment answered (or were tried last), and what it took."""
    route = trace.deployment
    return [
        ("x-tokenway-model-group", header_alias(trace.group)),  # the client's own text
        ("x-tokenway-deployment", route.deployment_id if route is not None else ""),
        ("x-tokenway-attempted-retries", str(trace.retries)),
        ("x-tokenway-attempted-fallbacks", str(trace.fallbacks)),
    ]
