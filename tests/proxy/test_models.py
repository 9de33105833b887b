"""``tokenway.proxy.models``: the timeouts a route gets, and the secrets it knows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tokenway.catalog import Catalog
from tokenway.proxy.config import StartupError, parse_config
from tokenway.proxy.models import (
    PROXY_TIMEOUT,
    STREAM_IDLE_TIMEOUT,
    WILDCARD_CACHE,
    Route,
    build_router,
    build_routes,
)


def routes(params: dict[str, Any], **settings: Any) -> tuple[list[Route], float]:
    """The routes of one deployment with ``params``, and its router's call timeout."""
    entry = {
        "model_name": "m",
        "litellm_params": {
            "model": "inference/meta-llama/llama-3.1-8b-instruct/fp-16",
            "api_base": "http://127.0.0.1:1/v1",
            "api_key": "inf-key-0123456789",
            **params,
        },
    }
    config = parse_config({"model_list": [entry], "litellm_settings": settings}, env={})
    built = build_routes(config.deployments, {}, Catalog(), config.request_timeout)
    return built, build_router(config, built).settings.timeout


def test_without_a_configured_timeout_the_proxy_uses_its_own_shorter_defaults() -> None:
    (route,), call_timeout = routes({})
    assert (route.timeout, route.stream_idle_timeout) == (PROXY_TIMEOUT, STREAM_IDLE_TIMEOUT)
    assert call_timeout == PROXY_TIMEOUT < 600  # the SDK's default is the openai SDK's 600 s


def test_a_configured_timeout_bounds_the_call_and_the_streams_silence() -> None:
    (route,), call_timeout = routes({}, request_timeout=42)
    assert (route.timeout, route.stream_idle_timeout, call_timeout) == (42, 42, 42)
    (route,), _ = routes({"timeout": 30, "stream_timeout": 7})
    assert (route.timeout, route.stream_idle_timeout) == (30, 7)


def test_a_route_knows_the_credentials_it_sends() -> None:
    (route,), _ = routes({})
    assert route.secrets == ("inf-key-0123456789",)


def test_a_wildcard_route_makes_bounded_concrete_routes_with_the_name_filled_in() -> None:
    (template,), _ = routes({"model": "inference/*"})
    assert template.wildcard is None  # "m" is no pattern: "*" would be sent as it is
    entry = {
        "model_name": "inference/*",
        "litellm_params": {"model": "inference/*", "api_base": "http://127.0.0.1:1/v1"},
        "model_info": {"id": "wild"},
    }
    config = parse_config({"model_list": [entry]}, env={"INFERENCE_API_KEY": "k" * 8})
    (wild,) = build_routes(config.deployments, {"INFERENCE_API_KEY": "k" * 8}, Catalog(), None)
    assert wild.wildcard is not None
    route = wild.wildcard.route("inference/meta-llama/llama-3.1-8b-instruct/fp-16")
    assert route.alias == "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
    assert route.upstream_model == "meta-llama/llama-3.1-8b-instruct/fp-16"
    assert route.info is not None and route.deployment_id == "wild"
    assert route.alias_field == b'"model":"inference/meta-llama/llama-3.1-8b-instruct/fp-16"'
    assert wild.wildcard.route(route.alias) is route  # made once
    for n in range(WILDCARD_CACHE + 10):  # clients choose the names: the cache is bounded
        wild.wildcard.route(f"inference/m{n}")
    assert len(wild.wildcard._routes) <= WILDCARD_CACHE


def test_a_provider_of_another_dialect_stops_the_start() -> None:
    entry = {
        "model_name": "m",
        "litellm_params": {"model": "inference/x", "api_key": "inf-key-0123456789"},
    }
    config = parse_config({"model_list": [entry]}, env={})
    (deployment,) = config.deployments
    other = dataclasses.replace(deployment.provider, dialect="anthropic")
    with pytest.raises(StartupError, match="anthropic dialect"):
        build_routes((dataclasses.replace(deployment, provider=other),), {}, Catalog(), None)
