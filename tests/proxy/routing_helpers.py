"""Proxies over several emulators (one per deployment), and a raw HTTP call that shows headers."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy

from tokenway.emulator import Emulator
from tokenway.proxy.config import ProxyConfig, parse_config

UPSTREAM = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS: Any = [{"role": "user", "content": "hi"}]


def deployment(name: str, emulator: Emulator | str, deployment_id: str, **extra: Any) -> Any:
    """A model_list entry; ``emulator`` may be a base URL (e.g. one nothing listens on)."""
    base = emulator if isinstance(emulator, str) else emulator.base_url
    info = extra.pop("model_info", {})
    return {
        "model_name": name,
        "litellm_params": {"model": UPSTREAM, "api_base": base, "api_key": UPSTREAM_KEY, **extra},
        "model_info": {"id": deployment_id, **info},
    }


def routing_config(
    model_list: list[Any],
    router_settings: dict[str, Any] | None = None,
    general: dict[str, Any] | None = None,
) -> ProxyConfig:
    return parse_config(
        {
            "model_list": model_list,
            "router_settings": router_settings or {},
            "general_settings": {"master_key": MASTER_KEY, **(general or {})},
        },
        env={},
    )


def post_chat(
    proxy: RunningProxy,
    model: str,
    messages: Any = MSGS,
    key: str | None = MASTER_KEY,
    **extra: Any,
) -> tuple[int, dict[str, str], Any]:
    return request(
        proxy, "POST", "/v1/chat/completions", {"model": model, "messages": messages, **extra}, key
    )


def request(
    proxy: RunningProxy, method: str, path: str, body: Any = None, key: str | None = MASTER_KEY
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    conn.request(
        method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data)
