from tokenway.limits.bucket import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_evenly_spaced_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(600, burst=2, clock=clock)  # 10 per second
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == [0.1, 0.2, 0.30000000000000004] or all(
        abs(w - e) < 1e-9 for w, e in zip(waits, [0.1, 0.2, 0.3], strict=True)
    )
    clock.now = 10.0
    assert bucket.reserve() == 0.0


def test_a_500_rpm_batch_never_exceeds_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(500, clock=clock)
    starts = sorted(bucket.reserve() for _ in range(2000))
    # any 60 s window holds at most 500 + burst starts
    for i, start in enumerate(starts):
        j = i
        while j < len(starts) and starts[j] < start + 60:
            j += 1
        assert j - i <= 500 + 25
    assert 230 < starts[-1] < 240  # 2,000 calls at 500/min take ~4 minutes
