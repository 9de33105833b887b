"""One chat request to several models: ``"model": "a,b"`` (LiteLLM's batch completions).

The request becomes one request per model, each through the whole pipeline (the key's
model list and budget, routing, its own spend row ``<request id>-<n>``), run at once;
the answer is the JSON list of their answers in the order named, an error envelope in
the place of a model that failed. A name that is itself a served alias (commas and all)
is never split; a wildcard deployment (``"*"``) does not take such a name whole, as in
LiteLLM, which splits first. A stream cannot be split: ``stream`` with several models is
a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from tokenway.errors import BadRequestError, TokenwayError
from tokenway.http.server import Request, Response
from tokenway.proxy.errors import JSON_HEADERS, error_response
from tokenway.proxy.pipeline.context import CallContext

MAX_MODELS = 16  # models one request may name; more is a mistake, not a plan

Handler = Callable[[Request, CallContext], Awaitable[Response]]


def batch_models(alias: str) -> list[str]:
    """The model names of ``"a,b"``, checked."""
    names = [name.strip() for name in alias.split(",")]
    if not all(names) or len(names) > MAX_MODELS:
        raise BadRequestError(
            f"'model' names several models only as 'a,b' (at most {MAX_MODELS}, none empty)",
            param="model",
            code="invalid_value",
        )
    return names


async def fan_out(
    handle: Handler, request: Request, ctx: CallContext, body: dict[str, Any], names: list[str]
) -> Response:
    if body.get("stream"):
        raise BadRequestError(
            "a request naming several models cannot stream; leave 'stream' out",
            param="stream",
            code="invalid_value",
        )
    calls = [_one(handle, request, ctx, body, name, n) for n, name in enumerate(names)]
    answers = await asyncio.gather(*calls)
    joined = b"[" + b",".join(answers) + b"]"
    return Response(200, [*JSON_HEADERS, ("x-request-id", ctx.request_id)], joined)


async def _one(
    handle: Handler, request: Request, ctx: CallContext, body: dict[str, Any], name: str, n: int
) -> bytes:
    request_id = f"{ctx.request_id}-{n}"
    sub = Request(
        request.method,
        request.path,
        request.query,
        request.headers,
        orjson.dumps({**body, "model": name}),
        request.client,
        request.disconnected,
    )
    try:
        response = await handle(sub, CallContext(request_id, ctx.started, ctx.key_hash, ctx.key))
    except TokenwayError as error:
        response = error_response(error, request_id)
    return response.body
