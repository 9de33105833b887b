"""A model given to ``/model/new`` or ``/model/update``: checked as a config entry is, and
stored without its key in clear.

A management caller chooses where the proxy sends requests, so what it may set is
bounded (the master key only, and):

* ``api_base`` must be an ``http``/``https`` URL without credentials in it;
* an ``os.environ/NAME`` reference may name only the provider's own key variable
  (``OPENAI_API_KEY`` for ``openai/...``), and only for a model without ``api_base``: a
  credential of the proxy's environment goes only to the address it is meant for, never
  to a URL the caller chose, and no other variable can be read through a model;
* a key given in clear is sealed (``secrets.SecretBox``) before it is stored, and is never
  returned or logged; an update that moves a model to another provider or address must
  give its key again (``routes``), so a stored key never follows a caller's redirect.

Everything else is the config's own check (``parse_deployments`` and the route build), so
a provider tokenway does not serve or a missing field is refused with the same message a
config file would get.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import orjson

from tokenway.catalog import Catalog
from tokenway.errors import BadRequestError
from tokenway.providers.registry import split_model
from tokenway.proxy.config import DeploymentConfig, StartupError
from tokenway.proxy.config.deployments import parse_deployments
from tokenway.proxy.config.schema import Report
from tokenway.proxy.models import build_routes
from tokenway.proxy.served.secrets import SealError, SecretBox
from tokenway.store.models import ModelRecord

ENV_PREFIX = "os.environ/"
BODY_FIELDS = frozenset({"model_name", "litellm_params", "model_info"})


def read_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a ``/model/*`` body; its unknown top-level fields are refused."""
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise _bad("the body must be a JSON object", None) from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object", None)
    return body


def model_request(
    body: Mapping[str, Any], box: SecretBox, *, model_id: str | None = None
) -> ModelRecord:
    """The record to store for a ``/model/new`` body (``model_id``: the row it replaces)."""
    only_fields(body, BODY_FIELDS)
    name = body.get("model_name")
    if not isinstance(name, str) or not name.strip():
        raise _bad("'model_name' is required: the name clients send as model", "model_name")
    params = mapping(body, "litellm_params")
    info = mapping(body, "model_info")
    if "model" not in params:
        raise _bad("'litellm_params.model' is required, as '<provider>/<model id>'", "model")
    chosen = info.get("id")
    if chosen is not None and (not isinstance(chosen, str) or not chosen.strip()):
        raise _bad("'model_info.id' must be a non-empty string", "model_info.id")
    ident = model_id or chosen or str(uuid.uuid4())
    params, key = _take_key(params)
    _check_reach(params, key)
    sealed = None
    if key is not None and not key.startswith(ENV_PREFIX):
        if not box.available:
            raise _bad("cannot store an api_key: set TOKENWAY_SALT_KEY or a master key", "api_key")
        sealed = box.seal(key, ident)
    elif key is not None:
        params["api_key"] = key  # a reference, not a secret
    return ModelRecord(ident, name, params, {**info, "id": ident}, sealed)


def deployment_of(
    record: ModelRecord, box: SecretBox, env: Mapping[str, str]
) -> tuple[DeploymentConfig, tuple[str, ...]]:
    """The deployment a stored model serves, and the config checker's warnings; raises
    ``BadRequestError`` with the checker's messages when it cannot be served."""
    params = dict(record.litellm_params)
    if record.api_key_sealed is not None:
        try:
            params["api_key"] = box.open(record.api_key_sealed, record.model_id)
        except SealError as err:
            raise _bad(f"its stored api_key cannot be opened: {err}", "api_key") from None
    entry = {
        "model_name": record.model_name,
        "litellm_params": params,
        "model_info": {**record.model_info, "id": record.model_id},
    }
    report = Report()
    found = parse_deployments([entry], env, report)
    if report.problems or not found:
        messages = "; ".join(p.removeprefix("model_list[0].") for p in report.problems)
        raise _bad(messages or "this model cannot be served", "litellm_params")
    deployment = found[0]
    try:  # what start-up would refuse: a provider the proxy cannot relay, no key, ...
        build_routes((deployment,), env, Catalog(), None)
    except StartupError as err:
        raise _bad(str(err), "litellm_params") from None
    warnings = tuple(w.removeprefix("model_list[0].") for w in report.warnings)
    # The stored info is shown as given (LiteLLM echoes fields such as team_id); what the
    # checker took wins where both have a field.
    info = {**record.model_info, **deployment.model_info, "db_model": True}
    return replace(deployment, model_info=MappingProxyType(info)), warnings


def _take_key(params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    key = params.pop("api_key", None)
    if key is not None and (not isinstance(key, str) or not key):
        raise _bad("'litellm_params.api_key' must be a non-empty string", "api_key")
    return params, key


def _check_reach(params: Mapping[str, Any], key: str | None) -> None:
    """Where requests may go, and which of the proxy's credentials may go with them."""
    for name, value in params.items():
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            raise _bad(
                f"'litellm_params.{name}': os.environ/ references are taken only for "
                "api_key, naming the provider's own key variable",
                name,
            )
    base = params.get("api_base")
    if base is not None:
        url = urlsplit(base) if isinstance(base, str) else None
        if url is None or url.scheme not in ("http", "https") or not url.hostname:
            raise _bad("'litellm_params.api_base' must be an http(s) URL", "api_base")
        if url.username or url.password:
            raise _bad("'litellm_params.api_base' must not carry credentials", "api_base")
    if key is None or not key.startswith(ENV_PREFIX):
        return
    model = params.get("model")
    try:
        spec = split_model(model)[0] if isinstance(model, str) else None
    except Exception:  # the config check names the provider problem
        return
    own = spec.api_key_env if spec is not None else None
    if key.removeprefix(ENV_PREFIX) != own or base is not None:
        raise _bad(
            "'litellm_params.api_key': an os.environ/ reference must name the provider's own "
            f"key variable ({own or 'this provider has none'}) and the model must not set "
            "api_base; otherwise give the key itself (it is stored encrypted)",
            "api_key",
        )


def mapping(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The object field ``name`` of a body (``{}`` when absent); a 400 if not an object."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"'{name}' must be an object", name)
    return dict(value)


def only_fields(body: Mapping[str, Any], accepted: frozenset[str]) -> None:
    """Refuse a field the endpoint does not take, naming what it takes."""
    unknown = sorted(set(body) - accepted)
    if unknown:
        raise BadRequestError(
            f"unknown body field(s): {', '.join(unknown)}; accepted: {', '.join(sorted(accepted))}",
            param=unknown[0],
            code="unknown_field",
        )


def _bad(message: str, param: str | None) -> BadRequestError:
    return BadRequestError(message, param=param, code="invalid_model")
