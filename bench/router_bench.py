"""The router's cost per request: pick + report, for groups of 1, 4 and 100 deployments.

Each request is one ``RoutingEngine.call`` (sync) or ``acall`` (async, as the proxy uses
it) around an attempt that answers at once, plus the token report the proxy makes after
an answer (``add_tokens``). The figure is process CPU time per request minus the same
loop calling the attempt directly, so it is what routing adds. Every deployment has
rpm/tpm limits (so saturation is checked) and a random weight; latency-based routing
starts from measured latencies; usage-based from a window that already holds traffic.
Every request here takes the engine's short way (the first choice is healthy and
answers); ``--general`` switches it off, to measure the general loop that retries,
fallbacks and saturated groups go through. Run it pinned to one core::

    taskset -c 1 .venv/bin/python bench/router_bench.py            # ~20 s
    taskset -c 1 .venv/bin/python bench/router_bench.py --quick    # ~5 s
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tokenway.router import DeploymentLimits, RouterSettings, RoutingEngine
from tokenway.router.strategies import STRATEGIES

SIZES = (1, 4, 100)
NAMES = ("simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing")


@dataclass(frozen=True)
class Handle:
    deployment_id: str
    group: str
    limits: DeploymentLimits = field(default_factory=DeploymentLimits)


class GeneralOnly(RoutingEngine[Handle]):
    """The engine with its short way switched off (``--general``)."""

    # ``_start`` takes ``_first``'s arguments and always answers with the general loop's call.
    _first = RoutingEngine._start


def make_engine(
    strategy: str, size: int, rng: random.Random, general: bool = False
) -> RoutingEngine[Handle]:
    handles = [
        Handle(
            f"d{i}",
            "g",
            DeploymentLimits(rpm=10_000_000, tpm=10_000_000_000, weight=rng.randint(1, 5)),
        )
        for i in range(size)
    ]
    kind = GeneralOnly if general else RoutingEngine
    engine = kind(handles, RouterSettings(routing_strategy=strategy), rng=rng)
    now = time.monotonic()
    for handle in handles:  # some history: latencies and usage in the window
        for _ in range(rng.randint(1, 5)):
            engine.state.begin(handle.deployment_id, now)
            engine.state.end(handle.deployment_id, rng.uniform(0.005, 0.050))
        engine.state.add_tokens(handle.deployment_id, now, rng.randint(100, 10_000))
    return engine


def answer(handle: Handle, budget: float) -> int:
    return 100


async def aanswer(handle: Handle, budget: float) -> int:
    return 100


def cpu_per_call(loop: Callable[[int], None], n: int) -> float:
    start = time.process_time()
    loop(n)
    return (time.process_time() - start) / n * 1e6


def sync_loop(engine: RoutingEngine[Handle]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            routed = engine.call("g", answer)
            engine.add_tokens(routed.deployment, routed.value)

    return run


def sync_baseline(handle: Handle) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            answer(handle, 1.0)

    return run


def async_loop(engine: RoutingEngine[Handle]) -> Callable[[int], None]:
    async def many(n: int) -> None:
        for _ in range(n):
            routed = await engine.acall("g", aanswer)
            engine.add_tokens(routed.deployment, routed.value)

    return lambda n: asyncio.run(many(n))


def async_baseline(handle: Handle) -> Callable[[int], None]:
    async def many(n: int) -> None:
        for _ in range(n):
            await aanswer(handle, 1.0)

    return lambda n: asyncio.run(many(n))


def measure(
    strategy: str, size: int, n: int, rounds: int, general: bool = False
) -> tuple[float, float]:
    """Median over rounds of (sync µs, async µs) that routing adds per request."""
    rng = random.Random(size)
    sync, asyn = [], []
    for _ in range(rounds):
        engine = make_engine(strategy, size, rng, general)
        handle = engine.deployments("g")[0]
        cpu_per_call(sync_loop(engine), n // 10)  # warm-up
        sync.append(cpu_per_call(sync_loop(engine), n) - cpu_per_call(sync_baseline(handle), n))
        asyn.append(cpu_per_call(async_loop(engine), n) - cpu_per_call(async_baseline(handle), n))
    return statistics.median(sync), statistics.median(asyn)


def table(results: dict[tuple[str, int], tuple[float, float]], sizes: Sequence[int]) -> str:
    head = "| strategy | " + " | ".join(f"{s} dep. sync / async" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for name in NAMES:
        cells = [f"{results[name, s][0]:.2f} / {results[name, s][1]:.2f}" for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="router CPU per request (see the docstring)")
    p.add_argument("--requests", type=int, default=50_000, help="requests per measurement")
    p.add_argument("--rounds", type=int, default=3, help="measurements per cell; median kept")
    p.add_argument("--quick", action="store_true", help="10,000 requests, 1 round")
    p.add_argument("--general", action="store_true", help="without the short way")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = 10_000, 1
    assert set(NAMES) <= set(STRATEGIES)
    results = {
        (name, size): measure(name, size, args.requests, args.rounds, args.general)
        for name in NAMES
        for size in SIZES
    }
    way = "the general loop only" if args.general else "short way on"
    print(f"CPU µs per request added by routing (pick + report, {way}), median of {args.rounds}:")
    print(table(results, SIZES))
    worst = max(max(results[name, 100]) for name in NAMES)
    print(f"\nworst at 100 deployments: {worst:.2f} µs (bar: 10 µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
