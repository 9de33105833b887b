"""The admin UI's cost to the proxy (issue 16): chat throughput with a UI session polling
the overview every second, against the same proxy with nobody looking, side by side.

One proxy (SQLite store, limits in memory) in front of the mock upstream, a virtual key
with a budget and rpm/tpm limits (none reached). Rounds alternate: wrk alone, then wrk
while a logged-in session (a cookie from ``POST /ui/login``) asks ``/ui/api/overview``
every second, the order swapped each round. The overview aggregates every spend row of
the last 24 hours in SQL, and the table grows with each run (the wrk load writes a row a
request), so later rounds poll over hundreds of thousands of rows::

    .venv/bin/python bench/ui_bench.py              # 10 s per run, 5 rounds
    .venv/bin/python bench/ui_bench.py --quick      # 3 s per run, 3 rounds

Bar: with UI / without ≥ 0.95 (median of the rounds' ratios).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from bench_procs import log
from bench_report import Run, Scenario
from bench_wrk import run_wrk
from proxy_bench import mock_port, start_mock
from scale_bench import make_key, start, write_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="3 s per run, 3 rounds")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    args = p.parse_args()
    duration, repeat = (3.0, 3) if args.quick else (args.duration, args.repeat)
    with (
        tempfile.TemporaryDirectory(prefix="tokenway-ui-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        logs = Path(tmp)
        mock = start_mock("mock", args.load_core, 20, 0, logs)
        stack.callback(mock.stop)
        master = "sk-bench-" + secrets.token_hex(24)
        config = write_config(logs, "ui", mock_port(mock), master, None)
        proc, port = start("proxy", config, args.proxy_core, logs, 1)
        stack.callback(proc.stop)
        key = make_key(port, master, 1)
        sc = Scenario(
            "plain", f"non-streaming, {args.connections} conn", False, False, args.connections
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        runs: dict[str, list[Run]] = {"without UI": [], "UI polling": []}
        polls: list[float] = []
        for round_no in range(repeat):
            order = ["without UI", "UI polling"]
            if round_no % 2:
                order.reverse()
            for name in order:
                poller = Poller(port, master) if name == "UI polling" else None
                run = run_wrk(url, sc, duration, args.load_core, key, "m", proc, [mock])
                if poller is not None:
                    polls.extend(poller.stop())
                if run.errors:
                    raise RuntimeError(f"{name}: {run.errors} errors")
                runs[name].append(run)
                log(f"  {name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
                time.sleep(0.5)
        report(runs, polls, args, duration, repeat)
    return 0


class Poller:
    """A browser's session asking for the overview every second, in a thread."""

    def __init__(self, port: int, master: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = urllib.parse.urlencode({"master_key": master}).encode()
        self.opener.open(self.base + "/ui/login", data=form, timeout=10).read()
        self.latencies: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.is_set():
            t0 = time.perf_counter()
            with self.opener.open(self.base + "/ui/api/overview?range=24h", timeout=30) as r:
                data: dict[str, Any] = json.loads(r.read())
            assert "series" in data
            self.latencies.append(time.perf_counter() - t0)
            self.done.wait(max(0.0, 1.0 - (time.perf_counter() - t0)))

    def stop(self) -> list[float]:
        self.done.set()
        self.thread.join(60)
        return self.latencies


def report(
    runs: dict[str, list[Run]],
    polls: list[float],
    args: argparse.Namespace,
    duration: float,
    repeat: int,
) -> None:
    print(
        f"\nvirtual key, non-streaming, {args.connections} connections, {duration:g} s x "
        f"{repeat} rounds, proxy on core {args.proxy_core}, wrk + mock + poller on core "
        f"{args.load_core}\n"
    )
    print("| run | req/s (median) | CPU µs/req (median) | p99 ms (median) |")
    print("|---|---:|---:|---:|")
    for name, rs in runs.items():
        rps = statistics.median(r.rps for r in rs)
        cpu = statistics.median(r.cpu_us or 0.0 for r in rs)
        p99 = statistics.median(r.p99_ms for r in rs)
        print(f"| {name} | {rps:,.0f} | {cpu:.1f} | {p99:.1f} |")
    ratios = [a.rps / b.rps for a, b in zip(runs["UI polling"], runs["without UI"], strict=True)]
    listed = ", ".join(f"{v:.3f}" for v in ratios)
    median = statistics.median(ratios)
    print(f"\nwith UI / without, per round: median {median:.3f} (all: {listed}); bar ≥ 0.95")
    if polls:
        polls.sort()
        print(
            f"overview polls: {len(polls)}, median {1000 * statistics.median(polls):.0f} ms, "
            f"slowest {1000 * polls[-1]:.0f} ms"
        )


if __name__ == "__main__":
    sys.exit(main())
