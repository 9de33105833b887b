"""The OpenAPI description of the proxy's public API, served at ``/openapi.json``.

Every operation lists the statuses it answers with, path parameters are declared, and
request bodies say which fields are required and what each accepts: schemathesis checks
the running proxy against this document (``tests/security/test_openapi_fuzz.py``).
"""

from __future__ import annotations

from typing import Any

from tokenway.proxy.endpoints.openapi_admin import admin_paths, error
from tokenway.proxy.endpoints.openapi_entities import entity_paths
from tokenway.proxy.endpoints.openapi_models import model_paths
from tokenway.proxy.pipeline.intake import FORBIDDEN_FIELDS

_OBJECT = {"type": "object"}
_FORBIDDEN = {"not": {}, "description": "refused: set by the proxy's config, never by a client"}


def _op(
    summary: str, ok: dict[str, Any], codes: tuple[str, ...], *, auth: bool = True
) -> dict[str, Any]:
    ok_response = {"description": "OK", "content": {"application/json": {"schema": ok}}}
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": ok_response, **{code: error() for code in codes}},
    }
    if not auth:
        op["security"] = []
    return op


_MODEL_CODES = ("400", "401", "403", "404", "413", "429", "502", "503", "504")


def _model_op(summary: str, schema: str, *, streams: bool) -> dict[str, Any]:
    """A model endpoint's operation; its body is ``#/components/schemas/<schema>``."""
    op = _op(summary, _OBJECT, _MODEL_CODES)
    if streams:
        op["responses"]["200"]["content"]["text/event-stream"] = {"schema": _SSE_EVENT}
    op["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    return op


def openapi_document(model_names: list[str]) -> dict[str, Any]:
    chat = _model_op(
        "Create a chat completion (JSON, or SSE with stream=true)", "ChatRequest", streams=True
    )
    embed = _model_op("Create embeddings of the input", "EmbeddingRequest", streams=False)
    text = _model_op(
        "Create a legacy text completion (JSON, or SSE with stream=true)",
        "CompletionRequest",
        streams=True,
    )
    models = _op("List the served model aliases", _MODEL_LIST, ("401", "403"))
    one_model = _op("One served model", _MODEL, ("401", "403", "404"))
    one_model["parameters"] = [
        {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    alive = _op("Process is alive", _OBJECT, (), auth=False)
    ready = _op("Ready to serve", _OBJECT, ("503",), auth=False)
    probe = _op("Probe every deployment (costs a token each). Master key only.", _OBJECT,
                ("401", "403"))  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "tokenway proxy", "version": "0.1.0"},
        "paths": {
            "/v1/chat/completions": {"post": chat},
            "/chat/completions": {"post": chat},
            "/v1/embeddings": {"post": embed},
            "/embeddings": {"post": embed},
            "/v1/completions": {"post": text},
            "/completions": {"post": text},
            "/v1/models": {"get": models},
            "/models": {"get": models},
            "/v1/models/{model}": {"get": one_model},
            "/models/{model}": {"get": one_model},
            "/health/liveliness": {"get": alive},
            "/health/liveness": {"get": alive},
            "/health/readiness": {"get": ready},
            "/health": {"get": probe},
            **admin_paths(model_names),
            **model_paths(),
            **entity_paths(model_names),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR_SCHEMA,
                "ChatRequest": chat_request(model_names),
                "EmbeddingRequest": embedding_request(model_names),
                "CompletionRequest": completion_request(model_names),
            },
        },
        "security": [{"bearer": []}],
    }


# One server-sent event: its data is a chat.completion.chunk, an error, or "[DONE]".
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
_MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
    },
}
_MODEL_LIST = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _MODEL}},
}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
}
_FUNCTION_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _FUNCTION_NAME, "parameters": _OBJECT},
        },
    },
}


def _message(roles: list[str], content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["role", "content"],
        "properties": {"role": {"enum": roles}, "content": content, "name": {"type": "string"}},
    }


def chat_request(model_names: list[str]) -> dict[str, Any]:
    """The fields the proxy reads and checks; another field is passed upstream if the
    deployment takes it, else dropped (``drop_params``) or refused with a 400."""
    text_or_parts = {
        "anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": _TEXT_PART}]
    }
    return {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {"type": "string", "enum": model_names},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "oneOf": [
                        _message(["system", "developer"], {"type": "string"}),
                        _message(["user"], text_or_parts),
                    ]
                },
            },
            "stream": {"type": "boolean"},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 128},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "stop": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "maxItems": 4, "items": {"type": "string"}},
                ]
            },
            "tools": {"type": "array", "minItems": 1, "items": _TOOL},  # as OpenAI
            "tool_choice": {"enum": ["none", "auto"]},
            "response_format": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["text", "json_object"]}},
            },
            "seed": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
            "user": {"type": "string"},
            "metadata": _OBJECT,
            # Refused (400 forbidden_field): a client cannot redirect the proxy.
            **{name: _FORBIDDEN for name in FORBIDDEN_FIELDS},
        },
    }


_TEXTS = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 2048,
            "items": {"type": "string", "minLength": 1},
        },
    ]
}


def embedding_request(model_names: list[str]) -> dict[str, Any]:
    """``POST /v1/embeddings``: text input (token arrays are taken too, not described)."""
    return {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string", "enum": model_names},
            "input": _TEXTS,
            "encoding_format": {"enum": ["float", "base64"]},
            "dimensions": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "user": {"type": "string"},
            **{name: _FORBIDDEN for name in FORBIDDEN_FIELDS},
        },
    }


def completion_request(model_names: list[str]) -> dict[str, Any]:
    """``POST /v1/completions``: the legacy text API's fields the proxy checks."""
    return {
        "type": "object",
        "required": ["model", "prompt"],
        "properties": {
            "model": {"type": "string", "enum": model_names},
            "prompt": _TEXTS,
            "stream": {"type": "boolean"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 128},
            "echo": {"type": "boolean"},
            "user": {"type": "string"},
            **{name: _FORBIDDEN for name in FORBIDDEN_FIELDS},
        },
    }
