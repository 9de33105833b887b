"""The ``model_list`` section of a config: each entry checked and made a ``DeploymentConfig``.

Used by :mod:`tokenway.proxy.config.loader`, which re-exports ``DeploymentConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tokenway.errors import UnknownProviderError
from tokenway.providers.base import ProviderSpec
from tokenway.providers.registry import known_providers, split_model
from tokenway.proxy.config import schema


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    """One ``model_list`` entry: a public alias served by one upstream model."""

    model_name: str
    model: str
    provider: ProviderSpec = field(repr=False)  # its name is the prefix of `model`
    upstream_model: str
    api_base: str | None
    api_key: str | None = field(repr=False)
    rpm: int | None
    tpm: int | None
    timeout: float | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    model_info: Mapping[str, Any] = field(hash=False)
    extra_litellm_params: Mapping[str, Any] = field(repr=False, hash=False)


def parse_deployments(
    models: object, env: Mapping[str, str], report: schema.Report
) -> list[DeploymentConfig]:
    if not isinstance(models, list) or not models:
        report.problem("model_list", "must be a list with at least one model")
        return []
    deployments: list[DeploymentConfig] = []
    seen_ids: dict[str, str] = {}
    for index, entry in enumerate(models):
        deployment = _deployment(index, entry, env, report)
        if deployment is None:
            continue
        model_id = str(deployment.model_info["id"])
        if model_id in seen_ids:
            report.problem(
                f"model_list[{index}].model_info.id",
                f"'{model_id}' is already the id of {seen_ids[model_id]}; ids must be unique",
            )
        seen_ids[model_id] = f"model_list[{index}]"
        deployments.append(deployment)
    return deployments


def _deployment(
    index: int, entry: object, env: Mapping[str, str], report: schema.Report
) -> DeploymentConfig | None:
    path = f"model_list[{index}]"
    if not isinstance(entry, dict):
        report.problem(path, "must be a mapping with model_name and litellm_params")
        return None
    before = len(report.problems)
    values = schema.check_keys(
        schema.MODEL_ENTRY, path, schema.section_mapping(path, entry, report), report, env
    )
    name = _required(values, "model_name", path, report, "the alias clients send as model")
    params = _nested(values, "litellm_params", schema.LITELLM_PARAMS, path, report, env)
    info = _nested(values, "model_info", schema.MODEL_INFO, path, report, env) or {}
    provider = None if params is None else _provider(f"{path}.litellm_params", params, report)
    if params is not None and provider is not None:
        _check_upstream_access(f"{path}.litellm_params", provider[0], params, env, report)
    if len(report.problems) > before or name is None or params is None or provider is None:
        return None
    return _make_deployment(index, name, provider, params, info)


def _nested(
    values: Mapping[str, Any],
    key: str,
    section: schema.SectionSchema,
    path: str,
    report: schema.Report,
    env: Mapping[str, str],
) -> dict[str, Any] | None:
    """``litellm_params`` or ``model_info`` of one entry, checked; None if absent or invalid."""
    nested = values.get(key)
    if key == "litellm_params" and nested is None:
        report.problem(f"{path}.{key}", "missing; add litellm_params with a model")
    if not isinstance(nested, dict):
        return None
    return schema.check_keys(section, f"{path}.{key}", nested, report, env)


def _required(
    values: Mapping[str, Any], key: str, path: str, report: schema.Report, meaning: str
) -> str | None:
    if values.get(key) is None:
        report.problem(f"{path}.{key}", f"missing; set it to {meaning}")
    return schema.typed(values, key, str)


def _provider(
    path: str, params: Mapping[str, Any], report: schema.Report
) -> tuple[ProviderSpec, str] | None:
    model = schema.typed(params, "model", str)
    if model is None:
        if params.get("model") is None:
            report.problem(
                f"{path}.model",
                "missing; write it as '<provider>/<model id>' with one of: "
                + ", ".join(known_providers()),
            )
        return None
    try:
        return split_model(model)
    except UnknownProviderError as err:
        report.problem(f"{path}.model", err.message)
        return None


def _check_upstream_access(
    path: str,
    spec: ProviderSpec,
    params: Mapping[str, Any],
    env: Mapping[str, str],
    report: schema.Report,
) -> None:
    if spec.api_base is None and params.get("api_base") is None:
        report.problem(
            f"{path}.api_base",
            f"provider '{spec.name}' needs api_base (the upstream's URL, e.g. http://host:8000/v1)",
        )
    if spec.key_required and params.get("api_key") is None:
        var = spec.api_key_env
        if var is None or not env.get(var):
            where = f"neither is {var}" if var else "the provider names no key variable"
            report.warn(
                f"{path}.api_key",
                f"not set, and {where}; the upstream will reject calls to this deployment",
            )


def _make_deployment(
    index: int,
    name: str,
    provider: tuple[ProviderSpec, str],
    params: Mapping[str, Any],
    info: Mapping[str, Any],
) -> DeploymentConfig:
    model_info = {k: v for k, v in info.items() if v is not None}
    model_info.setdefault("id", f"{name}-{index}")
    extras = {k: v for k, v in params.items() if k not in schema.DEPLOYMENT_PARAM_KEYS}
    return DeploymentConfig(
        model_name=name,
        model=params["model"],
        provider=provider[0],
        upstream_model=provider[1],
        api_base=schema.typed(params, "api_base", str),
        api_key=schema.typed(params, "api_key", str),
        rpm=schema.typed(params, "rpm", int),
        tpm=schema.typed(params, "tpm", int),
        timeout=schema.typed(params, "timeout", float),
        # A price in litellm_params wins; model_info carries it in LiteLLM's other form.
        input_cost_per_token=_cost(params, info, "input_cost_per_token"),
        output_cost_per_token=_cost(params, info, "output_cost_per_token"),
        model_info=MappingProxyType(model_info),
        extra_litellm_params=MappingProxyType(extras),
    )


def _cost(params: Mapping[str, Any], info: Mapping[str, Any], key: str) -> float | None:
    value = schema.typed(params, key, float)
    return value if value is not None else schema.typed(info, key, float)
