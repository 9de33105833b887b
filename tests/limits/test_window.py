import random

from tokenway.limits.window import SPAN, WINDOW, MemoryLimitStore, Quota, SlidingWindow


def test_window_counts_the_last_minute_and_forgets_after_it() -> None:
    window = SlidingWindow()
    window.add(100.2, 3)
    window.add(130.9, 2)
    assert window.count(159.9) == 5
    assert window.count(160.99) == 5  # 60 to 61 s: never shorter than a minute
    assert window.count(161.0) == 2
    assert window.count(192.0) == 0


def test_window_never_holds_more_than_the_limit_in_any_minute() -> None:
    rng = random.Random(7)
    window, limit, accepted = SlidingWindow(), 50, []
    now = 0.0
    for _ in range(5000):
        now += rng.expovariate(2.0)  # ~120 attempts per minute against a limit of 50
        if window.count(now) < limit:
            window.add(now, 1)
            accepted.append(now)
    for i, start in enumerate(accepted):
        in_minute = sum(1 for t in accepted[i : i + limit + 1] if t < start + 60)
        assert in_minute <= limit
    assert len(accepted) > limit * (now / 61) * 0.9  # and it does not refuse much more


def test_wait_for_says_when_enough_has_left() -> None:
    window = SlidingWindow()
    window.add(10.5, 1)
    window.add(20.5, 1)
    assert window.wait_for(30.0, 1) == 10 + SPAN - 30.0
    assert window.wait_for(30.0, 2) == 20 + SPAN - 30.0
    assert window.wait_for(30.0, 0) == 0.0
    assert window.until_empty(30.0) == 20 + SPAN - 30.0
    assert window.count(20 + SPAN + 0.01) == 0
    assert window.until_empty(100.0) == 0.0


def test_until_empty_after_the_newest_units_were_taken_back() -> None:
    window = SlidingWindow()
    window.add(10.5, 2)
    window.add(20.5, 1)
    assert window.until_empty(20.75) == 20 + SPAN - 20.75
    window.take_back(1)  # in the same second, as ``take_back`` requires
    assert window.until_empty(20.75) == 10 + SPAN - 20.75
    window.add(12.0, 1)  # a clock that stepped back counts in the newest bucket
    assert window.until_empty(20.75) == 20 + SPAN - 20.75


def test_a_clock_stepping_back_still_counts() -> None:
    window = SlidingWindow()
    window.add(500.0, 1)
    window.add(490.0, 1)
    assert window.count(495.0) == 2


def test_long_idle_gap_clears_everything() -> None:
    window = SlidingWindow()
    for second in range(60):
        window.add(float(second), 1)
    assert window.count(60.0) == 60
    assert window.count(10_000.0) == 0
    window.add(10_000.0, 4)
    assert window.count(10_000.5) == 4


async def test_rpm_refuses_the_next_request_with_when_to_retry() -> None:
    store, quota = MemoryLimitStore(), Quota("key:a", "key 'a'", rpm=3)
    for i in range(3):
        state = await store.acquire((quota,), 100.0 + i)
        assert state.refused is None
        assert state.remaining_requests == 2 - i
        store.release((quota,), 0, 100.0 + i)
    state = await store.acquire((quota,), 110.0)
    assert state.refused == "requests" and state.refused_by is quota
    assert state.retry_after == 100 + SPAN - 110.0
    assert state.remaining_requests == 0 and state.limit_requests == 3
    assert (await store.acquire((quota,), 161.0)).refused is None


async def test_tpm_counts_tokens_at_release() -> None:
    store, quota = MemoryLimitStore(), Quota("key:a", "key 'a'", tpm=1000)
    state = await store.acquire((quota,), 0.0)
    assert state.refused is None and state.remaining_tokens == 1000
    store.release((quota,), 1200, 1.0)  # the first request may overshoot: its size is unknown
    refused = await store.acquire((quota,), 2.0)
    assert refused.refused == "tokens"
    assert refused.retry_after == 1 + SPAN - 2.0
    assert refused.remaining_tokens <= 0


async def test_parallel_limit_frees_a_slot_at_release() -> None:
    store, quota = MemoryLimitStore(), Quota("key:a", "key 'a'", parallel=2)
    assert (await store.acquire((quota,), 0.0)).refused is None
    assert (await store.acquire((quota,), 0.0)).refused is None
    assert (await store.acquire((quota,), 0.0)).refused == "parallel"
    assert store.in_flight("key:a") == 2
    store.release((quota,), 0, 0.0)
    assert (await store.acquire((quota,), 0.0)).refused is None


async def test_a_refusal_counts_nowhere() -> None:
    store = MemoryLimitStore()
    key = Quota("key:a", "key 'a'", rpm=10, parallel=5)
    team = Quota("team:t", "team 't'", rpm=1)
    assert (await store.acquire((key, team), 0.0)).refused is None
    refused = await store.acquire((key, team), 1.0)
    assert refused.refused == "requests" and refused.refused_by is team
    assert store.in_flight("key:a") == 1  # the refused request took no slot
    assert (await store.acquire((key,), 2.0)).remaining_requests == 8  # nor a request


async def test_headers_report_the_tightest_limits() -> None:
    store = MemoryLimitStore()
    key = Quota("key:a", "key 'a'", rpm=100, tpm=500)
    team = Quota("team:t", "team 't'", rpm=5, tpm=10_000)
    state = await store.acquire((key, team), 30.0)
    assert (state.limit_requests, state.remaining_requests) == (5, 4)
    assert (state.limit_tokens, state.remaining_tokens) == (500, 500)
    assert state.reset_requests == WINDOW
    assert state.reset_tokens == 0.0


async def test_sweep_drops_idle_principals_only() -> None:
    store = MemoryLimitStore(sweep_above=10)
    busy = Quota("key:busy", "busy", parallel=1)
    await store.acquire((busy,), 0.0)
    for i in range(20):
        await store.acquire((Quota(f"key:{i}", "k", rpm=5),), 0.0)
    assert store.sweep(100.0) >= 20
    assert store.in_flight("key:busy") == 1


async def test_reported_waits_never_exceed_the_minute() -> None:
    """Units leave the window 61 s after their whole second; a per-minute limit still never
    tells a client to wait longer than 60 s (retry-after, x-ratelimit-reset-*)."""
    store = MemoryLimitStore()
    rpm, tpm = Quota("key:r", "key 'r'", rpm=1), Quota("key:t", "key 't'", tpm=1000)
    admitted = store.acquire_now((rpm, tpm), 100.25)
    assert admitted[2] == WINDOW  # full again a minute after the newest request
    store.release((rpm, tpm), 1200, 100.25)
    refused = await store.acquire((rpm,), 100.5)  # 100 + SPAN - 100.5 = 60.5 s away
    assert refused.refused == "requests" and refused.retry_after == WINDOW
    assert refused.headroom()[2] <= WINDOW
    refused = await store.acquire((tpm,), 100.5)
    assert refused.refused == "tokens" and refused.retry_after == WINDOW
    assert refused.headroom()[5] <= WINDOW
    tokens = Quota("key:u", "key 'u'", tpm=10_000)
    store.acquire_now((tokens,), 200.0)
    store.release((tokens,), 5, 200.0)
    assert store.acquire_now((tokens,), 200.5)[5] == WINDOW  # counted this second
    store.release((tokens,), 0, 200.5)
    assert store.acquire_now((tokens,), 201.5)[5] <= WINDOW  # counted a second ago
