"""The model endpoints: what is served (any valid key), and models in the store (master).

``GET /model/info`` (also ``/v1/model/info``, ``/v2/model/info``) and
``GET /model_group/info`` show a virtual key only the models it may use, as
``/v1/models`` does; the master key sees all. ``POST /model/new``, ``/model/update`` and
``/model/delete`` change ``proxy_models`` and re-read it at once (``LiveModels``); they
are the master key's, and a team admin's for their team's models (``admin.permissions``;
a team model is served to its team only, ``served.teams``). They answer 400 unless
``store_model_in_db`` is on, as LiteLLM does, and a model of the config file can be
neither replaced nor deleted through them (the file is where it lives).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

from tokenway.errors import BadRequestError, NotFoundError
from tokenway.http.server import Request, Response
from tokenway.proxy.accounting.gate import may_use
from tokenway.proxy.accounting.keys import KeyContext
from tokenway.proxy.admin.context import AdminContext
from tokenway.proxy.admin.permissions import Permissions, caller_of
from tokenway.proxy.admin.responses import Call, Handler, guarded, json_response
from tokenway.proxy.served.info import Served, deployment_entry, group_entries
from tokenway.proxy.served.live import LiveModels
from tokenway.proxy.served.records import (
    BODY_FIELDS,
    deployment_of,
    mapping,
    model_request,
    only_fields,
    read_body,
)
from tokenway.proxy.served.teams import named, public_name
from tokenway.store.models import ModelRecord

_OFF = (
    "models are stored in the database only with general_settings.store_model_in_db: true "
    "(or STORE_MODEL_IN_DB=True); add this model to the config file's model_list instead"
)
# Query fields of /model/info: the model's id (LiteLLM's two names) or its name; ``debug``
# changes nothing in tokenway's answer (LiteLLM adds its in-process client state).
_DELETE_FIELDS = frozenset({"id"})
_INFO_QUERY = frozenset({"litellm_model_id", "model_id", "modelId", "model", "debug"})


class Caller(Protocol):
    """What these handlers need of the app's per-request context (``CallContext``)."""

    @property
    def request_id(self) -> str: ...

    @property
    def key(self) -> KeyContext | None: ...


class ModelRoutes:
    """``served()``: the deployments served now, config order first."""

    def __init__(
        self, live: LiveModels, served: Callable[[], Sequence[Served]], *, enabled: bool
    ) -> None:
        self._live = live
        self._served = served
        self._enabled = enabled
        # Who may change which model: the management API's table (only its store is read).
        self._permissions = Permissions(AdminContext(live.store, (), _no_keys, time.time))

    def readable(self) -> dict[tuple[str, str], Callable[[Request, Caller], Any]]:
        """For any valid key."""
        return {
            **{("GET", path): self.info for path in ("/model/info", "/v1/model/info")},
            ("GET", "/v2/model/info"): self.info,
            ("GET", "/model_group/info"): self.group_info,
        }

    def managing(self) -> dict[tuple[str, str], Handler]:
        """For the master key, and team admins for their team's models."""
        handlers: dict[tuple[str, str], Handler] = {
            ("POST", "/model/new"): self.new,
            ("POST", "/model/update"): self.update,
            ("POST", "/model/delete"): self.delete,
        }
        return {route: guarded(self._permitted(route, h)) for route, h in handlers.items()}

    def _permitted(self, route: tuple[str, str], handler: Handler) -> Handler:
        async def run(request: Request, call: Call) -> Response:
            await self._permissions.check(route, caller_of(call.key), request)
            return await handler(request, call)

        return run

    async def info(self, request: Request, call: Caller) -> Response:
        query = _query(request.query)
        wanted_id = query.get("litellm_model_id") or query.get("model_id") or query.get("modelId")
        wanted_name = query.get("model")
        entries = [
            deployment_entry(one, show_base=call.key is None)
            for one in self._usable(call)
            if (wanted_id is None or one.route.deployment_id == wanted_id)
            and (wanted_name is None or one.alias == wanted_name)
        ]
        return json_response({"data": entries}, call)

    async def group_info(self, request: Request, call: Caller) -> Response:
        return json_response({"data": group_entries(self._usable(call))}, call)

    async def new(self, request: Request, call: Call) -> Response:
        body = read_body(request.body)
        only_fields(body, BODY_FIELDS)
        self._require_enabled()
        record = model_request(body, self._live.box)
        if record.model_id in self._live.config_ids:
            raise _config_model(record.model_id)
        record = await named(record, None, self._live.store)
        warnings = self._check(record)
        stored = await self._live.store.create_model(record)
        await self._live.refresh()
        return json_response({**_shown(stored), **warnings}, call)

    async def update(self, request: Request, call: Call) -> Response:
        body = read_body(request.body)
        only_fields(body, BODY_FIELDS)
        self._require_enabled()
        model_id = _id_of(body)
        if model_id in self._live.config_ids:
            raise _config_model(model_id)
        current = await self._live.store.get_model(model_id)
        if current is None:
            raise _unknown(model_id)
        _check_key_stays(current, body)
        merged = {
            **_merged(current, body),
            "model_name": body.get("model_name") or public_name(current),
        }
        record = model_request(merged, self._live.box, model_id=model_id)
        if record.api_key_sealed is None and "api_key" not in record.litellm_params:
            record = _keep_key(record, current)
        record = await named(record, current, self._live.store)
        warnings = self._check(record)
        stored = await self._live.store.replace_model(record)
        if stored is None:  # deleted meanwhile
            raise _unknown(model_id)
        await self._live.refresh()
        return json_response({**_shown(stored), **warnings}, call)

    async def delete(self, request: Request, call: Call) -> Response:
        body = read_body(request.body)
        only_fields(body, _DELETE_FIELDS)
        self._require_enabled()
        model_id = body.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise BadRequestError("'id' is required: the model's model_info.id", param="id")
        if model_id in self._live.config_ids:
            raise _config_model(model_id)
        if not await self._live.store.delete_model(model_id):
            raise _unknown(model_id)
        await self._live.refresh()
        return json_response({"message": f"Model: {model_id} deleted successfully"}, call)

    def _usable(self, call: Caller) -> list[Served]:
        key = call.key
        models = key.models if key is not None and not key.unrestricted else None
        return [one for one in self._served() if may_use(models, one.alias)]

    def _check(self, record: ModelRecord) -> dict[str, Any]:
        """Refuse what cannot be served (the config's checks); the checker's warnings."""
        warnings = deployment_of(record, self._live.box, self._live.env)[1]
        return {"warnings": list(warnings)} if warnings else {}

    def _require_enabled(self) -> None:
        if not self._enabled:
            raise BadRequestError(_OFF, code="store_model_in_db_off")


def _no_keys(key_hash: str) -> None:
    """Model changes change no key."""


def _query(raw: str) -> dict[str, str]:
    given = dict(parse_qsl(raw, keep_blank_values=True))
    unknown = sorted(set(given) - _INFO_QUERY)
    if unknown:
        raise BadRequestError(
            f"unknown query field(s): {', '.join(unknown)}; accepted: "
            f"{', '.join(sorted(_INFO_QUERY))}",
            param=unknown[0],
            code="unknown_field",
        )
    return {name: value for name, value in given.items() if value != ""}


def _id_of(body: dict[str, Any]) -> str:
    info = body.get("model_info")
    model_id = info.get("id") if isinstance(info, dict) else None
    if not isinstance(model_id, str) or not model_id:
        raise BadRequestError(
            "'model_info.id' is required: the id of the model to update",
            param="model_info.id",
            code="missing_field",
        )
    return model_id


def _merged(current: ModelRecord, body: dict[str, Any]) -> dict[str, Any]:
    """The update's fields over the stored model's (LiteLLM merges litellm_params)."""
    params = {**current.litellm_params, **mapping(body, "litellm_params")}
    info = {**current.model_info, **mapping(body, "model_info")}
    merged = {
        "model_name": body.get("model_name") or current.model_name,
        "litellm_params": params,
        "model_info": info,
    }
    unknown = set(body) - set(merged)
    merged.update({name: body[name] for name in unknown})  # refused by model_request
    return merged


def _check_key_stays(current: ModelRecord, body: dict[str, Any]) -> None:
    """A stored key goes only where it was given for: an update that sends the model to
    another provider or address must give the key again (else a management caller could
    send a key it cannot read to a server it chose)."""
    given = mapping(body, "litellm_params")
    if "api_key" in given:
        return
    has_key = current.api_key_sealed is not None or "api_key" in current.litellm_params
    moved = [
        name
        for name in ("model", "api_base")
        if name in given and given[name] != current.litellm_params.get(name)
    ]
    if has_key and moved:
        raise BadRequestError(
            f"changing {' and '.join(moved)} needs the api_key again: a stored key is only "
            "sent where it was given for",
            param="api_key",
            code="invalid_model",
        )


def _keep_key(record: ModelRecord, current: ModelRecord) -> ModelRecord:
    """An update that gives no api_key keeps the sealed one."""
    return ModelRecord(
        record.model_id,
        record.model_name,
        record.litellm_params,
        record.model_info,
        current.api_key_sealed,
        current.created_at,
    )


def _shown(record: ModelRecord) -> dict[str, Any]:
    """A stored model as LiteLLM answers ``/model/new``: never its key, sealed or not."""
    return {
        "model_id": record.model_id,
        "model_name": record.model_name,
        "litellm_params": dict(record.litellm_params),
        "model_info": dict(record.model_info),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _config_model(model_id: str) -> BadRequestError:
    return BadRequestError(
        f"model id '{model_id}' belongs to a model of the config file; change that file "
        "to change it (only models added through /model/new can be changed here)",
        param="id",
        code="config_model",
    )


def _unknown(model_id: str) -> NotFoundError:
    return NotFoundError(
        f"no model with id '{model_id}' was added through /model/new",
        param="id",
        code="model_not_found",
    )
