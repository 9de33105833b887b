"""The request pipeline every model endpoint runs, in named steps.

1. **parse**: the body as JSON, checked by the endpoint (``Endpoint.validate``); fields
   that would redirect the proxy are refused.
2. **authenticate**: done before the pipeline by the app (``ProxyApp``), which puts the
   caller (master key, virtual key, anonymous) in the ``CallContext``.
3. **admit**: a virtual key's model list, rate limits and budget (``Gate``), with a
   reservation of the request's most expensive outcome.
4. **route**: the router picks a deployment of the alias's group and runs attempts,
   retrying and falling back as configured (the request's own ``fallbacks`` too).
5. **call upstream**, 6. **relay**, 7. **account**: one attempt each
   (``tokenway.proxy.pipeline.upstream``): the body fitted to the deployment, what its
   provider encodes sent, the answer relayed, one spend row written.

Whatever happens, a request's ticket closes once (one spend row). A client that leaves
cancels its call (``Request.cancel_on_disconnect``): the upstream connection is closed,
the router and the key's reservation are released, and the row says 499
``client_disconnected``.

A step that wraps whole requests (a cache, metrics, a request log) is a ``Wrap``, given
to the pipeline when it is built: it gets the endpoint and the next handler, and returns
a handler. The endpoints are not edited for it, and a pipeline without wraps pays
nothing for the possibility.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tokenway.errors import BadRequestError, TokenwayError
from tokenway.http.aclient import AsyncHTTPClient
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.end_users import EndUsers
from tokenway.proxy.accounting.gate import NO_PRICE, Admission, Gate, Price, estimate_cost
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.accounting.spend import SpendTracker, Ticket
from tokenway.proxy.errors import error_response, upstream_error
from tokenway.proxy.models import Route
from tokenway.proxy.pipeline.batch import batch_models, fan_out
from tokenway.proxy.pipeline.call_headers import CallHeaders, key_spend_header
from tokenway.proxy.pipeline.context import CallContext, route_headers
from tokenway.proxy.pipeline.endpoint import Endpoint
from tokenway.proxy.pipeline.hooks import RequestHook
from tokenway.proxy.pipeline.intake import (
    TIMEOUT_HEADER,
    parse_body,
    refuse_forbidden,
    request_retries,
    request_timeout,
)
from tokenway.proxy.pipeline.mocking import (
    answers,
    mock_fallback,
    rate_limited_once,
    take_mock,
)
from tokenway.proxy.pipeline.regions import in_region, region_error, regional
from tokenway.proxy.pipeline.routing import (
    concrete,
    fallback_messages,
    request_fallbacks,
    with_messages,
)
from tokenway.proxy.pipeline.spans import Send
from tokenway.proxy.pipeline.upstream import Upstream
from tokenway.proxy.usage import Usage
from tokenway.router import RouteTrace, RoutingEngine

Handler = Callable[[Request, CallContext], Awaitable[Response]]
Wrap = Callable[[Endpoint, Handler], Handler]


class Pipeline:
    """One endpoint's requests, through the steps; ``handle`` is what the app calls."""

    def __init__(
        self,
        endpoint: Endpoint,
        router: RoutingEngine[Route],
        http: AsyncHTTPClient,
        spend: SpendTracker,
        gate: Gate,
        wraps: Sequence[Wrap] = (),
        end_users: EndUsers | None = None,
        hook: RequestHook | None = None,
    ) -> None:
        """``end_users``: the budgets and limits of the end users requests name in their
        ``user`` field (none: not checked); ``hook``: told of each request's start and
        answer, inside the wraps."""
        self.endpoint = endpoint
        self._router = router
        self._spend = spend
        self._gate = gate
        self._end_users = end_users
        self._retries: dict[str, int | None] = {}  # per group: its deployments' num_retries
        # per deployment: its x-litellm-* call headers when the request set none of them
        self._call_headers = CallHeaders(router.settings)
        self._upstream = Upstream(endpoint, router, http, spend.store_payload)
        self._prices: dict[str, Price] = {}
        self._wildcards = router.wildcards
        self._hook = hook
        handler: Handler = self._handle if hook is None else self._handle_hooked
        for wrap in reversed(wraps):  # the first wrap is the outermost
            handler = wrap(endpoint, handler)
        self.handle = handler

    def models_changed(self) -> None:
        """The router's deployments changed (``RoutingEngine.set_deployments``): prices
        are looked up again, and wildcards asked for if some group is one now."""
        self._prices = {}
        self._wildcards = self._router.wildcards

    async def _handle(self, request: Request, ctx: CallContext) -> Response:
        """One request; whatever happens, its ticket is closed (one spend row)."""
        spend_id = ctx.request_id
        if ctx.client_chose_id:  # a reused id must not merge (and so hide) spend rows
            spend_id = f"{spend_id}.{os.urandom(6).hex()}"
        ticket = Ticket(self._spend, spend_id, ctx.started, ctx.key_hash, ctx.key, ctx.on_close)
        request.cancel_on_disconnect = True  # nothing here is left half done by a cancel
        try:
            return await self._serve(request, ctx, ticket)
        except BaseException as error:
            self._failed(error, request, ctx, ticket)
            raise

    async def _handle_hooked(self, request: Request, ctx: CallContext) -> Response:
        """``_handle`` with the hook told of the start and the answer, in this frame."""
        assert self._hook is not None
        answered = self._hook.begin(self.endpoint.name, request, ctx)
        spend_id = ctx.request_id
        if ctx.client_chose_id:
            spend_id = f"{spend_id}.{os.urandom(6).hex()}"
        ticket = Ticket(self._spend, spend_id, ctx.started, ctx.key_hash, ctx.key, ctx.on_close)
        request.cancel_on_disconnect = True
        try:
            response = await self._serve(request, ctx, ticket)
        except BaseException as error:
            self._failed(error, request, ctx, ticket)
            answered(None)
            raise
        answered(response)
        return response

    def _failed(
        self, error: BaseException, request: Request, ctx: CallContext, ticket: Ticket
    ) -> None:
        """The ticket of a request whose serving raised ``error``."""
        if isinstance(error, TokenwayError):
            ticket.close(status=error.status_code, error_code=error.code or error.error_type)
        elif isinstance(error, asyncio.CancelledError):  # the client left (or shutdown)
            self._upstream.abandoned(request, ctx, ticket)
        else:  # anything else is a bug (the server answers 500)
            ticket.close(status=500, error_code="internal_error")

    def parse(self, request: Request) -> dict[str, Any]:
        """Step 1: the body, checked by the endpoint; nothing is stored for a bad one."""
        body = parse_body(request.body)
        endpoint = self.endpoint
        if not endpoint.streams and body.get("stream"):
            raise BadRequestError(
                f"the {endpoint.name} endpoint does not stream; leave 'stream' out",
                param="stream",
                code="invalid_value",
            )
        endpoint.validate(body)
        refuse_forbidden(body)
        return body

    async def admit(
        self, request: Request, key: KeyContext, ticket: Ticket, body: dict[str, Any]
    ) -> Admission:
        """Step 3: a restricted virtual key's model list, limits and budget."""
        alias = ticket.alias
        # The body's bytes bound its prompt tokens (a token is at least one byte).
        estimate = estimate_cost(
            body, self._price(alias), self.endpoint.default_output, len(request.body)
        )
        admission = self._gate.admit_now(key, alias, estimate, now := time.time())
        if admission is None:  # something must be waited for
            admission = await self._gate.admit_later(key, alias, estimate, now)
        ticket.admitted(admission, body)
        return admission

    def _estimate(self, request: Request, body: dict[str, Any], alias: str) -> float:
        """An end user's reservation: the request's most expensive outcome, as ``admit``
        reserves on a key."""
        price = self._price(alias)
        return estimate_cost(body, price, self.endpoint.default_output, len(request.body))

    async def admit_end_user(
        self, request: Request, user: str, ticket: Ticket, body: dict[str, Any]
    ) -> None:
        """The end user named in ``user``: blocked, its budget, its limits (one without a
        record passes); its hold goes on the ticket, settled with the key's."""
        assert self._end_users is not None
        estimate = functools.partial(self._estimate, request, body, ticket.alias)
        ticket.end_user_admission = await self._end_users.admit(user, ticket.alias, estimate)

    async def _serve(self, request: Request, ctx: CallContext, ticket: Ticket) -> Response:
        body = self.parse(request)
        ticket.alias = alias = body["model"]
        if "," in alias and self.endpoint.name == "chat" and not self._is_alias(alias):
            ticket.discard()  # each model's request has its own ticket and row
            return await fan_out(self.handle, request, ctx, body, batch_models(alias))
        ticket.stream = bool(body.get("stream"))
        timeout = request_timeout(request.headers.get(TIMEOUT_HEADER))
        given = body.pop("fallbacks", None)  # the proxy's to honour, never sent upstream
        retries = body.pop("num_retries", None)
        if retries is not None:
            retries = request_retries(retries)
        endpoint = self.endpoint
        mock = take_mock(body, endpoint.name, endpoint.mocks)
        fallbacks = None if given is None else request_fallbacks(given, self._router, ctx.key)
        key = ctx.key
        admission = None
        if key is not None and not key.unrestricted:
            alias, admission = await self._admit_key(request, key, ctx, ticket, body, alias)
        user = body.get("user")  # an end user's (a non-string one the endpoint refused)
        region = None
        if user is not None and type(user) is str and self._end_users is not None:
            region = await self._admit_end_user(request, user, ticket, body)
        metadata = body.get("metadata")
        if metadata and type(metadata) is dict:  # kept on the spend row
            ticket.metadata = metadata
        group = alias
        if mock is not None and mock.pop("mock_testing_fallbacks", None):
            configured = self._router.settings.fallbacks_for(alias)
            group, fallbacks = mock_fallback(alias, fallbacks, configured)
        asked = retries
        if retries is None:  # the group's deployments' own, if they set any
            retries = self._retries.get(group, _UNKNOWN)
            if retries is _UNKNOWN:
                retries = self._group_retries(group)
        trace: RouteTrace[Route] = RouteTrace(group)
        trace.fallbacks = int(group != alias)
        ctx.route_trace = trace
        send = self._attempt(body, ctx, ticket, trace, mock)
        if given is not None and (replaced := fallback_messages(given)):
            sends = {
                name: self._attempt({**body, "messages": messages}, ctx, ticket, trace, mock)
                for name, messages in replaced.items()
            }
            send = with_messages(sends, send)
        acall = self._router.acall
        if region is not None:  # only its region's deployments (``pipeline.regions``)
            send = regional(send)
            acall = functools.partial(
                self._router.acall_within, in_region(region), region_error(region)
            )
        try:  # step 4: route, each attempt steps 5 to 7
            routed = await acall(
                group,
                send,
                needed_tokens=functools.partial(self._needed_tokens, body),
                trace=trace,
                hold=ticket.stream,  # a stream keeps its deployment busy until it ends
                fallbacks=fallbacks,
                timeout=timeout,
                num_retries=retries,
            )
        except TokenwayError as error:
            response = self._failure(error, trace, ctx, ticket)
        else:
            if ticket.stream:
                ticket.hold(routed.release)
            response = routed.value
            response.headers += route_headers(trace)
            if admission is not None and key is not None:
                response.header_block = admission.header_block()
                account = key.accounts[0]
                # LiteLLM's: the key's spend as this instance knows it, this answer's
                # settled cost included when it is known already (a plain answer's)
                spent = account.spend + account.unflushed
                response.headers.append(key_spend_header(spent))
        response.headers += self._call_headers(trace.deployment, timeout, asked, retries)
        return response

    async def _admit_key(
        self,
        request: Request,
        key: KeyContext,
        ctx: CallContext,
        ticket: Ticket,
        body: dict[str, Any],
        alias: str,
    ) -> tuple[str, Admission]:
        """The model the key's aliases name (LiteLLM's key and team aliases), admitted."""
        aliases = key.aliases
        if aliases is not None and alias in aliases:
            ticket.alias = alias = body["model"] = aliases[alias]
        started = time.perf_counter()
        try:
            return alias, await self.admit(request, key, ticket, body)
        finally:
            if ctx.spans is not None:
                ctx.spans.admission(started)

    async def _admit_end_user(
        self, request: Request, user: str, ticket: Ticket, body: dict[str, Any]
    ) -> str | None:
        """The end user held to its limits; its allowed_model_region, if it has one."""
        end_users = self._end_users
        assert end_users is not None
        ticket.end_user = user
        if not end_users.passes(user):  # usually it has nothing to check: no await
            await self.admit_end_user(request, user, ticket, body)
        return end_users.region(user)

    def _attempt(
        self,
        body: dict[str, Any],
        ctx: CallContext,
        ticket: Ticket,
        trace: RouteTrace[Route],
        mock: dict[str, Any] | None,
    ) -> Send:
        send: Send
        upstream = self._upstream
        # A mock that answers replaces the upstream; testing flags alone make a real call.
        answer = mock if mock is not None and answers(mock) else None
        if ticket.stream:
            options = body.get("stream_options") or {}
            # Usage is always asked for, so spend is known; the client gets it only if it asked.
            body["stream_options"] = {**options, "include_usage": True}
            wants_usage = bool(options.get("include_usage"))
            if answer is not None:
                send = functools.partial(upstream.mocked, body, ctx, ticket, wants_usage, answer)
            else:
                send = functools.partial(upstream.stream, body, ctx, ticket, wants_usage)
        elif answer is not None:
            send = functools.partial(upstream.mocked, body, ctx, ticket, False, answer)
        else:
            send = functools.partial(upstream.plain, body, ctx, ticket)
        if mock is not None and mock.get("mock_testing_rate_limit_error"):
            send = rate_limited_once(send)
        return concrete(send, trace) if self._wildcards else send

    def _failure(
        self, error: TokenwayError, trace: RouteTrace[Route], ctx: CallContext, ticket: Ticket
    ) -> Response:
        route = trace.deployment
        if route is None:  # nothing was sent: an unknown model, or no capacity, or too long
            response = error_response(error, ctx.request_id)
        else:
            response = upstream_error(error, route, ctx.request_id)
        response.headers += route_headers(trace)
        deployment = route.deployment_id if route is not None else None
        code = error.code or error.error_type
        ticket.close(status=response.status, deployment=deployment, error_code=code)
        return response

    def _is_alias(self, name: str) -> bool:
        """A group's own name (a wildcard's match does not count)."""
        group = self._router.find(name)
        return group is not None and group.name == name

    def _group_retries(self, alias: str) -> int | None:
        """The retries its deployments set (``litellm_params.num_retries``; the most of
        them), else None: the router's ``num_retries``."""
        known = self._retries
        if alias in known:
            return known[alias]
        group = self._router.find(alias)
        if group is None:  # the router answers 404 in a moment
            return None
        counts = [r.num_retries for r in group.handles if r.num_retries is not None]
        known[group.name] = found = max(counts, default=None)
        return found

    def _needed_tokens(self, body: dict[str, Any]) -> int:
        """At least this many tokens of context: the prompt's floor plus the completion
        asked for."""
        completion = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        return self.endpoint.prompt_floor(body) + int(completion)

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


def _dearest(routes: Sequence[Route]) -> Price:
    """The highest per-token prices among ``routes`` (prices are linear in tokens)."""
    unit_in = [c for r in routes if (c := r.cost(_ONE_PROMPT)) is not None]
    unit_out = [c for r in routes if (c := r.cost(_ONE_COMPLETION)) is not None]
    return max(unit_in, default=0.0), max(unit_out, default=0.0)


_UNKNOWN: Any = object()  # a group whose retries are not looked up yet
_ONE_PROMPT = Usage(1, 0)
_ONE_COMPLETION = Usage(0, 1)
