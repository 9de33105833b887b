"""Master key against a virtual key with everything on, on one proxy, side by side.

The virtual key has a budget, rpm/tpm limits and a parallel limit (all far above the load,
so every check runs and none refuses), belongs to a team with its own budget and limits,
and every request writes a spend row to the journal and the SQLite store. The two keys
take turns on the same proxy process (``--repeat`` rounds, median kept), so machine noise
hits both alike::

    .venv/bin/python bench/vkey_bench.py                 # 10 s per run, 3 rounds
    .venv/bin/python bench/vkey_bench.py --quick         # 3 s per run

The bar (issue 5): virtual-key throughput within 15 % of the master key's, single core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_procs import Proc, free_port, log, wait_ready
from bench_report import Run, Scenario
from bench_wrk import run_wrk
from proxy_bench import mock_port, proxy_config, start_mock, start_proxy


def admin(port: int, master: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {master}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def make_virtual_key(port: int, master: str) -> str:
    limits = {"max_budget": 1e9, "rpm_limit": 10**8, "tpm_limit": 10**11}
    team = admin(port, master, "/team/new", {"team_alias": "bench", **limits})
    key = admin(
        port,
        master,
        "/key/generate",
        {**limits, "max_parallel_requests": 10**6, "team_id": team["team_id"]},
    )
    return str(key["key"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="3 s per run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    p.add_argument("--profile", action="store_true", help="py-spy the virtual-key runs")
    p.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    p.add_argument("--no-spend-logs", action="store_true", help="disable_spend_logs: true")
    args = p.parse_args()
    duration = 3.0 if args.quick else args.duration
    with (
        tempfile.TemporaryDirectory(prefix="tokenway-vkey-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        logs = Path(tmp)
        mock = start_mock("mock", args.load_core, 20, 0, logs)
        stack.callback(mock.stop)
        master = "sk-bench-" + secrets.token_hex(24)
        config = proxy_config("tokenway", _Mocks(mock_port(mock)), master)
        database_url = args.database_url or f"sqlite:///{logs / 'tokenway.db'}"
        config["general_settings"]["database_url"] = database_url
        config["general_settings"]["spend_journal_dir"] = str(logs / "journal")
        config["general_settings"]["disable_spend_logs"] = args.no_spend_logs
        path = logs / "config.yaml"
        path.write_text(json.dumps(config))
        port = free_port()
        proxy = start_proxy("tokenway", path, port, args.proxy_core, logs)
        stack.callback(proxy.stop)
        wait_ready(proxy, port, "/health/readiness", 20.0)
        virtual = make_virtual_key(port, master)
        runs = compare(
            args, duration, port, proxy, mock, {"master key": master, "virtual key": virtual}
        )
        report(runs, args, duration)
    return 0


class _Mocks:
    def __init__(self, port: int) -> None:
        self.burst_port = port
        self.paced_port = None


def compare(
    args: argparse.Namespace,
    duration: float,
    port: int,
    proxy: Proc,
    mock: Proc,
    keys: dict[str, str],
) -> dict[str, list[Run]]:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    sc = Scenario(
        "plain", f"non-streaming, {args.connections} conn", False, False, args.connections
    )
    runs: dict[str, list[Run]] = {name: [] for name in keys}
    for _ in range(args.repeat):
        for name, key in keys.items():
            spy = start_spy(proxy, duration) if args.profile else None
            run = run_wrk(url, sc, duration, args.load_core, key, "m", proxy, [mock])
            if spy is not None:
                summarize_spy(spy)
            if run.errors:
                raise RuntimeError(f"{name}: {run.errors} errors")
            runs[name].append(run)
            log(f"  {name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
            time.sleep(0.5)
    return runs


def start_spy(proxy: Proc, duration: float) -> tuple[subprocess.Popen[bytes], Path]:
    out = Path(tempfile.mkdtemp()) / "stacks.txt"
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    argv = [spy, "record", "-p", str(proxy.pid), "-d", str(max(1, int(duration) - 1))]
    argv += ["-r", "500", "--nonblocking", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def summarize_spy(spy: tuple[subprocess.Popen[bytes], Path], top: int = 120) -> None:
    """Inclusive share of samples per function (each counted once per stack)."""
    proc, out = spy
    proc.wait(60)
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for frame in {f.split(" (")[0] for f in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + n
    print(f"\npy-spy: {total} samples; inclusive share by function")
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f} %  {frame}")


def report(runs: dict[str, list[Run]], args: argparse.Namespace, duration: float) -> None:
    print(
        f"\nnon-streaming, {args.connections} connections, {duration:g} s x {args.repeat} rounds, "
        f"proxy on core {args.proxy_core}, load + mock on core {args.load_core}\n"
    )
    print("| key | req/s (median) | CPU µs/req (median) | one-core capacity |")
    print("|---|---:|---:|---:|")
    medians = {}
    for name, rs in runs.items():
        rps = statistics.median(r.rps for r in rs)
        cpu = statistics.median(r.cpu_us or 0.0 for r in rs)
        medians[name] = (rps, cpu)
        print(f"| {name} | {rps:,.0f} | {cpu:.1f} | {1e6 / cpu:,.0f}/s |")
    (m_rps, m_cpu), (v_rps, v_cpu) = medians["master key"], medians["virtual key"]
    print(f"\nvirtual / master: throughput {v_rps / m_rps:.3f}, capacity {m_cpu / v_cpu:.3f}")


if __name__ == "__main__":
    sys.exit(main())
