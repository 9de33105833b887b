"""``/model/info`` and ``/model_group/info`` in LiteLLM's shapes.

``/model/info`` lists deployments: ``{"model_name", "litellm_params", "model_info"}``
each, ``model_info`` carrying the config's own fields, the ``id``, ``db_model`` (added
through ``/model/new``) and the catalog's facts (context window, prices, capabilities)
under LiteLLM's names. ``/model_group/info`` lists one entry per model name.

A credential never appears: ``api_key`` and every parameter named like one are left out.
The upstream address (``api_base``) is shown to the master key only, as tokenway sends
no upstream address to key holders anywhere else either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tokenway.providers.base import CHAT_PATH, EMBEDDINGS_PATH, TEXT_COMPLETIONS_PATH
from tokenway.proxy.config import DeploymentConfig
from tokenway.proxy.models import Route

_SECRET_WORDS = ("secret", "password", "credential")
_MODE_PATHS = {"embedding": EMBEDDINGS_PATH, "completion": TEXT_COMPLETIONS_PATH}


@dataclass(frozen=True, slots=True)
class Served:
    """One served deployment: its config entry and the route built from it."""

    config: DeploymentConfig
    route: Route

    @property
    def alias(self) -> str:
        return self.config.model_name


def deployment_entry(served: Served, *, show_base: bool) -> dict[str, Any]:
    cfg, route = served.config, served.route
    params: dict[str, Any] = {
        name: value for name, value in cfg.extra_litellm_params.items() if not _secret(name)
    }
    params["model"] = cfg.model
    for name in ("rpm", "tpm", "timeout", "input_cost_per_token", "output_cost_per_token"):
        value = getattr(cfg, name)
        if value is not None:
            params[name] = value
    if show_base:
        params["api_base"] = route.api_base
    return {"model_name": cfg.model_name, "litellm_params": params, "model_info": _info(served)}


def group_entries(served: Iterable[Served]) -> list[dict[str, Any]]:
    """One entry per model name, from its deployments (in config order)."""
    groups: dict[str, list[Served]] = {}
    for one in served:
        groups.setdefault(one.alias, []).append(one)
    return [_group(name, members) for name, members in groups.items()]


def _info(served: Served) -> dict[str, Any]:
    cfg, route = served.config, served.route
    facts = route.info
    window = cfg.model_info.get("max_input_tokens") or (facts.context_window if facts else None)
    info: dict[str, Any] = {
        "key": route.upstream_model,
        "litellm_provider": route.provider.spec.name,
        "mode": route.mode,
        "max_tokens": window,
        "max_input_tokens": window,
        "input_cost_per_token": _price(route.input_cost_per_token, facts, "input"),
        "output_cost_per_token": _price(route.output_cost_per_token, facts, "output"),
        "supports_function_calling": bool(facts.supports_tools) if facts else None,
        "supports_parallel_function_calling": (
            facts.supports_parallel_function_calling if facts else None
        ),
        "supports_vision": facts.supports_vision if facts else None,
        "supports_response_schema": facts.supports_response_schema if facts else None,
        "supported_openai_params": sorted(route.accepts.get(_path(route.mode), ())),
        "db_model": False,
    }
    shown = {k: v for k, v in cfg.model_info.items() if not _secret(k)}
    return {**info, **shown, "id": route.deployment_id}


def _group(name: str, members: list[Served]) -> dict[str, Any]:
    infos = [_info(m) for m in members]
    first = infos[0]
    return {
        "model_group": name,
        "providers": sorted({m.route.provider.spec.name for m in members}),
        "max_input_tokens": first["max_input_tokens"],
        "max_output_tokens": first.get("max_output_tokens"),
        "input_cost_per_token": _highest(i["input_cost_per_token"] for i in infos),
        "output_cost_per_token": _highest(i["output_cost_per_token"] for i in infos),
        "mode": first["mode"],
        "tpm": _total(m.config.tpm for m in members),
        "rpm": _total(m.config.rpm for m in members),
        "supports_function_calling": all(i["supports_function_calling"] for i in infos),
        "supports_parallel_function_calling": all(
            i["supports_parallel_function_calling"] for i in infos
        ),
        "supports_vision": all(i["supports_vision"] for i in infos),
        "supported_openai_params": sorted(
            set.intersection(*(set(i["supported_openai_params"]) for i in infos))
        ),
        "access_groups": sorted({g for m in members for g in _names(m.config.model_info)}),
        "configurable_clientside_auth_params": None,
    }


def _price(configured: float | None, facts: Any, side: str) -> float | None:
    if configured is not None:
        return configured
    value = getattr(facts, f"{side}_cost_per_token", None) if facts is not None else None
    return float(value) if isinstance(value, int | float) else None


def _highest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _names(info: Mapping[str, Any]) -> list[str]:
    groups = info.get("access_groups")
    return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []


def _path(mode: str) -> str:
    return _MODE_PATHS.get(mode, CHAT_PATH)


def _secret(name: str) -> bool:
    """A parameter that may hold a credential: ``api_key``, ``*_key``, ``*_token`` (not a
    price ``*_per_token``), or a name with secret, password or credential in it."""
    lowered = name.lower()
    if lowered.endswith(("_key", "api_key")) or lowered == "key":
        return True
    if lowered.endswith("_token") and not lowered.endswith("per_token"):
        return True
    return any(word in lowered for word in _SECRET_WORDS)
