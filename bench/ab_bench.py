"""Two source trees of tokenway side by side: the same load on each, in alternating rounds.

For a change's cost on the hot path: ``--before`` names the ``src`` folder of the old code
(a ``git worktree`` of the old commit), the installed tree is the new one. Both proxies run
at once, each pinned to the same core, but only one is loaded at a time; each round loads
the master key and then a virtual key with every check on (``vkey_bench.py``'s key), the
order of the two trees swapped every round, so the machine's drift hits both alike. The
ratio reported is the median of the per-round ratios new / old::

    git worktree add --detach ../before <old commit>
    .venv/bin/python bench/ab_bench.py --before ../before/src --repeat 8 --duration 5

Every request writes a spend row (SQLite in a temporary directory per tree).
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

from bench_procs import Proc, free_port, log, wait_ready
from bench_report import Run, Scenario
from bench_wrk import run_wrk
from proxy_bench import mock_port, proxy_config, start_mock, start_proxy
from vkey_bench import PRICE, make_virtual_key


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, help="the old tree's src folder")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=8)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    args = p.parse_args()
    before = str(Path(args.before).resolve())
    with (
        tempfile.TemporaryDirectory(prefix="tokenway-ab-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        logs = Path(tmp)
        mock = start_mock("mock", args.load_core, 20, 0, logs)
        stack.callback(mock.stop)
        upstream = mock_port(mock)
        targets = {}
        for name, src in (("before", before), ("after", None)):
            proc, port, keys = _start(name, src, upstream, args.proxy_core, logs / name)
            stack.callback(proc.stop)
            targets[name] = (proc, port, keys)
        runs = _rounds(args, targets, mock)
        _report(args, runs)
    return 0


def _start(
    name: str, src: str | None, upstream: int, core: str, logs: Path
) -> tuple[Proc, int, dict[str, str]]:
    logs.mkdir()
    master = "sk-bench-" + secrets.token_hex(24)
    config = proxy_config("tokenway", _Mocks(upstream), master)
    for entry in config["model_list"]:
        entry["litellm_params"].update(PRICE)
    config["general_settings"]["database_url"] = f"sqlite:///{logs / 'tokenway.db'}"
    config["general_settings"]["spend_journal_dir"] = str(logs / "journal")
    path = logs / "config.yaml"
    path.write_text(json.dumps(config))
    port = free_port()
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        proc = start_proxy("tokenway", path, port, core, logs)
    finally:
        os.environ.pop("PYTHONPATH", None)
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
    wait_ready(proc, port, "/health/readiness", 20.0)
    keys = {"master key": master, "virtual key": make_virtual_key(port, master, team=False)}
    log(f"{name}: pid {proc.pid} on port {port}")
    return proc, port, keys


class _Mocks:
    def __init__(self, port: int) -> None:
        self.burst_port = port
        self.paced_port = None


Runs = dict[tuple[str, str], list[Run]]


def _rounds(
    args: argparse.Namespace, targets: dict[str, tuple[Proc, int, dict[str, str]]], mock: Proc
) -> Runs:
    sc = Scenario("plain", f"{args.connections} conn", False, False, args.connections)
    runs: Runs = {}
    order = list(targets)
    for _ in range(args.repeat):
        for key_name in ("master key", "virtual key"):
            for tree in order:
                proc, port, keys = targets[tree]
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                run = run_wrk(
                    url, sc, args.duration, args.load_core, keys[key_name], "m", proc, [mock]
                )
                if run.errors:
                    raise RuntimeError(f"{tree} {key_name}: {run.errors} errors")
                runs.setdefault((tree, key_name), []).append(run)
                log(f"  {tree} {key_name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
                time.sleep(0.5)
            order.reverse()
    return runs


def _report(args: argparse.Namespace, runs: Runs) -> None:
    print(
        f"\nnon-streaming, {args.connections} connections, {args.duration:g} s x "
        f"{args.repeat} rounds, proxies on core {args.proxy_core}, load on {args.load_core}\n"
    )
    print(
        "| key | before req/s | after req/s | before CPU µs/req | after CPU µs/req | "
        "after/before per round: median (middle half) | capacity ratio |"
    )
    print("|---|---:|---:|---:|---:|---|---:|")
    for key_name in ("master key", "virtual key"):
        old, new = runs[("before", key_name)], runs[("after", key_name)]
        ratios = [n.rps / o.rps for n, o in zip(new, old, strict=True)]
        o_cpu = statistics.median(r.cpu_us or 0.0 for r in old)
        n_cpu = statistics.median(r.cpu_us or 0.0 for r in new)
        low, _, high = (
            statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else (min(ratios), 0, max(ratios))
        )
        print(
            f"| {key_name} | {statistics.median(r.rps for r in old):,.0f} | "
            f"{statistics.median(r.rps for r in new):,.0f} | {o_cpu:.1f} | {n_cpu:.1f} | "
            f"{statistics.median(ratios):.3f} ({low:.3f}-{high:.3f}) | {o_cpu / n_cpu:.3f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
