"""``POST /v1/chat/completions``: the proxy's hot path.

The body is parsed once and checked; the router (``tokenway.router``) picks a deployment
of the alias's group and runs the attempt, retrying and falling back as configured. An
attempt swaps the alias for the upstream id and sends the bytes. A plain answer is parsed
once (for usage and the alias); a stream is relayed frame by frame
(``tokenway.proxy.relay``) and is held until its first content, so a failure before that
is an ordinary attempt failure. Every answer says which group and deployment answered.

A client that leaves cancels its call (``Request.cancel_on_disconnect``): the upstream
connection is closed, the router and the key's reservation are released, and the row says
499 ``client_disconnected``. Once the prompt was sent the upstream may bill it (OpenAI
and Inference.net bill a request they began), so such a row is charged the prompt's
floor and no completion, marked estimated; a call cut before anything was sent costs
nothing.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tokenway.errors import BadRequestError, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import HTTPError
from tokenway.http.server import Request, Response
from tokenway.params import validate_chat_body
from tokenway.proxy.echo import header_alias
from tokenway.proxy.errors import (
    JSON_HEADERS,
    SSE_HEADERS,
    bad_answer,
    error_response,
    transport_error,
    upstream_error,
    upstream_failure,
)
from tokenway.proxy.gate import NO_PRICE, Admission, Gate, Price, estimate_cost
from tokenway.proxy.json_depth import MAX_DEPTH, too_deep
from tokenway.proxy.keys import KeyContext
from tokenway.proxy.models import Route
from tokenway.proxy.relay import StreamRelay
from tokenway.proxy.request_routing import concrete, request_fallbacks
from tokenway.proxy.spend import SpendTracker, Ticket
from tokenway.proxy.usage import answer_tokens, counted, estimate, total_tokens
from tokenway.router import RouteTrace, RoutingEngine
from tokenway.tokens import prompt_floor, prompt_likely

DISCONNECTED = "client_disconnected"  # a row's error_code when its client left

# Fields a client could use to redirect the proxy or swap its credentials.
FORBIDDEN_FIELDS = (
    "api_base", "base_url", "api_key", "api_version", "organization", "extra_headers",
    "litellm_params", "custom_llm_provider",
)  # fmt: skip


@dataclass(slots=True)
class CallContext:
    request_id: str
    started: float  # perf_counter at arrival
    key_hash: str | None
    key: KeyContext | None = None  # a virtual key's records and limits
    client_chose_id: bool = False  # request_id came from the client's x-request-id
    upstream_seconds: float = 0.0
    sent: Route | None = None  # the deployment the prompt was last sent to

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


class ChatCompletions:
    def __init__(
        self,
        router: RoutingEngine[Route],
        http: AsyncHTTPClient,
        spend: SpendTracker,
        gate: Gate | None = None,
    ) -> None:
        self._router = router
        self._http = http
        self._spend = spend
        self._gate = gate or Gate()
        self._prices: dict[str, Price] = {}
        self._wildcards = router.wildcards

    async def __call__(self, request: Request, ctx: CallContext) -> Response:
        """One chat request; whatever happens, its ticket is closed (one spend row)."""
        spend_id = ctx.request_id
        if ctx.client_chose_id:  # a reused id must not merge (and so hide) spend rows
            spend_id = f"{spend_id}.{os.urandom(6).hex()}"
        ticket = Ticket(self._spend, spend_id, ctx.started, ctx.key_hash, ctx.key)
        request.cancel_on_disconnect = True  # nothing here is left half done by a cancel
        try:
            return await self._serve(request, ctx, ticket)
        except TokenwayError as error:
            ticket.close(status=error.status_code, error_code=error.code or error.error_type)
            raise
        except asyncio.CancelledError:  # the client left (or shutdown gave up waiting)
            _abandoned(request, ctx, ticket)
            raise
        except BaseException:  # anything else is a bug (the server answers 500)
            ticket.close(status=500, error_code="internal_error")
            raise

    async def _serve(self, request: Request, ctx: CallContext, ticket: Ticket) -> Response:
        body = parse_body(request.body)
        validate_chat_body(body)
        for name in FORBIDDEN_FIELDS:
            if name in body:
                raise BadRequestError(
                    f"'{name}' cannot be set by clients of this proxy",
                    param=name,
                    code="forbidden_field",
                )
        alias = ticket.alias = body["model"]
        ticket.stream = bool(body.get("stream"))
        fallbacks = body.pop("fallbacks", None)  # the proxy's to honour, never sent upstream
        if fallbacks is not None:
            fallbacks = request_fallbacks(fallbacks, self._router, ctx.key)
        admission: Admission | None = None
        key = ctx.key
        if key is not None and not key.unrestricted:
            # The body's bytes bound its prompt tokens (a token is at least one byte).
            estimate = estimate_cost(body, self._price(alias), 4096, len(request.body))
            admission = self._gate.admit_now(key, alias, estimate, now := time.time())
            if admission is None:  # something must be waited for
                admission = await self._gate.admit_later(key, alias, estimate, now)
            ticket.admitted(admission, body)
        send: Callable[[Route, float], Awaitable[Response]]
        if ticket.stream:
            options = body.get("stream_options") or {}
            # Usage is always asked for, so spend is known; the client gets it only if it asked.
            body["stream_options"] = {**options, "include_usage": True}
            wants_usage = bool(options.get("include_usage"))
            send = functools.partial(self._stream, body, ctx, ticket, wants_usage)
        else:
            send = functools.partial(self._plain, body, ctx, ticket)
        trace: RouteTrace[Route] = RouteTrace(alias)
        if self._wildcards:
            send = concrete(send, trace)
        try:
            routed = await self._router.acall(
                alias,
                send,
                needed_tokens=functools.partial(_needed_tokens, body),
                trace=trace,
                hold=ticket.stream,  # a stream keeps its deployment busy until it ends
                fallbacks=fallbacks,
            )
        except TokenwayError as error:
            return self._failure(error, trace, ctx, ticket)
        if ticket.stream:
            ticket.hold(routed.release)
        response = routed.value
        response.headers += _route_headers(trace)
        if admission is not None:
            response.header_block = admission.header_block()
        return response

    def _failure(
        self, error: TokenwayError, trace: RouteTrace[Route], ctx: CallContext, ticket: Ticket
    ) -> Response:
        route = trace.deployment
        if route is None:  # nothing was sent: an unknown model, or no capacity, or too long
            response = error_response(error, ctx.request_id)
        else:
            response = upstream_error(error, route, ctx.request_id)
        response.headers += _route_headers(trace)
        deployment = route.deployment_id if route is not None else None
        code = error.code or error.error_type
        ticket.close(status=response.status, deployment=deployment, error_code=code)
        return response

    def _price(self, alias: str) -> Price:
        """The dearest deployment of the group, so a reservation is never too small."""
        price = self._prices.get(alias)
        if price is None:
            group = self._router.find(alias)
            if group is None:  # the router answers 404 in a moment
                return NO_PRICE
            if group.name != alias:  # a wildcard's: priced per model, not kept (names are many)
                return _dearest(
                    [r.wildcard.route(alias) if r.wildcard else r for r in group.handles]
                )
            price = self._prices[alias] = _dearest(group.handles)
        return price

    async def _plain(
        self, body: dict[str, Any], ctx: CallContext, ticket: Ticket, route: Route, budget: float
    ) -> Response:
        """One attempt; a ``TokenwayError`` goes back to the router, which may try again."""
        body["model"] = route.upstream_model
        sent = time.perf_counter()
        ctx.sent = route
        try:
            response = await self._http.request(
                "POST", route.url, headers=route.headers, body=orjson.dumps(body), timeout=budget
            )
            raw = await response.read(budget)  # releases the connection, or closes it on error
        except HTTPError as exc:
            raise transport_error(exc, route) from None
        ctx.upstream_seconds = time.perf_counter() - sent
        if response.status >= 400:
            raise upstream_failure(route, response.status, response.headers, raw)
        return self._answer(body, route, raw, ctx, ticket)

    def _answer(
        self, body: dict[str, Any], route: Route, raw: bytes, ctx: CallContext, ticket: Ticket
    ) -> Response:
        """The client gets the answer as sent (its alias swapped in), whatever its usage
        says; the row gets the usage if it can be trusted, else an estimate."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise bad_answer(route, "an answer that is not JSON") from None
        if type(data) is not dict:
            raise bad_answer(route, "an answer that is not a JSON object")
        data["model"] = route.alias
        try:
            content = orjson.dumps(data)
        except TypeError:  # nested deeper than orjson writes (it reads deeper)
            raise bad_answer(route, "an answer nested too deep") from None
        usage: Any = data.get("usage")
        tokens = counted(usage)
        if tokens < 0:  # the row is marked usage_estimated
            usage = estimate(body, answer_tokens(data))
            tokens = total_tokens(usage)
        cost = route.cost(usage)
        self._router.add_tokens(route, tokens)
        answer = data if self._spend.store_payload else None
        ticket.close(
            status=200, deployment=route.deployment_id, usage=usage, cost=cost,
            answer=answer,
        )  # fmt: skip
        headers = [*JSON_HEADERS, *ctx.headers(route, cost)]
        return Response(200, headers, content)

    async def _stream(
        self,
        body: dict[str, Any],
        ctx: CallContext,
        ticket: Ticket,
        wants_usage: bool,
        route: Route,
        budget: float,
    ) -> Response:
        """One attempt; a failure before the first content goes back to the router."""
        body["model"] = route.upstream_model
        sent = time.perf_counter()
        ctx.sent = route
        try:
            response = await self._http.request(
                "POST",
                route.url,
                headers=route.stream_headers,
                body=orjson.dumps(body),
                timeout=budget,
            )
            if response.status >= 400:
                raw = await response.read(budget)  # releases the connection, as in _plain
                raise upstream_failure(route, response.status, response.headers, raw)
        except HTTPError as exc:
            raise transport_error(exc, route) from None
        prompt = functools.partial(prompt_likely, body["messages"], body.get("tools"))
        on_end = self._on_stream_end(route, ticket)
        relay = StreamRelay(route, response, wants_usage, on_end, prompt)
        first = await relay.prime()  # raises TokenwayError if it fails before any content
        ctx.upstream_seconds = time.perf_counter() - sent
        headers = [*SSE_HEADERS, *ctx.headers(route, None)]
        return Response(200, headers, stream=await relay.stream(first))

    def _on_stream_end(
        self, route: Route, ticket: Ticket
    ) -> Callable[[Mapping[str, Any] | None, str | None], None]:
        def record(usage: Mapping[str, Any] | None, error_code: str | None) -> None:
            cost = None  # an estimated usage (marked so) is charged as any other
            if usage is not None:
                self._router.add_tokens(route, total_tokens(usage))
                cost = route.cost(usage)
            ticket.close(
                status=200, deployment=route.deployment_id, usage=usage, cost=cost,
                error_code=error_code,
            )  # fmt: skip

        return record


def _route_headers(trace: RouteTrace[Route]) -> list[tuple[str, str]]:
    """Which group and deployment answered (or were tried last), and what it took."""
    route = trace.deployment
    return [
        ("x-tokenway-model-group", header_alias(trace.group)),  # the client's own text
        ("x-tokenway-deployment", route.deployment_id if route is not None else ""),
        ("x-tokenway-attempted-retries", str(trace.retries)),
        ("x-tokenway-attempted-fallbacks", str(trace.fallbacks)),
    ]


def _needed_tokens(body: Mapping[str, Any]) -> int:
    """At least this many tokens of context: the prompt's floor plus the completion asked for."""
    completion = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    return prompt_floor(body["messages"], body.get("tools")) + int(completion)


def _dearest(routes: Sequence[Route]) -> Price:
    """The highest per-token prices among ``routes`` (prices are linear in tokens)."""
    unit_in = [c for r in routes if (c := r.cost({"prompt_tokens": 1})) is not None]
    unit_out = [c for r in routes if (c := r.cost({"completion_tokens": 1})) is not None]
    return max(unit_in, default=0.0), max(unit_out, default=0.0)


def _abandoned(request: Request, ctx: CallContext, ticket: Ticket) -> None:
    """The row of a call its client left: 499, and the prompt if it was sent (see the
    module's docstring)."""
    route = ctx.sent
    if route is None:
        ticket.close(status=499, error_code=DISCONNECTED)
        return
    usage = estimate(orjson.loads(request.body), 0)
    ticket.close(
        status=499, deployment=route.deployment_id, usage=usage, cost=route.cost(usage),
        error_code=DISCONNECTED,
    )  # fmt: skip


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
    # Fewer brackets than MAX_DEPTH cannot nest deeper: two C counts decide most bodies.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and too_deep(body):
        raise BadRequestError(
            f"request body nests more than {MAX_DEPTH} levels deep", code="invalid_json"
        )
    return body
