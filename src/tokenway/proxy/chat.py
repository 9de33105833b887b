"""``POST /v1/chat/completions``: the proxy's hot path.

The body is parsed once and checked, the alias is swapped for the upstream id, and the
bytes go out. A plain answer is parsed once (for usage and the alias); a stream is
relayed frame by frame (``tokenway.proxy.relay``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tokenway.errors import BadRequestError, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import HTTPError
from tokenway.http.server import Request, Response
from tokenway.params import validate_chat_body
from tokenway.proxy.errors import JSON_HEADERS, SSE_HEADERS, transport_error, upstream_error
from tokenway.proxy.models import ModelTable, Route
from tokenway.proxy.relay import StreamRelay
from tokenway.proxy.spend import SpendEvent, SpendRecorder
from tokenway.retry import Backoff, retry_delay

# Fields a client could use to redirect the proxy or swap its credentials.
_FORBIDDEN_FIELDS = (
    "api_base", "base_url", "api_key", "api_version", "organization", "extra_headers",
    "litellm_params", "custom_llm_provider",
)  # fmt: skip


@dataclass(slots=True)
class CallContext:
    request_id: str
    started: float  # perf_counter at arrival
    key_hash: str | None
    upstream_seconds: float = 0.0

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


class _UpstreamFailed(Exception):
    """The upstream failed before anything reached the client: retry it, or report it."""

    def __init__(self, error: TokenwayError) -> None:
        super().__init__(error.message)
        self.error = error


class ChatCompletions:
    def __init__(
        self,
        models: ModelTable,
        http: AsyncHTTPClient,
        spend: SpendRecorder,
        num_retries: int = 0,
        backoff: Backoff | None = None,
    ) -> None:
        self._models = models
        self._http = http
        self._spend = spend
        self._num_retries = num_retries
        self._backoff = backoff or Backoff()

    async def __call__(self, request: Request, ctx: CallContext) -> Response:
        body = parse_body(request.body)
        validate_chat_body(body)
        for name in _FORBIDDEN_FIELDS:
            if name in body:
                raise BadRequestError(
                    f"'{name}' cannot be set by clients of this proxy",
                    param=name,
                    code="forbidden_field",
                )
        alias = body["model"]
        route = self._models.pick(alias)
        send: Callable[[Route, dict[str, Any], CallContext], Awaitable[Response]] = self._plain
        if body.get("stream"):
            options = body.get("stream_options") or {}
            # Usage is always asked for, so spend is known; the client gets it only if it asked.
            body["stream_options"] = {**options, "include_usage": True}
            send = functools.partial(self._stream, wants_usage=bool(options.get("include_usage")))
        deadline = time.monotonic() + route.timeout
        tries = 0
        while True:
            body["model"] = route.upstream_model
            try:
                return await send(route, body, ctx)
            except _UpstreamFailed as failed:
                remaining = deadline - time.monotonic()
                delay = retry_delay(
                    self._backoff, tries, self._num_retries, failed.error, remaining
                )
                if delay is None:
                    return upstream_error(failed.error, route, ctx.request_id)
            tries += 1
            await asyncio.sleep(delay)
            route = self._models.pick(alias, avoid=route)

    async def _plain(self, route: Route, body: dict[str, Any], ctx: CallContext) -> Response:
        sent = time.perf_counter()
        try:
            response = await self._http.request(
                "POST",
                route.url,
                headers=route.headers,
                body=orjson.dumps(body),
                timeout=route.timeout,
            )
            async with response:
                raw = await response.read(route.timeout)
        except HTTPError as exc:
            raise _UpstreamFailed(transport_error(exc, route)) from None
        ctx.upstream_seconds = time.perf_counter() - sent
        if response.status >= 400:
            raise _UpstreamFailed(route.provider.map_error(response.status, response.headers, raw))
        return self._answer(route, raw, ctx)

    def _answer(self, route: Route, raw: bytes, ctx: CallContext) -> Response:
        try:
            data = orjson.loads(raw)
            usage = data.get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError):
            raise _UpstreamFailed(route.provider.map_error(502, {}, raw)) from None
        data["model"] = route.alias
        cost = route.cost(usage) if usage else None
        self._record(route, ctx, usage, cost, stream=False)
        headers = [*JSON_HEADERS, *ctx.headers(route, cost)]
        return Response(200, headers, orjson.dumps(data))

    async def _stream(
        self, route: Route, body: dict[str, Any], ctx: CallContext, wants_usage: bool
    ) -> Response:
        sent = time.perf_counter()
        try:
            response = await self._http.request(
                "POST",
                route.url,
                headers=route.stream_headers,
                body=orjson.dumps(body),
                timeout=route.timeout,
            )
            if response.status >= 400:
                async with response:
                    raw = await response.read(route.timeout)
                error = route.provider.map_error(response.status, response.headers, raw)
                raise _UpstreamFailed(error)
        except HTTPError as exc:
            raise _UpstreamFailed(transport_error(exc, route)) from None
        relay = StreamRelay(route, response, wants_usage, self._on_stream_end(route, ctx))
        try:
            first = await relay.prime()
        except TokenwayError as error:  # failed before any content: retry, or an HTTP error
            raise _UpstreamFailed(error) from None
        ctx.upstream_seconds = time.perf_counter() - sent
        headers = [*SSE_HEADERS, *ctx.headers(route, None)]
        return Response(200, headers, stream=relay.frames(first))

    def _on_stream_end(
        self, route: Route, ctx: CallContext
    ) -> Callable[[Mapping[str, Any] | None], None]:
        def record(usage: Mapping[str, Any] | None) -> None:
            if usage is None:
                self._spend.record_missing_usage()
                return
            self._record(route, ctx, usage, route.cost(usage), stream=True)

        return record

    def _record(
        self,
        route: Route,
        ctx: CallContext,
        usage: Mapping[str, Any],
        cost: float | None,
        stream: bool,
    ) -> None:
        self._spend.record(
            SpendEvent(
                request_id=ctx.request_id,
                alias=route.alias,
                model=route.model,
                key_hash=ctx.key_hash,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cost=cost,
                stream=stream,
            )
        )


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequestError("request body is empty; send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(
            f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object", code="invalid_json")
    return body
