"""Azure OpenAI's URL form and ``api-key`` header, with the openai SDK's AzureOpenAI client,
and the OpenAI endpoints this gateway does not serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.proxy.conftest import BRIEF_MODELS, MASTER_KEY, RunningProxy, proxy_config, running_proxy
from tests.proxy.virtual_key_helpers import ALIAS, MESSAGES, Management, wait_for

from tokenway.emulator import Emulator

EMBED = "qwen3-embedding"


@pytest.fixture
def proxy(emulator: Emulator, tmp_path: Path) -> Iterator[RunningProxy]:
    models = {**BRIEF_MODELS, EMBED: "inference/qwen/qwen3-embedding-4b"}
    config = proxy_config(
        emulator.base_url, models=models, database_url=f"sqlite:///{tmp_path / 'a.db'}"
    )
    with running_proxy(config) as running:
        yield running


def _azure(proxy: RunningProxy, key: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key=key, azure_endpoint=proxy.url, api_version="2024-06-01", max_retries=0
    )


def test_azure_clients_chat_and_embed_through_the_keyed_pipeline(proxy: RunningProxy) -> None:
    key = Management(proxy).new_key(models=[ALIAS, EMBED])["key"]
    client = _azure(proxy, key)  # sends the key as 'api-key', the model in the path
    answer = client.chat.completions.create(model=ALIAS, messages=MESSAGES)
    assert answer.model == ALIAS and answer.choices[0].message.content
    vectors = client.embeddings.create(model=EMBED, input=["one"])
    assert len(vectors.data) == 1
    other = (
        "llama-3.2-3b-instruct"  # the key's model list holds on this route too (401, as LiteLLM)
    )
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=other, messages=MESSAGES)
    # accounted as any request: the key's spend grows once the rows are flushed
    wait_for(lambda: True if Management(proxy).key_info(key)["spend"] > 0 else None)


def test_the_path_names_the_model_whatever_the_body_says(proxy: RunningProxy) -> None:
    client = openai.OpenAI(
        api_key=MASTER_KEY,
        base_url=f"{proxy.url}/openai/deployments/{ALIAS}",
        max_retries=0,
    )
    answer = client.chat.completions.create(model="ignored-name", messages=MESSAGES)
    assert answer.model == ALIAS


def test_a_wrong_api_key_header_is_refused(proxy: RunningProxy) -> None:
    with pytest.raises(openai.AuthenticationError):
        _azure(proxy, "sk-wrong").chat.completions.create(model=ALIAS, messages=MESSAGES)


@pytest.mark.parametrize(
    "path", ["/v1/images/generations", "/images/generations", "/v1/moderations", "/moderations"]
)
def test_images_and_moderations_say_they_are_not_served(proxy: RunningProxy, path: str) -> None:
    reply = Management(proxy).post(path, {"model": "dall-e-3", "prompt": "an otter"})
    assert reply.status == 404
    assert reply.error["code"] == "unsupported_endpoint"
    assert (
        path in reply.error["message"] and "not supported by this gateway" in reply.error["message"]
    )


def test_the_sdk_sees_a_not_found_error_for_images(proxy: RunningProxy) -> None:
    client = openai.OpenAI(api_key=MASTER_KEY, base_url=f"{proxy.url}/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="image generation"):
        client.images.generate(model="dall-e-3", prompt="an otter")
    with pytest.raises(openai.NotFoundError, match="moderation"):
        client.moderations.create(input="hello")
