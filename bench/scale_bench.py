"""Scale-out costs (issue 14), side by side: Redis-backed limits and ``--workers 2``.

Four proxies on the proxy core, all with a virtual key whose rpm/tpm/parallel limits are
far above the load (every check runs, none refuses), taking turns under wrk (``--repeat``
rounds, the order rotated each round):

* ``memory``: limits counted in the process (no Redis);
* ``redis``: limits counted in Redis (a ``redis-server`` of the benchmark's own, pinned
  to the load core, so the proxy core only pays the proxy's side of the round trip);
* ``memory, --workers 2`` and ``redis, --workers 2``: the same configs served by two
  workers (both on the proxy core: compare CPU per request summed over the workers and,
  without Redis, the counter process the workers share, not throughput).

Spend rows go to a SQLite file per proxy in a temporary directory::

    .venv/bin/python bench/scale_bench.py            # 10 s per run, 5 rounds
    .venv/bin/python bench/scale_bench.py --quick    # 3 s per run
    .venv/bin/python bench/scale_bench.py --before ../main/src   # + the same from another
                                                                 # tree, interleaved

``--before SRC`` also runs each of the four from the source tree ``SRC`` (its proxies
take turns with these, so both see the same machine) and reports this tree's CPU per
request against that one's.

``--floor`` also sends, to the two memory proxies, a key without limits or budget: two
workers on one core against one worker with nothing to count or share, the part of the
``--workers 2`` ratio that no way of sharing counts can remove.

Bars: redis / memory throughput ≥ 0.7; CPU per request of 2 workers / 1 worker ≤ 1.1.
wrk, the mock upstream and Redis share the load core: when it is the bottleneck (the
proxy's core is not busy all the time: "proxy busy" in the log), throughput measures it,
and CPU per request is the proxy's figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_procs import Proc, free_port, log, pinned, wait_ready
from bench_report import Run, Scenario
from bench_wrk import run_wrk
from proxy_bench import mock_port, proxy_config, start_mock, tokenway_argv
from vkey_bench import LIMITS, PRICE, _Mocks, admin


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="3 s per run")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    p.add_argument("--before", help="a tree's src/ to run side by side (PYTHONPATH)")
    p.add_argument(
        "--one-process",
        action="store_true",
        help="only memory and redis with one worker (the throughput bar's pair)",
    )
    p.add_argument(
        "--floor",
        action="store_true",
        help="also a key without limits or budget on the memory proxies: what two workers "
        "on one core cost before anything is counted",
    )
    args = p.parse_args()
    duration = 3.0 if args.quick else args.duration
    with (
        tempfile.TemporaryDirectory(prefix="tokenway-scale-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        logs = Path(tmp)
        redis_port = free_port()
        redis = Proc(
            "redis",
            pinned(args.load_core, ["redis-server", "--port", str(redis_port), "--save", ""]),
            logs / "redis.log",
            dict(os.environ),
        )
        stack.callback(redis.stop)
        mock = start_mock("mock", args.load_core, 20, 0, logs)
        stack.callback(mock.stop)
        master = "sk-bench-" + secrets.token_hex(24)
        upstream = mock_port(mock)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        proxies: dict[str, tuple[Proc, int, str]] = {}
        trees = {"": None} if not args.before else {"": None, "before ": args.before}
        for tag, src in trees.items():
            setups = [
                ("memory", None, 1),
                ("memory, --workers 2", None, 2),
                ("redis", redis_url, 1),
                ("redis, --workers 2", redis_url, 2),
            ]
            for name, url, workers in [s for s in setups if s[2] == 1 or not args.one_process]:
                config = write_config(logs, tag + name, upstream, master, url)
                proc, port = start(tag + name, config, args.proxy_core, logs, workers, src)
                stack.callback(proc.stop)
                key = make_key(port, master, workers)
                proxies[tag + name] = (proc, port, key)
                if args.floor and not tag and url is None:
                    plain = str(admin(port, master, "/key/generate", {})["key"])
                    proxies[name + ", key without limits"] = (proc, port, plain)
        runs = compare(args, duration, proxies, [mock, redis])
        report(runs, args, duration)
    return 0


def write_config(logs: Path, name: str, upstream: int, master: str, redis: str | None) -> Path:
    config = proxy_config("tokenway", _Mocks(upstream), master)
    for entry in config["model_list"]:  # priced, so budgets and spend move
        entry["litellm_params"].update(PRICE)
    tag = name.replace(", ", "-").replace(" ", "")
    general: dict[str, Any] = config["general_settings"]
    general["database_url"] = f"sqlite:///{logs / tag}.db"
    general["spend_journal_dir"] = str(logs / f"journal-{tag}")
    if redis is not None:
        config["router_settings"] = {"redis_url": redis, "redis_key_prefix": f"{tag}:"}
    path = logs / f"{tag}.yaml"
    path.write_text(json.dumps(config))
    return path


def start(
    name: str, config: Path, core: str, logs: Path, workers: int, src: str | None = None
) -> tuple[Proc, int]:
    port = free_port()
    argv = [*tokenway_argv(), "--config", str(config), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers)]
    env = dict(os.environ) if src is None else {**os.environ, "PYTHONPATH": src}
    proc = Proc(name, pinned(core, argv), logs / f"{name}.log", env)
    wait_ready(proc, port, "/health/readiness", 20.0)
    return proc, port


def make_key(port: int, master: str, workers: int) -> str:
    """A virtual key with a budget, rpm/tpm and parallel limits (none reached)."""
    for _ in range(200):  # every worker opens its store before the key is made
        with contextlib.suppress(OSError):
            fields = {**LIMITS, "max_parallel_requests": 10**6}
            return str(admin(port, master, "/key/generate", fields)["key"])
        time.sleep(0.05)
    raise RuntimeError(f"no key from the proxy on port {port} ({workers} workers)")


def compare(
    args: argparse.Namespace,
    duration: float,
    proxies: dict[str, tuple[Proc, int, str]],
    others: list[Proc],
) -> dict[str, list[Run]]:
    sc = Scenario(
        "plain", f"non-streaming, {args.connections} conn", False, False, args.connections
    )
    runs: dict[str, list[Run]] = {name: [] for name in proxies}
    order = list(proxies.items())
    for _ in range(args.repeat):
        for name, (proc, port, key) in order:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            # the proxy's CPU is its process's and every worker's (``cpu_split``)
            run = run_wrk(url, sc, duration, args.load_core, key, "m", proc, others)
            if run.errors:
                raise RuntimeError(f"{name}: {run.errors} errors")
            runs[name].append(run)
            util = f"{run.proxy_util:.2f}" if run.proxy_util is not None else "?"
            log(f"  {name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req, proxy busy {util}")
            time.sleep(0.5)
        order = order[1:] + order[:1]  # no proxy always first: the machine's speed drifts
    return runs


def report(runs: dict[str, list[Run]], args: argparse.Namespace, duration: float) -> None:
    print(
        f"\nvirtual key, non-streaming, {args.connections} connections, {duration:g} s x "
        f"{args.repeat} rounds, proxy on core {args.proxy_core}, load + mock + Redis on core "
        f"{args.load_core}\n"
    )
    print("| limits counted in | req/s (median) | CPU µs/req (median, all workers) |")
    print("|---|---:|---:|")
    for name, rs in runs.items():
        rps = statistics.median(r.rps for r in rs)
        cpu = statistics.median(r.cpu_us or 0.0 for r in rs)
        print(f"| {name} | {rps:,.0f} | {cpu:.1f} |")
    cpu_of = lambda r: r.cpu_us or 0.0  # noqa: E731
    lines: tuple[tuple[str, list[float], str], ...] = (
        ("redis / memory throughput", ratios(runs["redis"], runs["memory"], rps_of), "≥ 0.7"),
        ("redis / memory CPU per request", ratios(runs["redis"], runs["memory"], cpu_of), ""),
    )
    if "redis, --workers 2" in runs:
        lines += (
            (
                "memory: 2 workers (+ counter) / 1 worker CPU per request",
                ratios(runs["memory, --workers 2"], runs["memory"], cpu_of),
                "≤ 1.1",
            ),
            (
                "redis: 2 workers / 1 worker CPU per request",
                ratios(runs["redis, --workers 2"], runs["redis"], cpu_of),
                "≤ 1.1",
            ),
        )
    if "memory, --workers 2, key without limits" in runs:
        lines += (
            (
                "key without limits: 2 workers / 1 worker CPU per request (nothing counted)",
                ratios(
                    runs["memory, --workers 2, key without limits"],
                    runs["memory, key without limits"],
                    cpu_of,
                ),
                "",
            ),
        )
    if "before memory" in runs:
        lines += tuple(
            (
                f"{name}: this tree / before, CPU per request",
                ratios(runs[name], runs["before " + name], cpu_of),
                "",
            )
            for name in ("memory", "memory, --workers 2", "redis", "redis, --workers 2")
            if name in runs
        )
    print()
    for label, values, bar in lines:
        listed = ", ".join(f"{v:.3f}" for v in values)
        print(
            f"{label}, per round: median {statistics.median(values):.3f} (all: {listed})"
            + (f"; bar {bar}" if bar else "")
        )


def rps_of(run: Run) -> float:
    return run.rps


def ratios(a: list[Run], b: list[Run], of: Any) -> list[float]:
    """Each round's ``a`` against ``b`` of the same round."""
    return [of(x) / of(y) for x, y in zip(a, b, strict=True)]


if __name__ == "__main__":
    sys.exit(main())
