"""Master key against virtual keys with everything on, on one proxy, side by side.

Three keys take turns on the same proxy process (``--repeat`` rounds, median kept, so
machine noise hits all alike): the master key; a virtual key with a budget, rpm/tpm limits
and a parallel limit (all far above the load, so every check runs and none refuses); and
such a key in a team with its own budget and rpm/tpm limits (every check runs twice).
The model is priced (Mistral Nemo 12B's rates), so estimates, reservations and settled
costs are real numbers. Every request writes a spend row to the journal and the store
(SQLite in a temporary directory, or ``--database-url``)::

    .venv/bin/python bench/vkey_bench.py                 # 10 s per run, 3 rounds
    .venv/bin/python bench/vkey_bench.py --quick         # 3 s per run
    .venv/bin/python bench/vkey_bench.py --no-spend-logs # the same without spend rows
    .venv/bin/python bench/vkey_bench.py --profile       # + a py-spy profile per key

The bar (issue 5): virtual-key single-core throughput within 15 % of the proxy issue's
master-key figure (16,707 req/s, bench/RESULTS.md "Proxy").
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


PROXY_ISSUE_RPS = 16_707  # master key, 64 connections (bench/RESULTS.md, "Proxy")
LIMITS = {"max_budget": 1e9, "rpm_limit": 10**8, "tpm_limit": 10**11}
PRICE = {"input_cost_per_token": 4e-8, "output_cost_per_token": 1e-7}  # Mistral Nemo 12B's


def make_virtual_key(port: int, master: str, *, team: bool) -> str:
    """A key with a budget, rpm/tpm and parallel limits; with ``team``, in a team that has
    its own budget and rpm/tpm limits too (every check runs twice)."""
    fields: dict[str, Any] = {**LIMITS, "max_parallel_requests": 10**6}
    if team:
        created = admin(port, master, "/team/new", {"team_alias": "bench", **LIMITS})
        fields["team_id"] = created["team_id"]
    return str(admin(port, master, "/key/generate", fields)["key"])


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
    p.add_argument(
        "--more-keys", action="store_true", help="+ a key without limits, one with a budget only"
    )
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
        for entry in config["model_list"]:  # priced, so budgets and spend move
            entry["litellm_params"].update(PRICE)
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
        keys = {
            "master key": master,
            "virtual key": make_virtual_key(port, master, team=False),
            "virtual key in a team": make_virtual_key(port, master, team=True),
        }
        if args.more_keys:  # where a virtual key's cost goes
            keys["bare key"] = str(admin(port, master, "/key/generate", {})["key"])
            budget = {"max_budget": LIMITS["max_budget"]}
            keys["budget-only key"] = str(admin(port, master, "/key/generate", budget)["key"])
        runs = compare(args, duration, port, proxy, mock, keys)
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
    order = list(keys.items())
    for _ in range(args.repeat):
        for name, key in order:
            spy = start_spy(proxy, duration) if args.profile else None  # one per key
            run = run_wrk(url, sc, duration, args.load_core, key, "m", proxy, [mock])
            if spy is not None:
                summarize_spy(spy)
            if run.errors:
                raise RuntimeError(f"{name}: {run.errors} errors")
            runs[name].append(run)
            log(f"  {name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
            time.sleep(0.5)
        order = order[1:] + order[:1]  # no key always first: the machine's speed drifts
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
    m_rps, m_cpu = medians["master key"]
    for name, (rps, cpu) in medians.items():
        if name != "master key":
            # each round's key against the master key of the same round: the machine's
            # speed drifts between rounds, far less within one
            ratios = [r.rps / m.rps for r, m in zip(runs[name], runs["master key"], strict=True)]
            print(
                f"{name} / master key: throughput {rps / m_rps:.3f} (per round, median "
                f"{statistics.median(ratios):.3f}, middle half {_middle_half(ratios)}), "
                f"capacity {m_cpu / cpu:.3f}; / the proxy issue's {PROXY_ISSUE_RPS:,} req/s: "
                f"{rps / PROXY_ISSUE_RPS:.3f}"
            )


def _middle_half(values: list[float]) -> str:
    """The interquartile range, e.g. "0.84-0.88" (the whole range below four values)."""
    if len(values) < 4:
        return f"{min(values):.3f}-{max(values):.3f}"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.3f}-{high:.3f}"


if __name__ == "__main__":
    sys.exit(main())
