"""tokenway.Router against emulators over loopback HTTP: the issue's bars, SDK side."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tokenway import Router
from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.errors import BadRequestError
from tokenway.retry import Backoff

KEY = "router-test-key"
MODEL = "openai_compatible/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS: Any = [{"role": "user", "content": "Say hello"}]
FAST = Backoff(base=0.001, cap=0.002)


def entry(name: str, emulator: Emulator, deployment_id: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": MODEL, "api_base": emulator.base_url, "api_key": KEY, **params},
        "model_info": {"id": deployment_id},
    }


async def started(count: int, *faults: FaultConfig) -> list[Emulator]:
    emulators = []
    for i in range(count):
        fault = faults[i] if i < len(faults) else FaultConfig()
        emulator = Emulator(EmulatorConfig(api_keys=(KEY,), rpm=1_000_000, faults=fault))
        await emulator.start()
        emulators.append(emulator)
    return emulators


@pytest.fixture
async def two() -> AsyncIterator[list[Emulator]]:
    emulators = await started(2)
    yield emulators
    for emulator in emulators:
        await emulator.stop()


async def test_a_group_with_a_dead_deployment_answers_every_request(two: list[Emulator]) -> None:
    bad, good = two
    bad.faults = FaultConfig(error_rate=1, error_status=503)
    router = Router(
        [entry("m", bad, "bad"), entry("m", good, "good")], cooldown_time=60, backoff=FAST
    )

    async def worker(n: int) -> list[str]:
        answers = []
        for _ in range(n):
            response = await router.acompletion("m", MSGS)
            answers.append(response.response_headers["x-tokenway-deployment"])
        return answers

    first = [d for batch in await asyncio.gather(*(worker(10) for _ in range(10))) for d in batch]
    tried_while_warm = bad.requests_total
    rest = [d for batch in await asyncio.gather(*(worker(90) for _ in range(10))) for d in batch]
    assert first + rest == ["good"] * 1000
    assert tried_while_warm <= 14  # 4 failures cool it down; 10 workers were in flight
    assert bad.requests_total == tried_while_warm  # cooled down: never tried again
    await router.aclose()


async def test_weights_split_traffic_3_to_1(two: list[Emulator]) -> None:
    heavy, light = two
    router = Router(
        [entry("m", heavy, "heavy", weight=3), entry("m", light, "light", weight=1)],
        rng=random.Random(4),
    )
    for _ in range(100):  # the bar: 2,000 requests, 20 at a time
        await asyncio.gather(*(router.acompletion("m", MSGS) for _ in range(20)))
    assert abs(heavy.requests_total / 2000 - 0.75) <= 0.05
    await router.aclose()


async def test_latency_based_routing_follows_the_fast_deployment(two: list[Emulator]) -> None:
    fast, slow = two
    fast.faults, slow.faults = FaultConfig(latency_ms=5), FaultConfig(latency_ms=50)
    router = Router(
        [entry("m", fast, "fast"), entry("m", slow, "slow")],
        routing_strategy="latency-based-routing",
        rng=random.Random(3),
    )

    async def batch(n: int) -> list[str]:
        answers = await asyncio.gather(*(router.acompletion("m", MSGS) for _ in range(n)))
        return [a.response_headers["x-tokenway-deployment"] for a in answers]

    for _ in range(3):  # warm-up: both get measured
        await batch(4)
    answers = [d for _ in range(25) for d in await batch(4)]
    assert answers.count("fast") / len(answers) >= 0.9
    fast.faults, slow.faults = FaultConfig(latency_ms=50), FaultConfig(latency_ms=5)
    for _ in range(40):  # at most 160 requests to notice the swap
        if await batch(4) == ["slow"] * 4 and await batch(4) == ["slow"] * 4:
            break
    else:
        pytest.fail("latency-based routing did not move to the deployment that became fast")
    await router.aclose()


@pytest.mark.parametrize(
    "fault",
    [
        FaultConfig(error_rate=1, error_status=500),
        FaultConfig(stream_error_after=0),  # an error frame before any content
        FaultConfig(stream_cut_after=0),  # the connection cut before any content
    ],
)
async def test_a_stream_failing_before_content_fails_over(
    two: list[Emulator], fault: FaultConfig
) -> None:
    bad, good = two
    bad.faults = fault
    router = Router([entry("m", bad, "bad"), entry("m", good, "good")], backoff=FAST)
    for _ in range(30):  # a random pick skips "bad" 30 times in a row once in 10^9 runs
        stream = await router.acompletion("m", MSGS, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text
    assert bad.requests_total >= 1  # it was tried, and nobody noticed
    await router.aclose()


async def test_context_window_fallback_before_sending(two: list[Emulator]) -> None:
    small, big = two
    model_list = [entry("small", small, "s"), entry("big", big, "b")]
    model_list[0]["model_info"]["max_input_tokens"] = 50
    router = Router(model_list, context_window_fallbacks=[{"small": ["big"]}])
    long = [{"role": "user", "content": "word " * 200}]
    answer = await router.acompletion("small", long, max_tokens=5)
    assert answer.response_headers["x-tokenway-model-group"] == "big"
    assert answer.response_headers["x-tokenway-attempted-fallbacks"] == "1"
    assert small.requests_total == 0
    short = await router.acompletion("small", MSGS, max_tokens=5)
    assert short.response_headers["x-tokenway-deployment"] == "s"
    await router.aclose()


@pytest.fixture
def thread_emulators() -> Iterator[tuple[Emulator, Emulator]]:
    config = EmulatorConfig(api_keys=(KEY,), rpm=1_000_000)
    with run_emulator_in_thread(config) as a, run_emulator_in_thread(config) as b:
        yield a, b


def test_sync_completion_streams_and_fallbacks(thread_emulators: tuple[Emulator, Emulator]) -> None:
    primary, backup = thread_emulators
    primary.faults = FaultConfig(error_rate=1, error_status=502)
    router = Router(
        [entry("primary", primary, "p"), entry("backup", backup, "b")],
        num_retries=1,
        fallbacks=[{"primary": ["backup"]}],
        backoff=FAST,
    )
    answer = router.completion("primary", MSGS)
    assert answer.choices[0].message.content
    assert answer.response_headers["x-tokenway-attempted-retries"] == "1"
    assert answer.response_headers["x-tokenway-model-group"] == "backup"
    chunks = list(router.completion("primary", MSGS, stream=True))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    primary.faults = FaultConfig(error_rate=1, error_status=400)
    with pytest.raises(BadRequestError):
        router.completion("primary", MSGS, num_retries=0)
    router.close()


def test_model_list_entries_are_checked() -> None:
    with pytest.raises(ValueError, match="model_name"):
        Router([{"litellm_params": {"model": MODEL}}])
    with pytest.raises(ValueError, match="provider/model-id"):
        Router([{"model_name": "m", "litellm_params": {}}])
    with pytest.raises(ValueError, match="not served: nowhere"):
        Router(
            [{"model_name": "m", "litellm_params": {"model": MODEL}}],
            fallbacks=[{"m": ["nowhere"]}],
        )


def test_import_tokenway_loads_the_router_only_when_asked() -> None:
    code = (
        "import sys, tokenway; print('tokenway.router' in sys.modules); "
        "tokenway.Router; print('tokenway.router' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


async def test_a_stream_holds_its_deployment_until_it_ends(two: list[Emulator]) -> None:
    first, _ = two
    router = Router([entry("m", first, "only", tpm=1_000_000)], backoff=FAST)
    stream = await router.acompletion("m", MSGS, stream=True, max_tokens=5)
    (stats,) = router.engine.stats("m")
    assert stats.in_flight == 1  # answered, but still streaming: least-busy must see it
    tokens_before = stats.tpm_used
    async for _ in stream:
        pass
    (stats,) = router.engine.stats("m")
    assert stats.in_flight == 0
    assert stats.tpm_used > tokens_before  # the stream's usage counts towards tpm
    await stream.aclose()  # a second close frees nothing twice
    assert router.engine.stats("m")[0].in_flight == 0
    await router.aclose()


def test_a_sync_stream_closed_early_frees_its_deployment(
    thread_emulators: tuple[Emulator, Emulator],
) -> None:
    first, _ = thread_emulators
    router = Router([entry("m", first, "only")], backoff=FAST)
    stream = router.completion("m", MSGS, stream=True, max_tokens=20)
    assert router.engine.stats("m")[0].in_flight == 1
    next(iter(stream))
    stream.close()
    assert router.engine.stats("m")[0].in_flight == 0
    router.close()
