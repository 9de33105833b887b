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


# Management endpoints (master key only): path -> (method, summary).
_ADMIN: dict[str, tuple[str, str]] = {
    "/key/generate": ("post", "Create a virtual key; its secret is in this answer only"),
    "/key/info": ("get", "One key's settings and spend (?key=)"),
    "/key/list": ("get", "Keys, by user_id / team_id / key_alias, paginated"),
    "/key/update": ("post", "Change a key's settings"),
    "/key/delete": ("post", "Delete keys (keys or key_aliases)"),
    "/key/regenerate": ("post", "New secret for a key, same settings"),
    "/key/block": ("post", "Block a key"),
    "/key/unblock": ("post", "Unblock a key"),
    "/user/new": ("post", "Create a user (and a key unless auto_create_key is false)"),
    "/user/info": ("get", "One user with spend and keys (?user_id=)"),
    "/user/update": ("post", "Change a user"),
    "/user/delete": ("post", "Delete users and their keys"),
    "/user/list": ("get", "Users, paginated"),
    "/team/new": ("post", "Create a team"),
    "/team/info": ("get", "One team with spend and keys (?team_id=)"),
    "/team/update": ("post", "Change a team"),
    "/team/delete": ("post", "Delete teams and their keys"),
    "/team/list": ("get", "Teams"),
    "/spend/logs": ("get", "Spend rows, filtered and paginated"),
    "/global/spend/report": ("get", "Daily spend totals per key, user, team or model"),
    "/health": ("get", "Probe every deployment (costs a token each)"),
}


def _admin_op(method: str, summary: str) -> dict[str, Any]:
    op = _op(f"{summary}. Master key only.", "JSON object or list")
    op["responses"].update({"403": _ERROR, "404": _ERROR, "409": _ERROR, "503": _ERROR})
    if method == "post":
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
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
            **{path: {m: _admin_op(m, summary)} for path, (m, summary) in _ADMIN.items()},
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
