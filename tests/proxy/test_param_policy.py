"""``supported_params`` and ``drop_params`` on the proxy path, as the SDK applies them."""

from __future__ import annotations

from typing import Any

import pytest
from tests.proxy.conftest import MASTER_KEY, running_proxy
from tests.proxy.endpoint_helpers import CHAT_MODEL, EMBED_MODEL, entry
from tests.proxy.routing_helpers import request

from tokenway.emulator import Emulator
from tokenway.proxy.config import parse_config

pytestmark = pytest.mark.usefixtures("clean_emulator")
MSGS = [{"role": "user", "content": "hi"}]


def config(emulator: Emulator, litellm: dict[str, Any], **params: Any) -> Any:
    return parse_config(
        {
            "model_list": [
                entry("chat", CHAT_MODEL, emulator.base_url, **params),
                entry("embed", EMBED_MODEL, emulator.base_url, **params),
            ],
            "litellm_settings": litellm,
            "general_settings": {"master_key": MASTER_KEY},
        },
        env={},
    )


def test_a_parameter_the_deployment_does_not_take_is_a_400_naming_it(emulator: Emulator) -> None:
    with running_proxy(config(emulator, {})) as proxy:
        body = {"model": "chat", "messages": MSGS, "logit_bias": {"1": 2}, "top_k": 3}
        status, _, answer = request(proxy, "POST", "/v1/chat/completions", body)
        assert status == 400
        assert answer["error"]["param"] == "logit_bias"
        assert answer["error"]["code"] == "unsupported_parameter"
        assert "logit_bias, top_k" in answer["error"]["message"]
        assert "drop_params" in answer["error"]["message"]
        status, _, answer = request(
            proxy, "POST", "/v1/embeddings", {"model": "embed", "input": "x", "temperature": 1}
        )
        assert status == 400 and answer["error"]["param"] == "temperature"


@pytest.mark.parametrize("where", ["litellm_settings", "litellm_params"])
def test_drop_params_drops_them(emulator: Emulator, where: str) -> None:
    setting = {"drop_params": True}
    built = (
        config(emulator, setting)
        if where == "litellm_settings"
        else config(emulator, {}, **setting)
    )
    with running_proxy(built) as proxy:
        body = {"model": "chat", "messages": MSGS, "logit_bias": {"1": 2}, "max_tokens": 3}
        status, _, answer = request(proxy, "POST", "/v1/chat/completions", body)
        assert status == 200, answer
        status, _, answer = request(
            proxy, "POST", "/v1/embeddings", {"model": "embed", "input": "x", "temperature": 1}
        )
        assert status == 200, answer


def test_additional_drop_params_are_dropped_even_when_supported(emulator: Emulator) -> None:
    with running_proxy(config(emulator, {}, additional_drop_params=["max_tokens"])) as proxy:
        body = {"model": "chat", "messages": MSGS, "max_tokens": 1}
        status, _, answer = request(proxy, "POST", "/v1/chat/completions", body)
        assert status == 200, answer
        assert answer["usage"]["completion_tokens"] > 1  # the cap never reached the upstream


def test_allowed_openai_params_extend_what_a_deployment_takes(emulator: Emulator) -> None:
    with running_proxy(config(emulator, {}, allowed_openai_params=["logit_bias"])) as proxy:
        body = {"model": "chat", "messages": MSGS, "logit_bias": {"1": 2}}
        status, _, answer = request(proxy, "POST", "/v1/chat/completions", body)
        assert status == 200, answer
