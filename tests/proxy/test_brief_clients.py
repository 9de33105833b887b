"""The product brief's proxy examples, as written, against a running proxy."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import openai
import pytest
from openai import OpenAI
from tests.proxy.conftest import MASTER_KEY, RunningProxy

import tokenway

pytestmark = pytest.mark.usefixtures("clean_emulator")


def test_openai_sdk_non_streaming(proxy: RunningProxy) -> None:
    client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY)
    response = client.chat.completions.create(
        model="llama-3.1-8b-instruct",
        messages=[{"role": "user", "content": "Explain quantum computing in simple terms"}],
    )
    assert response.model == "llama-3.1-8b-instruct"
    assert response.choices[0].message.content
    assert response.usage is not None and response.usage.total_tokens > 0


def test_openai_sdk_streaming(proxy: RunningProxy) -> None:
    client = OpenAI(base_url=proxy.url, api_key=MASTER_KEY)
    response = client.chat.completions.create(
        model="llama-3.1-8b-instruct",
        messages=[{"role": "user", "content": "Write a Python function to sort a list"}],
        stream=True,
    )
    chunks = list(response)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert all(c.model == "llama-3.1-8b-instruct" for c in chunks)
    assert all(c.usage is None for c in chunks)  # not asked for, so not shown
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_openai_sdk_async_with_usage(proxy: RunningProxy) -> None:
    async def run() -> list[openai.types.chat.ChatCompletionChunk]:
        client = openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key=MASTER_KEY)
        stream = await client.chat.completions.create(
            model="mistral-nemo-12b-instruct",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        await client.close()
        return chunks

    chunks = asyncio.run(run())
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_tokenway_litellm_proxy_route(proxy: RunningProxy) -> None:
    response = tokenway.completion(
        model="litellm_proxy/llama-3.1-8b-instruct",
        messages=[{"role": "user", "content": "What are the benefits of renewable energy?"}],
        api_base=proxy.url,
        api_key=MASTER_KEY,
    )
    assert response.choices[0].message.content


def test_tokenway_litellm_proxy_streaming(proxy: RunningProxy) -> None:
    response = tokenway.completion(
        model="litellm_proxy/llama-3.1-8b-instruct",
        messages=[{"role": "user", "content": "Implement a binary search algorithm"}],
        api_base=proxy.url,
        api_key=MASTER_KEY,
        stream=True,
    )
    text = ""
    for chunk in response:
        if hasattr(chunk.choices[0], "delta") and chunk.choices[0].delta.content is not None:
            text += chunk.choices[0].delta.content
    assert text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_non_streaming_and_streaming(proxy: RunningProxy) -> None:
    base = [
        "curl", "-sS", f"{proxy.url}/v1/chat/completions",
        "-H", "Content-Type: application/json",
        "-H", f"Authorization: Bearer {MASTER_KEY}",
    ]  # fmt: skip
    plain = {
        "model": "llama-3.1-8b-instruct",
        "messages": [{"role": "user", "content": "What is machine learning?"}],
    }
    out = subprocess.run(
        [*base, "-d", json.dumps(plain)], capture_output=True, check=True, timeout=10
    )
    assert json.loads(out.stdout)["choices"][0]["message"]["content"]
    streamed = {**plain, "stream": True}
    out = subprocess.run(
        [*base, "-N", "-d", json.dumps(streamed)], capture_output=True, check=True, timeout=10
    )
    frames = [f for f in out.stdout.decode().split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert all(f.startswith("data: ") for f in frames)


def test_brief_deepseek_fast_example_gets_a_clear_404(proxy: RunningProxy) -> None:
    # The brief's own example names a model its config does not define.
    with pytest.raises(tokenway.NotFoundError, match=r"served models: llama-3\.1-8b-instruct"):
        tokenway.completion(
            model="litellm_proxy/deepseek-fast",
            messages=[{"role": "user", "content": "What are the benefits of renewable energy?"}],
            api_base=proxy.url,
            api_key=MASTER_KEY,
        )
