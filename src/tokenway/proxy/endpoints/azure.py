"""Azure OpenAI's URL form, as LiteLLM's proxy serves it: ``POST /openai/deployments/
{model}/chat/completions`` (and ``/embeddings``, ``/completions``), so an ``AzureOpenAI``
client (key in an ``api-key`` header, ``azure_endpoint`` the proxy) works unchanged.

The ``{model}`` of the path is the served model's name and wins over the body's
``model``, as in LiteLLM; the request then goes through the endpoint's own pipeline
(keys, limits, budgets, routing, spend). Azure's ``api-version`` query parameter is not
read: the proxy speaks one API whatever version the client names.
"""

from __future__ import annotations

from urllib.parse import unquote

import orjson

from tokenway.errors import BadRequestError
from tokenway.proxy.pipeline.intake import parse_body

PREFIX = "/openai/deployments/"
_ENDPOINTS = {
    "/chat/completions": "chat",
    "/embeddings": "embeddings",
    "/completions": "completions",
}


def azure_target(path: str) -> tuple[str, str] | None:
    """``(endpoint name, model)`` of an Azure-style path, else None."""
    if not path.startswith(PREFIX):
        return None
    rest = path[len(PREFIX) :]
    for suffix, endpoint in _ENDPOINTS.items():
        if rest.endswith(suffix):
            model = unquote(rest[: -len(suffix)])
            return (endpoint, model) if model else None
    return None


def with_model(raw: bytes, model: str) -> bytes:
    """The body with ``model`` set to the path's (the only change made to it)."""
    body = parse_body(raw)
    if not model.strip():
        raise BadRequestError(
            "the path names no model: /openai/deployments/<model>/...", code="invalid_value"
        )
    body["model"] = model
    return orjson.dumps(body)
