"""Import-time benchmark: ``import tokenway`` against ``import openai``, side by side.

Each case is a fresh ``python -c ...`` process; the cases run interleaved in a shuffled
order every round, pinned to one core with ``taskset`` when available, so machine drift
hits all of them alike. Reported times are wall time minus the median of the bare
interpreter (``pass``), i.e. the cost of the import itself.

Bar (from the issue): ``import tokenway`` takes at most a quarter of ``import openai``.

Then ``python -X importtime`` lists the slowest modules (cumulative) under ``import tokenway``
and under the engine import (those the bare interpreter loads anyway left out), to show what
to make lazy.

Usage (from the project root)::

    .venv/bin/python bench/import_time.py [--rounds 30] [--top 15] [--core 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAR = 0.25  # tokenway / openai

CASES: dict[str, str] = {
    "bare": "pass",
    "tokenway": "import tokenway",
    "openai": "import openai",
    "tokenway engine": "from tokenway import completion; import tokenway.client",
}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def pin_prefix(core: int | None) -> list[str]:
    if core is None:
        return []
    if shutil.which("taskset") and core in os.sched_getaffinity(0):
        return ["taskset", "-c", str(core)]
    return []


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # No stray settings that change what an import does or costs.
    for name in (
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    return env


def run_once(prefix: list[str], code: str, env: dict[str, str]) -> float:
    cmd = [*prefix, sys.executable, "-c", code]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(rounds: int, prefix: list[str], seed: int) -> dict[str, list[float]]:
    env = child_env()
    rng = random.Random(seed)
    names = list(CASES)
    for name in names:  # warm-up: bytecode caches written, page cache filled
        run_once(prefix, CASES[name], env)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            samples[name].append(run_once(prefix, CASES[name], env))
    return samples


def importtime(prefix: list[str], code: str, runs: int) -> dict[str, tuple[float, float]]:
    """module -> (median self µs, median cumulative µs) over ``runs`` processes."""
    env = child_env()
    per_module: dict[str, tuple[list[int], list[int]]] = {}
    for _ in range(runs):
        cmd = [*prefix, sys.executable, "-X", "importtime", "-c", code]
        out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            fields = line[len("import time:") :].split("|")
            if len(fields) != 3 or not fields[0].strip().isdigit():
                continue  # the header line
            self_us, cum_us, module = int(fields[0]), int(fields[1]), fields[2].strip()
            selfs, cums = per_module.setdefault(module, ([], []))
            selfs.append(self_us)
            cums.append(cum_us)
    return {
        module: (statistics.median(selfs), statistics.median(cums))
        for module, (selfs, cums) in per_module.items()
    }


def print_importtime(title: str, table: dict[str, tuple[float, float]], top: int) -> None:
    rows = sorted(table.items(), key=lambda item: item[1][1], reverse=True)[:top]
    print(f"\n{title}: top {len(rows)} by cumulative time (median of runs)")
    print(f"  {'cumulative ms':>13}  {'self ms':>8}  module")
    for module, (self_us, cum_us) in rows:
        print(f"  {cum_us / 1000:13.2f}  {self_us / 1000:8.2f}  {module}")


def version_of(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="fresh processes per case")
    parser.add_argument("--top", type=int, default=15, help="modules listed per -X importtime")
    parser.add_argument("--importtime-runs", type=int, default=5, help="-X importtime runs")
    parser.add_argument("--core", type=int, default=1, help="core to pin to (-1: no pinning)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")

    prefix = pin_prefix(None if args.core < 0 else args.core)
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(
        f"python {platform.python_version()} ({platform.machine()}), "
        f"tokenway {version_of('tokenway')}, openai {version_of('openai')}, "
        f"{os.cpu_count()} CPUs, pinning: {shlex.join(prefix) if prefix else 'none'}"
    )
    print("child processes:")
    for name, code in CASES.items():
        print(f"  {name:16} {shlex.join([*prefix, 'python', '-c', code])}")

    samples = measure(args.rounds, prefix, args.seed)
    base = statistics.median(samples["bare"])
    print(f"\n{args.rounds} rounds, shuffled; bare interpreter median {base * 1000:.1f} ms")
    print(f"  {'case':16} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}   (minus bare median)")
    medians: dict[str, float] = {}
    for name in CASES:
        if name == "bare":
            continue
        net = [s - base for s in samples[name]]
        medians[name] = statistics.median(net)
        print(
            f"  {name:16} {medians[name] * 1000:10.1f} {percentile(net, 90) * 1000:8.1f}"
            f" {min(net) * 1000:8.1f}"
        )
    openai_ms = medians["openai"]
    ratio = medians["tokenway"] / openai_ms if openai_ms > 0 else float("inf")
    engine = medians["tokenway engine"] / openai_ms if openai_ms > 0 else float("inf")
    verdict = "MET" if ratio <= BAR else "NOT MET"
    print(f"\nratio tokenway/openai (medians): {ratio:.3f}   bar <= {BAR}: {verdict}")
    print(f"ratio tokenway engine/openai (medians): {engine:.3f}   (for information)")

    runs = max(1, args.importtime_runs)
    startup = set(importtime(prefix, CASES["bare"], 1))  # site, encodings, ...: not ours
    # `from tokenway import completion` loads tokenway.api through importlib.import_module,
    # which -X importtime does not time; `import tokenway.api` loads the same modules.
    for code in (CASES["tokenway"], "import tokenway.api"):
        table = {m: t for m, t in importtime(prefix, code, runs).items() if m not in startup}
        print_importtime(f"-X importtime `{code}` ({runs} runs)", table, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
