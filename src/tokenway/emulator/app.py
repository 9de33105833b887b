"""The emulator's request handler: routing, auth, credit, limits, faults, and the endpoints.

Generation endpoints: chat (`/v1/chat/completions`), legacy text (`/v1/completions`,
`text_completions.py`) and embeddings (`/v1/embeddings`, `embeddings.py`); all three
meet the same faults, credit, rate limit and body cap.

A `/v1/*` request meets, in order: faults (latency, hang, injected error), bearer
auth (401), then per route: out-of-credit keys (402), the rate limit (429), body
checks (400/404), generation. `/_emulator/*` is the control surface for tests.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import unquote

import orjson

from tokenway.http.server import Request, Response

from .catalog import find_model, models_payload
from .config import EmulatorConfig, FaultConfig
from .embeddings import embedding_body, parse_embedding_request
from .errors import ApiError, error_body, invalid_request
from .faults import FAULT_HEADER, FaultPlan, HeaderPlans, faulty_sse, injected_error
from .generate import generate_completion
from .limits import Clock, RateLimiter
from .responses import completion_body, stream_chunks
from .text_completions import generate_text, parse_text_request, text_body, text_chunks
from .validate import check_against_model, parse_chat_request

__all__ = ["EmulatorApp"]

_log = logging.getLogger("tokenway.emulator")
_JSON = ("content-type", "application/json")
_CLIENT_CLOSED = 499  # nginx's code for "the client went away first"; used in counters only


class EmulatorApp:
    """State of one emulator (limits, faults, counters) and its `handle` coroutine."""

    def __init__(self, config: EmulatorConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.limiter = RateLimiter(config.rpm, config.rate_window_s, clock)
        self.fault_plan = FaultPlan(config.faults)
        self.header_plans = HeaderPlans()
        self.requests_total = 0
        self.requests_by_status: dict[int, int] = {}
        self.rate_limited = 0
        self.hanging = 0
        # The W3C trace context of the latest requests that carried one (a tracing
        # client's propagation is checked against it).
        self.traceparents: deque[str] = deque(maxlen=1000)
        self._keys = (*config.api_keys, *config.out_of_credit_keys)

    @property
    def faults(self) -> FaultConfig:
        return self.fault_plan.config

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        self.fault_plan = FaultPlan(config)

    async def handle(self, request: Request) -> Response:
        if request.path.startswith("/_emulator/"):
            try:
                return self._control(request)
            except ApiError as error:
                return self.error_response(error)
        traceparent = request.headers.get("traceparent")
        if traceparent is not None:
            self.traceparents.append(traceparent)
        response = await self._serve(request)
        self.requests_total += 1
        self.requests_by_status[response.status] = (
            self.requests_by_status.get(response.status, 0) + 1
        )
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s %s -> %d", request.method, request.path, response.status)
        return response

    def error_response(self, error: ApiError) -> Response:
        headers = [_JSON, *error.headers]
        return Response(error.status, headers, error_body(error, self.config.error_style))

    def server_error_response(self, status: int, message: str) -> Response:
        """For errors the HTTP server answers itself (malformed HTTP, 413, a crash)."""
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return self.error_response(ApiError(status, message, kind))

    # -- /v1 -----------------------------------------------------------------------------

    async def _serve(self, request: Request) -> Response:
        try:
            plan = self._fault_plan_for(request)
            delay = plan.delay_s()
            if delay > 0:
                await asyncio.sleep(delay)
            if plan.config.hang:
                return await self._hang(request)
            if plan.next_fails():
                status, headers, body = injected_error(plan.config, self.config.error_style)
                return Response(status, headers, body)
            return self._route(request, plan.config)
        except ApiError as error:
            return self.error_response(error)

    def _fault_plan_for(self, request: Request) -> FaultPlan:
        header = request.headers.get(FAULT_HEADER)
        if header is None or not self.config.allow_fault_header:
            return self.fault_plan
        return self.header_plans.plan_for(header)

    async def _hang(self, request: Request) -> Response:
        self.hanging += 1
        try:
            await request.disconnected.wait()
        finally:
            self.hanging -= 1
        return Response(_CLIENT_CLOSED)

    def _route(self, request: Request, faults: FaultConfig) -> Response:
        method, path = request.method, request.path.rstrip("/")
        if not path.startswith("/v1/"):
            raise ApiError(
                404, f"Unknown request URL: {method} {request.path}.", code="unknown_url"
            )
        key = self._authenticate(request)
        if path == "/v1/chat/completions":
            _require_method(method, "POST", path)
            return self._chat(request, key, faults)
        if path == "/v1/completions":
            _require_method(method, "POST", path)
            return self._text_completion(request, key, faults)
        if path == "/v1/embeddings":
            _require_method(method, "POST", path)
            return self._embeddings(request, key)
        if path == "/v1/models":
            _require_method(method, "GET", path)
            return _json(200, models_payload(include_pricing=self.config.include_pricing))
        if path.startswith("/v1/models/"):
            _require_method(method, "GET", path)
            # SDKs percent-encode the slashes of an ID inside the path.
            return self._model(unquote(path.removeprefix("/v1/models/")))
        raise ApiError(404, f"Unknown request URL: {method} {request.path}.", code="unknown_url")

    def _authenticate(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        # Compare against every key, always, so timing says nothing about which matched.
        matches = [hmac.compare_digest(token.encode(), key.encode()) for key in self._keys]
        if not any(matches):
            raise ApiError(401, "Invalid API key provided.", code="invalid_api_key")
        return token

    def _model(self, model_id: str) -> Response:
        card = find_model(model_id)
        if card is None:
            raise ApiError(
                404,
                f"The model `{model_id}` does not exist.",
                param="model",
                code="model_not_found",
            )
        return _json(200, card.to_dict(include_pricing=self.config.include_pricing))

    def _chat(self, request: Request, key: str, faults: FaultConfig) -> Response:
        headers = self._admit(request, key)
        chat = parse_chat_request(request.body)
        card = check_against_model(chat, self.config.max_output_tokens)
        completion = generate_completion(chat, card)
        if not chat.stream:
            return _json(200, completion_body(completion), headers)
        chunks = stream_chunks(completion, include_usage=chat.include_usage)
        return self._sse(chunks, faults, headers)

    def _text_completion(self, request: Request, key: str, faults: FaultConfig) -> Response:
        headers = self._admit(request, key)
        text = parse_text_request(request.body)
        completion = generate_text(text, self.config.max_output_tokens)
        if not text.stream:
            return _json(200, text_body(completion), headers)
        return self._sse(text_chunks(completion, include_usage=text.include_usage), faults, headers)

    def _embeddings(self, request: Request, key: str) -> Response:
        # Stream faults do not apply: an embeddings answer is never streamed.
        headers = self._admit(request, key)
        return _json(200, embedding_body(parse_embedding_request(request.body)), headers)

    def _admit(self, request: Request, key: str) -> list[tuple[str, str]]:
        """Credit (402), the rate limit (429) and the body size (400) of a generation request.

        Returns the rate-limit headers of the answer.
        """
        if key in self.config.out_of_credit_keys:
            raise ApiError(
                402, "Insufficient credits.", "insufficient_quota", None, "insufficient_credits"
            )
        decision = self.limiter.acquire(key)
        if not decision.allowed:
            self.rate_limited += 1
            raise ApiError(
                429,
                self._rate_limit_message(),
                "rate_limit_error",
                None,
                "rate_limit_exceeded",
                headers=tuple(decision.headers()),
            )
        if len(request.body) > self.config.max_body_bytes:
            raise invalid_request(
                f"Request body too large: {len(request.body)} bytes; the limit is "
                f"{self.config.max_body_bytes} bytes."
            )
        return decision.headers()

    def _sse(
        self, chunks: list[dict[str, Any]], faults: FaultConfig, headers: list[tuple[str, str]]
    ) -> Response:
        stream = faulty_sse(chunks, faults, self.config.error_style)
        sse_headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        return Response(200, [*headers, *sse_headers], stream=stream)

    def _rate_limit_message(self) -> str:
        window = self.config.rate_window_s
        per = "minute" if window == 60 else f"{window:g} seconds"
        return f"Rate limit exceeded: {self.config.rpm} requests per {per}."

    # -- /_emulator ----------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        self._authenticate(request)
        path, method = request.path.rstrip("/"), request.method
        if path == "/_emulator/stats":
            _require_method(method, "GET", path)
            return _json(200, self._stats())
        if path != "/_emulator/faults":
            raise ApiError(
                404, f"Unknown request URL: {method} {request.path}.", code="unknown_url"
            )
        if method == "POST":
            self.faults = _fault_config_from(request.body)
        elif method == "DELETE":
            self.faults = FaultConfig()
        elif method != "GET":
            raise _method_not_allowed(method, path, "GET, POST, DELETE")
        return _json(200, self.faults.to_dict())

    def _stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_by_status": {str(k): v for k, v in sorted(self.requests_by_status.items())},
            "rate_limited": self.rate_limited,
            "faults": self.faults.to_dict(),
        }


def _fault_config_from(body: bytes) -> FaultConfig:
    try:
        data = orjson.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of FaultConfig fields")
        return FaultConfig.from_mapping(data)
    except (ValueError, TypeError) as exc:
        raise invalid_request(f"Invalid fault configuration: {exc}") from exc


def _require_method(method: str, allowed: str, path: str) -> None:
    if method != allowed:
        raise _method_not_allowed(method, path, allowed)


def _method_not_allowed(method: str, path: str, allowed: str) -> ApiError:
    return ApiError(
        405,
        f"Method {method} is not allowed on {path}.",
        code="method_not_allowed",
        headers=(("allow", allowed),),
    )


def _json(
    status: int, payload: dict[str, Any], headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status, [*(headers or ()), _JSON], orjson.dumps(payload))
