"""A proxy serving chat, embeddings and legacy completions over one emulator, with a store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, RunningProxy, running_proxy

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

CHAT_MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
EMBED_MODEL = "inference/qwen/qwen3-embedding-4b"
EMBED_PRICE = 2e-8  # per input token, set in the config (the catalog has no price)
DEAD = "http://127.0.0.1:9/v1"  # nothing listens there


def entry(alias: str, model: str, api_base: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": alias,
        "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY, **params},
    }


@contextmanager
def endpoints_proxy(
    emulator: Emulator, database_url: str, litellm: dict[str, Any] | None = None
) -> Iterator[RunningProxy]:
    """Aliases: ``chat`` and ``text`` (Llama 3.1 8B), ``embed`` (priced), ``embed-dead``
    (unreachable, falling back to ``embed``)."""
    base = emulator.base_url
    data = {
        "model_list": [
            entry("chat", CHAT_MODEL, base),
            entry("text", CHAT_MODEL, base),
            entry("embed", EMBED_MODEL, base, input_cost_per_token=EMBED_PRICE),
            entry("embed-dead", EMBED_MODEL, DEAD),
        ],
        "router_settings": {"fallbacks": [{"embed-dead": ["embed"]}]},
        "litellm_settings": {"num_retries": 0, **(litellm or {})},
        "general_settings": {
            "master_key": MASTER_KEY,
            "database_url": database_url,
            "proxy_batch_write_at": 0.2,
        },
    }
    with running_proxy(parse_config(data, env={})) as proxy:
        yield proxy
