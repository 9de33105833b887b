"""The workers of ``--workers N`` without Redis count their limits in one counter process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenway.limits.local_store import LocalLimitStore, start_counter
from tokenway.limits.window import Quota

RPM = (Quota("key:r", "key 'r'", rpm=3),)
PARALLEL = (Quota("key:p", "key 'p'", parallel=1),)


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[tuple[str, int]]:
    path = str(tmp_path / "counter.sock")
    pid = start_counter(path)
    try:
        yield path, pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


async def worker(path: str) -> LocalLimitStore:
    store = LocalLimitStore(path)
    await store.start()
    assert store.available
    return store


async def test_two_workers_count_one_limit(counter: tuple[str, int]) -> None:
    a, b = await worker(counter[0]), await worker(counter[0])
    now = time.time()
    states = [await (a if n % 2 else b).acquire(RPM, now) for n in range(6)]
    await a.aclose()
    await b.aclose()

    assert [s.refused for s in states] == [None, None, None, "requests", "requests", "requests"]
    assert [s.headroom()[1] for s in states[:3]] == [2, 1, 0]
    assert states[3].refused_by == RPM[0] and states[3].retry_after > 59


async def test_a_released_slot_is_free_for_the_other_worker(counter: tuple[str, int]) -> None:
    a, b = await worker(counter[0]), await worker(counter[0])
    now = time.time()
    assert (await a.acquire(PARALLEL, now)).refused is None
    assert (await b.acquire(PARALLEL, now)).refused == "parallel"
    a.release(PARALLEL, 0, now)
    assert (await a.acquire(RPM, now)).refused is None  # the release went first, in order
    assert (await b.acquire(PARALLEL, now)).refused is None
    await a.aclose()
    await b.aclose()


async def test_a_dead_worker_frees_its_slots(counter: tuple[str, int]) -> None:
    a, b = await worker(counter[0]), await worker(counter[0])
    now = time.time()
    assert (await a.acquire(PARALLEL, now)).refused is None
    await a.aclose()  # its connection closes, as a dead worker's does

    for _ in range(100):
        if (await b.acquire(PARALLEL, now)).refused is None:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the dead worker's slot was never freed")
    await b.aclose()


async def test_a_lost_counter_leaves_each_worker_counting_alone(
    counter: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    a = await worker(counter[0])
    os.kill(counter[1], signal.SIGKILL)
    now = time.time()
    states = [await a.acquire(RPM, now) for _ in range(5)]
    await a.aclose()

    assert not a.available
    assert [s.refused for s in states] == [None, None, None, "requests", "requests"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "counts rate limits on its own" in warnings[0].getMessage()
