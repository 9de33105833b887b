"""The request log, metrics and traces on against off, side by side: one tree, three proxies.

The proxies run at once, pinned to the same core, and are loaded one at a time with the
same wrk load (master key, then a virtual key with every check on), the order rotated each
round so the machine's drift hits all alike. "off" runs at ``--log-level warning`` (no
request lines) without callbacks; "on" at ``--log-level info`` (a request line each,
written to its log file) with ``callbacks: ["prometheus"]``, and a scraper reads its
``/metrics`` every second, as Prometheus would; "traces" is "on" plus ``otel``, exporting
to an OTLP/HTTP receiver (a child process on the load core). The ratios reported are the
medians of the per-round ratios to "off"::

    .venv/bin/python bench/obs_bench.py --repeat 8 --duration 5

Every request writes a spend row (SQLite in a temporary directory per proxy).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_procs import Proc, free_port, log, pinned, wait_ready
from bench_report import Run, Scenario
from bench_wrk import run_wrk
from obs_inproc import RECEIVER
from proxy_bench import mock_port, proxy_config, start_mock, tokenway_argv
from vkey_bench import PRICE, make_virtual_key

SETUPS = {
    "off": ("warning", []),
    "on": ("info", ["prometheus"]),
    "traces": ("info", ["prometheus", "otel"]),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=8)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="tokenway-obs-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        logs = Path(tmp)
        mock = start_mock("mock", args.load_core, 20, 0, logs)
        stack.callback(mock.stop)
        upstream = mock_port(mock)
        receiver = subprocess.Popen(
            pinned(args.load_core, [sys.executable, "-c", RECEIVER]),
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(receiver.wait, 5)
        stack.callback(receiver.terminate)
        assert receiver.stdout is not None
        collector = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
        targets = {}
        for name in SETUPS:
            env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": collector}
            proc, port, keys = _start(name, upstream, args.proxy_core, logs / name, env)
            stack.callback(proc.stop)
            targets[name] = (proc, port, keys)
        stop = threading.Event()
        for scraped in ("on", "traces"):
            _, port, keys = targets[scraped]
            scraper = threading.Thread(target=_scrape, args=(port, keys["master key"], stop))
            scraper.start()
            stack.callback(scraper.join)
        stack.callback(stop.set)
        runs = _rounds(args, targets, mock)
        _report(args, runs)
        for name in ("on", "traces"):
            lines = sum(1 for _ in (logs / name / "tokenway.log").open(errors="replace"))
            print(f"'{name}' wrote {lines:,} log lines")
    return 0


def _scrape(port: int, key: str, stop: threading.Event) -> None:
    """Read /metrics every second, as a Prometheus server would."""
    while not stop.wait(1.0):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with contextlib.suppress(OSError):
            conn.request("GET", "/metrics", headers={"authorization": f"Bearer {key}"})
            conn.getresponse().read()
        conn.close()


def _start(
    name: str, upstream: int, core: str, logs: Path, env: dict[str, str]
) -> tuple[Proc, int, dict[str, str]]:
    logs.mkdir()
    level, callbacks = SETUPS[name]
    master = "sk-bench-" + secrets.token_hex(24)
    config = proxy_config("tokenway", _Mocks(upstream), master)
    for entry in config["model_list"]:
        entry["litellm_params"].update(PRICE)
    config["general_settings"]["database_url"] = f"sqlite:///{logs / 'tokenway.db'}"
    config["general_settings"]["spend_journal_dir"] = str(logs / "journal")
    config["litellm_settings"] = {"callbacks": callbacks}
    path = logs / "config.yaml"
    path.write_text(json.dumps(config))
    port = free_port()
    argv = [*tokenway_argv(), "--config", str(path), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--log-level", level]
    proc = Proc("tokenway", pinned(core, argv), logs / "tokenway.log", env)
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
            for name in order:
                proc, port, keys = targets[name]
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                run = run_wrk(
                    url, sc, args.duration, args.load_core, keys[key_name], "m", proc, [mock]
                )
                if run.errors:
                    raise RuntimeError(f"{name} {key_name}: {run.errors} errors")
                runs.setdefault((name, key_name), []).append(run)
                log(f"  {name} {key_name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
                time.sleep(0.5)
            order = [*order[1:], order[0]]
    return runs


def _report(args: argparse.Namespace, runs: Runs) -> None:
    print(
        f"\nnon-streaming, {args.connections} connections, {args.duration:g} s x "
        f"{args.repeat} rounds, proxies on core {args.proxy_core}, load on {args.load_core}\n"
    )
    print("| key | setup | req/s | CPU µs/req | ratio to off per round: median (middle half) |")
    print("|---|---|---:|---:|---|")
    for key_name in ("master key", "virtual key"):
        off = runs[("off", key_name)]
        for name in SETUPS:
            these = runs[(name, key_name)]
            ratios = [n.rps / o.rps for n, o in zip(these, off, strict=True)]
            low, _, high = (
                statistics.quantiles(ratios, n=4)
                if len(ratios) >= 4
                else (min(ratios), 0, max(ratios))
            )
            print(
                f"| {key_name} | {name} | {statistics.median(r.rps for r in these):,.0f} | "
                f"{statistics.median(r.cpu_us or 0.0 for r in these):.1f} | "
                f"{statistics.median(ratios):.3f} ({low:.3f}-{high:.3f}) |"
            )


if __name__ == "__main__":
    sys.exit(main())
