"""The model endpoints in ``/openapi.json``: what is served (any key) and the models
stored through the management API (master key; ``tokenway.proxy.served``)."""

from __future__ import annotations

from typing import Any

from tokenway.proxy.endpoints.openapi_admin import error
from tokenway.proxy.endpoints.unsupported import UNSUPPORTED_PATHS

_READ_CODES = ("400", "401", "403")
_WRITE_CODES = ("400", "401", "403", "404", "409", "413", "503")
_INFO_QUERY = ("litellm_model_id", "model_id", "modelId", "model", "debug")
_ANY_OBJECT = {"type": "object"}


def model_paths() -> dict[str, Any]:
    """path -> {method: operation} for the model endpoints."""
    info = _op(
        "Served deployments (model_name, litellm_params without credentials, model_info), "
        "those the key may use; filter by id or model name",
        _READ_CODES,
    )
    info["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in _INFO_QUERY
    ]
    groups = _op("Served model names with their combined facts, those the key may use",
                 _READ_CODES)  # fmt: skip
    model = {
        "model_name": {"type": "string", "minLength": 1},
        "litellm_params": {
            "type": "object",
            "properties": {"model": {"type": "string", "minLength": 1}},
        },
        "model_info": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
    new = _post("Store a model and serve it (store_model_in_db)", model, ("model_name",))
    new["requestBody"]["content"]["application/json"]["schema"]["properties"]["litellm_params"][
        "required"
    ] = ["model"]
    update = _post("Change a stored model (model_info.id names it)", model, ("model_info",))
    delete = _post("Delete a stored model", {"id": {"type": "string", "minLength": 1}}, ("id",))
    unsupported = _op("Not served by this gateway: always 404 unsupported_endpoint", ("401",))
    unsupported["responses"] = {"404": error("This endpoint is not served"), "401": error()}
    return {
        **{path: {"post": unsupported} for path in UNSUPPORTED_PATHS},
        "/model/info": {"get": info},
        "/v1/model/info": {"get": info},
        "/v2/model/info": {"get": info},
        "/model_group/info": {"get": groups},
        "/model/new": {"post": new},
        "/model/update": {"post": update},
        "/model/delete": {"post": delete},
    }


def _op(summary: str, codes: tuple[str, ...]) -> dict[str, Any]:
    ok = {"description": "A JSON object", "content": {"application/json": {"schema": _ANY_OBJECT}}}
    return {"summary": summary, "responses": {"200": ok, **{code: error() for code in codes}}}


def _post(summary: str, fields: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    op = _op(f"{summary}. Master key only.", _WRITE_CODES)
    schema = {
        "type": "object",
        "properties": {name: dict(value) for name, value in fields.items()},
        "required": list(required),
        "additionalProperties": False,
    }
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op
