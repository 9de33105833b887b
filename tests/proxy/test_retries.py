"""The proxy retries what can succeed on a second try, before anything reached the client."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, proxy_config, running_proxy

from tokenway.emulator import Emulator, FaultConfig
from tokenway.proxy.config import parse_config
from tokenway.retry import Backoff

pytestmark = pytest.mark.usefixtures("clean_emulator")
FAST = Backoff(base=0.01, cap=0.02, max_retry_after=0.05)
MSGS: Any = [{"role": "user", "content": "hi"}]


def test_transient_upstream_errors_are_retried(clean_emulator: Emulator) -> None:
    with running_proxy(proxy_config(clean_emulator.base_url, num_retries=2), FAST) as proxy:
        client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
        clean_emulator.faults = FaultConfig(fail_first_n=2, error_status=503)
        before = clean_emulator.requests_total
        answer = client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
        assert answer.choices[0].message.content
        assert clean_emulator.requests_total - before == 3
        clean_emulator.faults = FaultConfig(fail_first_n=1, error_status=500)
        stream = client.chat.completions.create(
            model="llama-3.1-8b-instruct", messages=MSGS, stream=True
        )
        assert [c for c in stream if c.choices]


def test_retries_stop_at_num_retries_and_skip_client_errors(clean_emulator: Emulator) -> None:
    with running_proxy(proxy_config(clean_emulator.base_url, num_retries=1), FAST) as proxy:
        client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
        clean_emulator.faults = FaultConfig(error_rate=1, error_status=502)
        before = clean_emulator.requests_total
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
        assert info.value.status_code == 502
        assert clean_emulator.requests_total - before == 2
        clean_emulator.faults = FaultConfig(error_rate=1, error_status=400)
        before = clean_emulator.requests_total
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
        assert clean_emulator.requests_total - before == 1


def test_a_dead_deployment_fails_over_to_its_group(emulator: Emulator) -> None:
    params = {"model": "inference/meta-llama/llama-3.1-8b-instruct/fp-16", "api_key": UPSTREAM_KEY}
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {**params, "api_base": "http://127.0.0.1:9/v1"},
                },
                {"model_name": "m", "litellm_params": {**params, "api_base": emulator.base_url}},
            ],
            "general_settings": {"master_key": MASTER_KEY},
            "litellm_settings": {"num_retries": 1},
        },
        env={},
    )
    with running_proxy(config, FAST) as proxy:
        client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)
        for _ in range(8):
            answer = client.chat.completions.create(model="m", messages=MSGS)
            assert answer.model == "m"
