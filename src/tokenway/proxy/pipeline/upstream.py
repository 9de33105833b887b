"""The pipeline's upstream steps, one attempt at a time: call, relay, account.

The router (``tokenway.router``) calls ``plain`` or ``stream`` once per attempt with the
deployment it chose. An attempt fits the body to the deployment (``intake.fit_params``),
swaps the alias for the upstream id, sends what the provider encodes and reads what it
decodes. A plain answer is read once (for usage, and to put the alias in it); a stream
is relayed frame by frame (``tokenway.proxy.pipeline.relay``, the OpenAI dialect's byte-level
relay) and held until its first content, so a failure before that is an ordinary failed
attempt the router may retry elsewhere. The spend row is written once the outcome is
known: the upstream's usage when it can be trusted, else the endpoint's estimate,
marked so.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import orjson

from tokenway.errors import Timeout, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.errors import HTTPError
from tokenway.http.server import Request, Response
from tokenway.mock import AsyncMockResponse, mock_of
from tokenway.proxy.accounting.spend import Ticket
from tokenway.proxy.errors import (
    JSON_HEADERS,
    SSE_HEADERS,
    bad_answer,
    transport_error,
    upstream_failure,
)
from tokenway.proxy.models import Route
from tokenway.proxy.pipeline.bulk import read_bulky
from tokenway.proxy.pipeline.context import CallContext
from tokenway.proxy.pipeline.endpoint import Endpoint
from tokenway.proxy.pipeline.intake import fit_params
from tokenway.proxy.pipeline.relay import StreamBody, StreamRelay
from tokenway.proxy.pipeline.spans import attempt_failed
from tokenway.proxy.usage import Usage, read_usage
from tokenway.router import RoutingEngine
from tokenway.router.cooldown import MOCK_FAILURE


class Upstream:
    """The attempts of one endpoint's requests."""

    def __init__(
        self,
        endpoint: Endpoint,
        router: RoutingEngine[Route],
        http: AsyncHTTPClient,
        store_payload: bool,
    ) -> None:
        self._endpoint = endpoint
        self._path = endpoint.upstream_path
        self._router = router
        self._http = http
        self._store_payload = store_payload

    def _fitted(self, body: dict[str, Any], route: Route) -> dict[str, Any]:
        accepts = route.accepts[self._path]
        if not body.keys() <= accepts:
            body = fit_params(body, route, accepts)
        body["model"] = route.upstream_model
        return body

    async def plain(
        self, body: dict[str, Any], ctx: CallContext, ticket: Ticket, route: Route, budget: float
    ) -> Response:
        """One attempt; a ``TokenwayError`` goes back to the router, which may try again."""
        spans = ctx.spans  # a traced request's: told of the attempt here
        if spans is not None:
            ctx.traceparent = spans.attempt_started(route)
        try:
            body = self._fitted(body, route)
            sent = time.perf_counter()
            ctx.sent = route
            try:
                response = await self._http.request(
                    "POST",
                    route.urls[self._path],
                    headers=route.headers
                    if ctx.traceparent is None
                    else _traced(route.headers, ctx),
                    body=route.provider.encode_body(body),
                    timeout=budget,
                )
                raw = await response.read(budget)  # releases the connection, or closes it on error
            except HTTPError as exc:
                raise transport_error(exc, route) from None
            ctx.upstream_seconds = time.perf_counter() - sent
            if response.status >= 400:
                raise upstream_failure(route, response.status, response.headers, raw)
            answer = self._answer(body, route, raw, ctx, ticket)
        except BaseException as error:
            if spans is not None:
                attempt_failed(spans, error)
            raise
        if spans is not None:
            spans.attempt_ended(answer.status, None)
        return answer

    def _answer(
        self, body: dict[str, Any], route: Route, raw: bytes, ctx: CallContext, ticket: Ticket
    ) -> Response:
        """The client gets the answer as sent (its alias swapped in), whatever its usage
        says; the row gets the usage if it can be trusted, else an estimate. A bulky
        answer (embeddings) is relayed as bytes when it can be (``pipeline.bulk``)."""
        endpoint = self._endpoint
        fast = read_bulky(raw, route) if endpoint.bulky else None
        if fast is not None:
            content, data = fast[0], {"usage": fast[1]}
        else:
            data = self._decoded(route, raw)
            content = self._encoded(route, data)
        usage = read_usage(data.get("usage"), endpoint.completes)
        if usage is None:  # the row is marked usage_estimated
            if fast is not None:
                data = self._decoded(route, raw)
            usage = Usage(endpoint.prompt_floor(body), endpoint.answer_tokens(data), True)
        cost = route.cost(usage)
        self._router.add_tokens(route, usage.total)
        answer = data if self._store_payload else None
        answer_id = data.get("id")
        if type(answer_id) is str:  # the row can be found by it, as LiteLLM's are
            ticket.response_id = answer_id
        ticket.close(
            status=200, deployment=route.deployment_id, usage=usage, cost=cost,
            answer=answer,
        )  # fmt: skip
        headers = [*JSON_HEADERS, *ctx.headers(route, cost)]
        return Response(200, headers, content)

    @staticmethod
    def _decoded(route: Route, raw: bytes) -> dict[str, Any]:
        try:
            data = route.provider.decode_answer(raw)
        except ValueError:
            raise bad_answer(route, "an answer that is not JSON") from None
        if type(data) is not dict:
            raise bad_answer(route, "an answer that is not a JSON object")
        data["model"] = route.alias
        return data

    @staticmethod
    def _encoded(route: Route, data: dict[str, Any]) -> bytes:
        try:
            return route.provider.encode_body(data)
        except TypeError:  # nested deeper than orjson writes (it reads deeper)
            raise bad_answer(route, "an answer nested too deep") from None

    async def stream(
        self,
        body: dict[str, Any],
        ctx: CallContext,
        ticket: Ticket,
        wants_usage: bool,
        route: Route,
        budget: float,
    ) -> Response:
        """One attempt; a failure before the first content goes back to the router."""
        spans = ctx.spans  # a traced request's: told of the attempt here
        if spans is not None:
            ctx.traceparent = spans.attempt_started(route)
        try:
            body = self._fitted(body, route)
            sent = time.perf_counter()
            ctx.sent = route
            try:
                response = await self._http.request(
                    "POST",
                    route.urls[self._path],
                    headers=(
                        route.stream_headers
                        if ctx.traceparent is None
                        else _traced(route.stream_headers, ctx)
                    ),
                    body=route.provider.encode_body(body),
                    timeout=budget,
                )
                if response.status >= 400:
                    raw = await response.read(budget)  # releases the connection, as in plain
                    raise upstream_failure(route, response.status, response.headers, raw)
            except HTTPError as exc:
                raise transport_error(exc, route) from None
            prompt = functools.partial(self._endpoint.prompt_likely, body)
            answer = await self._relayed(route, response, ticket, wants_usage, prompt, ctx, sent)
        except BaseException as error:
            if spans is not None:
                attempt_failed(spans, error)
            raise
        if spans is not None:
            spans.attempt_ended(answer.status, None)
        return answer

    async def mocked(
        self,
        body: dict[str, Any],
        ctx: CallContext,
        ticket: Ticket,
        wants_usage: bool,
        params: dict[str, Any],
        route: Route,
        budget: float,
    ) -> Response:
        """An attempt answered by a mock (``pipeline.mocking``): checked against the
        deployment as any attempt, never sent; relayed and accounted as a real answer."""
        spans = ctx.spans  # a traced request's: told of the attempt here
        if spans is not None:
            ctx.traceparent = spans.attempt_started(route)
        try:
            body = self._fitted(body, route)
            if params.get("mock_timeout"):
                wait = params.get("timeout") or budget
                await asyncio.sleep(min(wait, budget))
                raise Timeout(f"the upstream for model '{route.alias}' timed out (mock_timeout)")
            prompt = self._endpoint.prompt_likely(body)
            mock = mock_of(params, route.upstream_model, prompt, ticket.stream)
            assert mock is not None  # take_mock returns only parameters that make one
            failure = mock.error
            if failure is not None:
                if isinstance(failure, TokenwayError) and failure.code is None:
                    failure.code = MOCK_FAILURE  # asked for: not the deployment's fault
                raise failure
            if not ticket.stream:
                answer = self._answer(body, route, mock.body, ctx, ticket)
            else:
                response = AsyncMockResponse(mock.body)
                answer = await self._relayed(
                    route, response, ticket, wants_usage, lambda: prompt, ctx, None
                )
        except BaseException as error:
            if spans is not None:
                attempt_failed(spans, error)
            raise
        if spans is not None:
            spans.attempt_ended(answer.status, None)
        return answer

    async def _relayed(
        self,
        route: Route,
        response: StreamBody,
        ticket: Ticket,
        wants_usage: bool,
        prompt: Callable[[], int],
        ctx: CallContext,
        sent: float | None,
    ) -> Response:
        """The stream's answer, held until its first content: a failure before that raises
        (TokenwayError) and goes back to the router. ``sent``: when the call went out."""
        relay: StreamRelay | None = None
        on_end = self._on_stream_end(route, ticket, lambda: relay)
        chunk_object = self._endpoint.chunk_object
        relay = StreamRelay(route, response, wants_usage, on_end, prompt, chunk_object)
        first = await relay.prime()
        if sent is not None:
            ctx.upstream_seconds = time.perf_counter() - sent
        headers = [*SSE_HEADERS, *ctx.headers(route, None)]
        return Response(200, headers, stream=await relay.stream(first))

    def _on_stream_end(
        self, route: Route, ticket: Ticket, relay: Callable[[], StreamRelay | None]
    ) -> Callable[[Usage, str | None], None]:
        def record(usage: Usage, error_code: str | None) -> None:
            self._router.add_tokens(route, usage.total)
            relayed = relay()
            if relayed is not None:
                ticket.response_id = relayed.answer_id()
            ticket.close(
                status=200, deployment=route.deployment_id, usage=usage,
                cost=route.cost(usage), error_code=error_code,
            )  # fmt: skip

        return record

    def abandoned(self, request: Request, ctx: CallContext, ticket: Ticket) -> None:
        """The row of a call its client left: 499, charged the prompt's floor once the
        prompt was sent (the upstream may bill a request it began), nothing before."""
        route = ctx.sent
        if route is None:
            ticket.close(status=499, error_code=DISCONNECTED)
            return
        body = orjson.loads(request.body)  # parsed and checked before it was sent
        usage = Usage(self._endpoint.prompt_floor(body), 0, estimated=True)
        ticket.close(
            status=499, deployment=route.deployment_id, usage=usage, cost=route.cost(usage),
            error_code=DISCONNECTED,
        )  # fmt: skip


def _traced(headers: list[tuple[str, str]], ctx: CallContext) -> list[tuple[str, str]]:
    """The attempt's W3C trace context, for an upstream that traces too."""
    return [*headers, ("traceparent", ctx.traceparent or "")]


DISCONNECTED = "client_disconnected"  # a row's error_code when its client left
