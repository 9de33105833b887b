"""The OpenAPI description of the proxy's public API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "description": "Error in the OpenAI envelope",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _op(summary: str, ok: str, *, body: bool = False, auth: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": ok}, "400": _ERROR, "401": _ERROR},
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}
            },
        }
        op["responses"].update(
            {"404": _ERROR, "413": _ERROR, "429": _ERROR, "502": _ERROR, "504": _ERROR}
        )
    if not auth:
        op["security"] = []
    return op


def openapi_document(model_names: list[str]) -> dict[str, Any]:
    chat = _op(
        "Create a chat completion (JSON, or SSE with stream=true)",
        "chat.completion object or text/event-stream of chat.completion.chunk",
        body=True,
    )
    models = _op("List the served model aliases", "list of models")
    return {
        "openapi": "3.1.0",
        "info": {"title": "tokenway proxy", "version": "0.1.0"},
        "paths": {
            "/v1/chat/completions": {"post": chat},
            "/chat/completions": {"post": chat},
            "/v1/models": {"get": models},
            "/models": {"get": models},
            "/v1/models/{model}": {"get": _op("One served model", "model object")},
            "/health/liveliness": {"get": _op("Process is alive", "healthy", auth=False)},
            "/health/liveness": {"get": _op("Process is alive", "healthy", auth=False)},
            "/health/readiness": {"get": _op("Ready to serve", "ready", auth=False)},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
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
                },
                "ChatRequest": {
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": {"type": "string", "enum": model_names},
                        "messages": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                        "stream": {"type": "boolean"},
                        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                        "max_tokens": {"type": "integer", "minimum": 1},
                        "n": {"type": "integer", "minimum": 1},
                        "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                        "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 4}]},
                        "tools": {"type": "array"},
                        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                        "response_format": {"type": "object"},
                        "seed": {"type": "integer"},
                        "user": {"type": "string"},
                        "stream_options": {"type": "object"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
    }
