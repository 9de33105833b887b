"""``tokenway.proxy.models``: the timeouts a route gets, and the secrets it knows."""

from __future__ import annotations

from typing import Any

from tokenway.catalog import Catalog
from tokenway.proxy.config import parse_config
from tokenway.proxy.models import (
    PROXY_TIMEOUT,
    STREAM_IDLE_TIMEOUT,
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
