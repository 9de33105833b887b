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

from tokenway.limits.budgets import WAIT, Hold
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


async def test_a_settle_frees_the_budget_and_the_limits_it_reserved_with(
    counter: tuple[str, int],
) -> None:
    """``reserve`` with quotas takes both in one message; ``settle`` with them frees both
    in one, soon even with nothing else to send (``CAST_DELAY``)."""
    a, b = await worker(counter[0]), await worker(counter[0])
    holds = [Hold("key:p", "-", 1.0, 0.0)]
    now = time.time()
    taken = await a.reserve(holds, 0.6, "lease-a", PARALLEL, now)
    assert taken.outcome == 0 and taken.rate is not None and taken.rate.refused is None
    waiting = await b.reserve(holds, 0.6, "lease-b", PARALLEL, now)
    assert waiting.outcome == WAIT  # 0.6 + 0.6 > 1.0 while a's request runs
    a.settle(holds, "lease-a", 0.5, PARALLEL, 0, now)
    await asyncio.sleep(0.05)  # nothing else goes to the counter from a meanwhile
    again = await b.reserve(holds, 0.4, "lease-b", PARALLEL, now)
    assert again.outcome == 0 and again.rate is not None and again.rate.refused is None
    spent = await b.reserve(holds, 0.4, "lease-c", (), now)
    assert spent.outcome == WAIT  # 0.5 spent + 0.4 held + 0.4 > 1.0
    await a.aclose()
    await b.aclose()
