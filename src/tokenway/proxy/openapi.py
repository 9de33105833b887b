"""The OpenAPI description of the proxy's public API, served at ``/openapi.json``.

Every operation lists the statuses it answers with, path parameters are declared, and
request bodies say which fields are required and what each accepts: schemathesis checks
the running proxy against this document (``tests/security/test_openapi_fuzz.py``).
"""

from __future__ import annotations

from typing import Any

from tokenway.proxy.chat import FORBIDDEN_FIELDS
from tokenway.proxy.openapi_admin import admin_paths, error

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


def _chat() -> dict[str, Any]:
    op = _op(
        "Create a chat completion (JSON, or SSE with stream=true)",
        _OBJECT,
        ("400", "401", "403", "404", "413", "429", "502", "503", "504"),
    )
    op["responses"]["200"]["content"]["text/event-stream"] = {"schema": _SSE_EVENT}
    op["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}},
    }
    return op


def openapi_document(model_names: list[str]) -> dict[str, Any]:
    chat = _chat()
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
            "/v1/models": {"get": models},
            "/models": {"get": models},
            "/v1/models/{model}": {"get": one_model},
            "/models/{model}": {"get": one_model},
            "/health/liveliness": {"get": alive},
            "/health/liveness": {"get": alive},
            "/health/readiness": {"get": ready},
            "/health": {"get": probe},
            **admin_paths(model_names),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR_SCHEMA, "ChatRequest": chat_request(model_names)},
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
    """The fields the proxy reads and checks; any other OpenAI field is passed upstream."""
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
