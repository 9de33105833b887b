from tokenway.emulator.limits import RateLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_capacity_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(capacity=2, refill_per_s=0.5, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 2.0
    assert bucket.take(1.0) == 1.0
    assert bucket.take(2.0) == 0.0


def test_limiter_refuses_over_rpm_with_whole_seconds_and_allows_after_waiting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=2, window_s=60.0, clock=clock)
    assert limiter.acquire("k").allowed
    second = limiter.acquire("k")
    assert second.allowed and second.remaining == 0
    refused = limiter.acquire("k")
    assert not refused.allowed
    assert refused.retry_after_s == 30  # one token per 30 s at 2 RPM
    assert ("retry-after", "30") in refused.headers()
    assert ("x-ratelimit-limit-requests", "2") in refused.headers()
    clock.now += refused.retry_after_s
    assert limiter.acquire("k").allowed


def test_retry_after_is_at_least_one_second_and_rounds_up() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=600, window_s=60.0, clock=clock)  # 10 per second
    for _ in range(600):
        assert limiter.acquire("k").allowed
    refused = limiter.acquire("k")
    assert not refused.allowed and refused.retry_after_s == 1
    clock.now += 0.1
    assert limiter.acquire("k").allowed


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(rpm=1, clock=FakeClock())
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed
