"""SDK overhead benchmark: client-side CPU per call, tokenway against the ``openai`` SDK.

Both SDKs call the same local Inference.net emulator (``python -m tokenway.emulator``),
which runs in its own process pinned to one core; this process is pinned to another, so
``time.process_time()`` counts this process's CPU only: the SDK's own work (building the
request, HTTP, parsing, objects), not the server's.

Modes: ``sync`` (``tokenway.completion`` vs ``OpenAI().chat.completions.create``),
``stream`` (the same with ``stream=True``, whole stream consumed), ``async``
(``tokenway.acompletion`` vs ``AsyncOpenAI``, sequential calls in one event loop) and
``async-stream``. Every round runs each client once per mode, alternating which goes first,
so drift hits both alike. Reported: CPU µs per call (median over rounds), wall p50/p90 per
call, and the ratio tokenway/openai.

Bar (from the issue): tokenway's CPU per call is no more than the openai SDK's own.

Usage (from the project root)::

    .venv/bin/python bench/sdk_overhead.py [--rounds 10] [--calls 200] [--modes sync,stream]
    .venv/bin/python bench/sdk_overhead.py --profile 2000   # cProfile of tokenway's sync path
    .venv/bin/python bench/sdk_overhead.py --profile 2000 --profiler pyinstrument
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench_emulator import API_KEY, EMULATOR_CORE, emulator

TW_MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
OA_MODEL = "meta-llama/llama-3.1-8b-instruct/fp-16"
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
MAX_TOKENS = 16
NO_PACING = 10**9  # rpm: tokenway paces Inference.net at 500 RPM by default
MODES = ("sync", "stream", "async", "async-stream")
CLIENTS = ("tokenway", "openai")
BENCH_CORE = 1
BAR = 1.0  # tokenway CPU / openai CPU


# ---- one call per client and mode ------------------------------------------------------


def sync_calls(url: str) -> dict[tuple[str, str], Callable[[], int]]:
    """(mode, client) -> a function making one call; returns a size to sanity-check."""
    import openai

    import tokenway

    oa = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    tw_kw: dict[str, Any] = {"api_base": url, "api_key": API_KEY, "rpm": NO_PACING}

    def tw_sync() -> int:
        r = tokenway.completion(TW_MODEL, MESSAGES, max_tokens=MAX_TOKENS, **tw_kw)
        return len(r.choices[0]["message"]["content"] or "")

    def oa_sync() -> int:
        r = oa.chat.completions.create(model=OA_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        return len(r.choices[0].message.content or "")

    def tw_stream() -> int:
        stream = tokenway.completion(
            TW_MODEL, MESSAGES, stream=True, max_tokens=MAX_TOKENS, **tw_kw
        )
        with stream:
            return sum(1 for _ in stream)

    def oa_stream() -> int:
        # The same bytes on the wire as tokenway, which always asks for streamed usage.
        stream = oa.chat.completions.create(
            model=OA_MODEL,
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        with stream:
            return sum(1 for _ in stream)

    return {
        ("sync", "tokenway"): tw_sync,
        ("sync", "openai"): oa_sync,
        ("stream", "tokenway"): tw_stream,
        ("stream", "openai"): oa_stream,
    }


def async_calls(url: str) -> tuple[dict[tuple[str, str], Callable[[], Awaitable[int]]], Any]:
    """Like ``sync_calls``; call inside the event loop. Also returns a closer coroutine fn."""
    import openai

    import tokenway
    from tokenway.api import default_client

    oa = openai.AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    tw_kw: dict[str, Any] = {"api_base": url, "api_key": API_KEY, "rpm": NO_PACING}

    async def tw_async() -> int:
        r = await tokenway.acompletion(TW_MODEL, MESSAGES, max_tokens=MAX_TOKENS, **tw_kw)
        return len(r.choices[0]["message"]["content"] or "")

    async def oa_async() -> int:
        r = await oa.chat.completions.create(
            model=OA_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS
        )
        return len(r.choices[0].message.content or "")

    async def tw_astream() -> int:
        stream = await tokenway.acompletion(
            TW_MODEL, MESSAGES, stream=True, max_tokens=MAX_TOKENS, **tw_kw
        )
        n = 0
        async with stream:
            async for _ in stream:
                n += 1
        return n

    async def oa_astream() -> int:
        stream = await oa.chat.completions.create(
            model=OA_MODEL,
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        n = 0
        async with stream:
            async for _ in stream:
                n += 1
        return n

    async def close() -> None:
        await oa.close()
        await default_client().aclose()

    calls = {
        ("async", "tokenway"): tw_async,
        ("async", "openai"): oa_async,
        ("async-stream", "tokenway"): tw_astream,
        ("async-stream", "openai"): oa_astream,
    }
    return calls, close


# ---- measuring -------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.cpu_per_call: dict[tuple[str, str], list[float]] = {}  # one value per round
        self.walls: dict[tuple[str, str], list[float]] = {}  # one value per call

    def add(self, key: tuple[str, str], cpu: float, walls: list[float]) -> None:
        self.cpu_per_call.setdefault(key, []).append(cpu / len(walls))
        self.walls.setdefault(key, []).extend(walls)


def round_order(mode: str, r: int) -> list[tuple[str, str]]:
    clients = CLIENTS if r % 2 == 0 else CLIENTS[::-1]
    return [(mode, client) for client in clients]


def check(key: tuple[str, str], size: int) -> None:
    if size <= 0:
        raise RuntimeError(f"{key}: an empty answer; is the emulator answering?")


def run_sync(calls: dict[tuple[str, str], Callable[[], int]], args: argparse.Namespace) -> Results:
    modes = [m for m in args.modes if not m.startswith("async")]
    results = Results()
    for mode in modes:
        for client in CLIENTS:
            fn = calls[(mode, client)]
            for _ in range(args.warmup):
                check((mode, client), fn())
    for r in range(args.rounds):
        for mode in modes:
            for key in round_order(mode, r):
                fn = calls[key]
                walls = []
                gc.collect()
                cpu0 = time.process_time()
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    fn()
                    walls.append(time.perf_counter() - t0)
                results.add(key, time.process_time() - cpu0, walls)
    return results


async def run_async(url: str, args: argparse.Namespace) -> Results:
    modes = [m for m in args.modes if m.startswith("async")]
    calls, close = async_calls(url)
    results = Results()
    try:
        for mode in modes:
            for client in CLIENTS:
                fn = calls[(mode, client)]
                for _ in range(args.warmup):
                    check((mode, client), await fn())
        for r in range(args.rounds):
            for mode in modes:
                for key in round_order(mode, r):
                    fn = calls[key]
                    walls = []
                    gc.collect()
                    cpu0 = time.process_time()
                    for _ in range(args.calls):
                        t0 = time.perf_counter()
                        await fn()
                        walls.append(time.perf_counter() - t0)
                    results.add(key, time.process_time() - cpu0, walls)
    finally:
        await close()
    return results


def percentile(values: list[float], q: float) -> float:
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def report(results: Results, modes: list[str]) -> bool:
    print(
        f"\n{'mode':13} {'client':9} {'CPU µs/call':>11} {'(min-max over rounds)':>22}"
        f" {'wall p50 µs':>11} {'wall p90 µs':>11}"
    )
    all_met = True
    verdicts = []
    for mode in modes:
        med: dict[str, float] = {}
        p50: dict[str, float] = {}
        for client in CLIENTS:
            cpus = [c * 1e6 for c in results.cpu_per_call[(mode, client)]]
            walls = [w * 1e6 for w in results.walls[(mode, client)]]
            med[client] = statistics.median(cpus)
            p50[client] = percentile(walls, 50)
            spread = f"{min(cpus):.0f}-{max(cpus):.0f}"
            print(
                f"{mode:13} {client:9} {med[client]:11.0f} {spread:>22}"
                f" {p50[client]:11.0f} {percentile(walls, 90):11.0f}"
            )
        cpu_ratio = med["tokenway"] / med["openai"]
        wall_ratio = p50["tokenway"] / p50["openai"]
        met = cpu_ratio <= BAR
        all_met &= met
        verdicts.append(
            f"{mode:13} CPU ratio tokenway/openai {cpu_ratio:.3f} (bar <= {BAR:g}: "
            f"{'MET' if met else 'NOT MET'}), wall p50 ratio {wall_ratio:.3f}"
        )
    print()
    for line in verdicts:
        print(line)
    return all_met


# ---- profiling -------------------------------------------------------------------------


def profile(url: str, n: int, top: int, profiler_name: str) -> None:
    """Profile ``n`` sync tokenway calls: cProfile on CPU time, or pyinstrument (wall)."""
    fn = sync_calls(url)[("sync", "tokenway")]
    for _ in range(200):
        fn()
    gc.collect()
    if profiler_name == "pyinstrument":
        from pyinstrument import Profiler  # pip install pyinstrument

        sampler = Profiler(interval=0.0001)
        sampler.start()
        for _ in range(n):
            fn()
        sampler.stop()
        print(f"\npyinstrument (wall-clock samples) of {n} sync tokenway.completion() calls:")
        print(sampler.output_text(time="percent_of_total", show_all=False))
        print("flat, by own time:")
        print("\n".join(sampler.output_text(flat=True).splitlines()[: top + 6]))
        return

    import cProfile
    import pstats

    # The CPU clock as the timer: time spent blocked on the emulator's answer is not counted.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(n):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    print(f"\ncProfile (CPU time) of {n} sync tokenway.completion() calls, by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print("by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


# ---- main ------------------------------------------------------------------------------


def pin_self() -> bool:
    """Pin this process to BENCH_CORE (and the emulator to EMULATOR_CORE) when possible."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    allowed = os.sched_getaffinity(0)
    if not {EMULATOR_CORE, BENCH_CORE} <= allowed:
        return False
    os.sched_setaffinity(0, {BENCH_CORE})
    return True


def version_of(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds (alternating order)")
    parser.add_argument("--calls", type=int, default=200, help="calls per client, mode, round")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured calls first")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="only profile N calls")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown or not args.modes:
        parser.error(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}")
    if args.rounds < 1 or args.calls < 1 or args.warmup < 1:
        parser.error("--rounds, --calls and --warmup must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups
    pinned = not args.no_pin and pin_self()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(
        f"python {platform.python_version()} ({platform.machine()}), tokenway "
        f"{version_of('tokenway')}, openai {version_of('openai')}, httpx2 {version_of('httpx2')}"
        f", pydantic {version_of('pydantic')}, {os.cpu_count()} CPUs, pinned: "
        + (f"bench core {BENCH_CORE}, emulator core {EMULATOR_CORE}" if pinned else "no")
    )
    with emulator(pinned) as (url, cmd):
        print("emulator:", shlex.join([Path(c).name if c == sys.executable else c for c in cmd]))
        if args.profile:
            profile(url, args.profile, args.top, args.profiler)
            return 0
        print(
            f"{args.rounds} rounds x {args.calls} calls per client and mode "
            f"(+{args.warmup} warm-up), max_tokens={MAX_TOKENS}, modes: {', '.join(args.modes)}"
        )
        results = Results()
        if any(not m.startswith("async") for m in args.modes):
            sync = run_sync(sync_calls(url), args)
            results.cpu_per_call.update(sync.cpu_per_call)
            results.walls.update(sync.walls)
        if any(m.startswith("async") for m in args.modes):
            asy = asyncio.run(run_async(url, args))
            results.cpu_per_call.update(asy.cpu_per_call)
            results.walls.update(asy.walls)
    met = report(results, args.modes)
    print(f"\nbar (tokenway CPU per call <= openai's, every mode): {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
