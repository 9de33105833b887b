"""The proxy benchmark: tokenway's proxy (and LiteLLM's, side by side) in front of a cheap mock.

One command starts the mock upstreams and the load generator (wrk) on one core and the proxy
under test alone on another, measures its ready time (spawn until /health/readiness answers
200) and idle memory (VmRSS after warm-up), runs wrk non-streaming at 1 and 64 connections
and streaming (20 chunks), the same loads straight at the mock as a baseline, reads the
proxy's CPU time per request from /proc, and prints Markdown tables next to the bars of the
performance issue::

    .venv/bin/python bench/proxy_bench.py                        # tokenway, 10 s per run
    .venv/bin/python bench/proxy_bench.py --target both          # + LiteLLM, and ratios
    .venv/bin/python bench/proxy_bench.py --quick                # 3 s per run
    .venv/bin/python bench/proxy_bench.py --repeat 3 --wait-quiet 20   # on a shared machine
    .venv/bin/python bench/proxy_bench.py --profile-dir DIR      # + py-spy (and perf) profiles
    .venv/bin/python bench/proxy_bench.py --deployments 4        # a group of 4 behind each alias

Two streaming loads are run: "burst" (the mock writes a whole stream at once, so the proxy
reads few pieces) and "paced" (one frame every ``--paced-interval-ms``, so every frame
reaches the proxy on its own and is relayed on its own, which is how real tokens arrive).

Besides requests/s, every run reports the proxy's CPU µs per request and the "one-core
capacity" 1e6 / that, which holds up when other processes share the machine (the load
they add is reported too, as "other machine load"). The one-connection load is also run
against a mock on the proxy's core, which shows what crossing cores costs on this machine.

LiteLLM is run from ``bench/.venv-litellm`` (``litellm[proxy]``), with outgoing HTTP(S)
proxies pointed at a closed local port so nothing it tries can leave the machine. Every
process started here is stopped on exit, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench_procs import (
    LITELLM_BIN,
    MOCK,
    UPSTREAM_MODEL,
    Proc,
    check_answers,
    free_port,
    log,
    pinned,
    rss_mb,
    wait_quiet,
    wait_ready,
)
from bench_profile import profile
from bench_report import CROSS_CORE, Mocks, Run, Scenario, TargetResult, report, scenarios, to_json
from bench_wrk import run_wrk, shown

# --- the targets ----------------------------------------------------------------------


def start_mock(name: str, core: str, chunks: int, interval_ms: float, logs: Path) -> Proc:
    argv = pinned(
        core,
        [sys.executable, str(MOCK), "--port", "0", "--chunks", str(chunks)]
        + (["--chunk-interval-ms", str(interval_ms)] if interval_ms > 0 else []),
    )
    return Proc(name, argv, logs / f"{name}.log", dict(os.environ))


def mock_port(proc: Proc, limit: float = 15.0) -> int:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        match = re.search(r"LISTENING (\d+)", proc.tail())
        if match:
            return int(match.group(1))
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        time.sleep(0.01)
    raise RuntimeError(f"{proc.name} did not start:\n{proc.tail()}")


def proxy_config(
    target: str, mocks: Mocks, master_key: str, deployments: int = 1
) -> dict[str, Any]:
    """Each alias is a group of ``deployments`` deployments (all at its mock, own ids)."""
    prefix = "openai_compatible" if target == "tokenway" else "openai"
    bases = [("m", mocks.burst_port)]
    if mocks.paced_port is not None:
        bases.append(("m-paced", mocks.paced_port))
    return {
        "model_list": [
            {
                "model_name": alias,
                "litellm_params": {
                    "model": f"{prefix}/{UPSTREAM_MODEL}",
                    "api_base": f"http://127.0.0.1:{port}/v1",
                    "api_key": "x",
                },
                "model_info": {"id": f"{alias}-{i}"},
            }
            for alias, port in bases
            for i in range(deployments)
        ],
        "general_settings": {"master_key": master_key},
    }


def tokenway_argv() -> list[str]:
    script = Path(sys.executable).parent / "tokenway"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tokenway.cli import main; raise SystemExit(main())"]


def start_proxy(target: str, config: Path, port: int, core: str, logs: Path) -> Proc:
    env = dict(os.environ)
    if target == "tokenway":
        argv = [*tokenway_argv(), "--config", str(config), "--host", "127.0.0.1"]
        argv += ["--port", str(port)]
    else:
        argv = [str(LITELLM_BIN), "--config", str(config), "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--telemetry", "False"]
        env.update(
            HF_HUB_OFFLINE="1",
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            # Nothing LiteLLM tries to reach beyond this machine may leave it.
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            http_proxy="http://127.0.0.1:9",
            https_proxy="http://127.0.0.1:9",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            LITELLM_TELEMETRY="False",
            DISABLE_SCHEMA_UPDATE="True",
        )
    return Proc(target, pinned(core, argv), logs / f"{target}.log", env)


def repeated(args: argparse.Namespace, measure: Any) -> Run:
    """Run ``measure()`` ``--repeat`` times; keep the run with the median rate."""

    def one() -> Run:
        wait_quiet(args.wait_quiet)
        return measure()

    runs = sorted((one() for _ in range(args.repeat)), key=lambda r: r.rps)
    kept = runs[(len(runs) - 1) // 2]
    kept.rps_all = [r.rps for r in runs]
    return kept


def run_direct(args: argparse.Namespace, mocks: Mocks, logs: Path) -> TargetResult:
    result = TargetResult("direct (mock)", "", 0.0, [], 0.0)
    for sc in scenarios(args):
        proc, port = (
            (mocks.paced, mocks.paced_port) if sc.paced else (mocks.burst, mocks.burst_port)
        )
        assert proc is not None
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        others = [p for p in mocks.all() if p is not proc]
        run = repeated(
            args,
            lambda sc=sc, url=url, proc=proc, others=others: run_wrk(
                url, sc, args.duration, args.load_core, "x", UPSTREAM_MODEL, proc, others
            ),
        )
        result.runs[sc.key] = run
        log(f"  direct {sc.label}: {run.rps:,.0f}/s p50 {run.p50_ms:.3f} ms")
    if 1 in args.connections:
        result.runs[CROSS_CORE] = direct_cross_core(args, logs)
    return result


def direct_cross_core(args: argparse.Namespace, logs: Path) -> Run:
    """One connection straight to a mock on the proxy's core: what crossing cores costs.

    The same-core baseline never leaves core 0; a proxied request crosses cores four times
    (wrk → proxy → mock → proxy → wrk), this one twice."""
    proc = start_mock("mock-cross-core", args.proxy_core, args.chunks, 0, logs)
    try:
        url = f"http://127.0.0.1:{mock_port(proc)}/v1/chat/completions"
        sc = Scenario(CROSS_CORE, "non-streaming, 1 conn, mock on the proxy core", False, False, 1)
        run = repeated(
            args,
            lambda: run_wrk(url, sc, args.duration, args.load_core, "x", UPSTREAM_MODEL, proc),
        )
    finally:
        proc.stop()
    log(f"  direct {sc.label}: {run.rps:,.0f}/s p50 {run.p50_ms:.3f} ms")
    return run


def start_ready(
    target: str, args: argparse.Namespace, config: Path, logs: Path
) -> tuple[Proc, int, float]:
    port = free_port()
    proc = start_proxy(target, config, port, args.proxy_core, logs)
    try:
        ready = wait_ready(proc, port, "/health/readiness", 20.0 if target == "tokenway" else 180.0)
    except BaseException:
        proc.stop()
        raise
    return proc, port, ready


def run_target(
    target: str, args: argparse.Namespace, mocks: Mocks, logs: Path, stack: contextlib.ExitStack
) -> TargetResult:
    master_key = "sk-bench-" + secrets.token_hex(24)
    config = logs / f"{target}-config.yaml"
    config.write_text(
        json.dumps(proxy_config(target, mocks, master_key, args.deployments), indent=2)
    )
    readies = []
    for _ in range(args.starts - 1):  # extra cold starts, for the ready time only
        proc, _, ready = start_ready(target, args, config, logs)
        proc.stop()
        readies.append(ready)
    proc, port, ready = start_ready(target, args, config, logs)
    stack.callback(proc.stop)
    readies.append(ready)
    log(f"  {target} ready in " + " / ".join(f"{r:.3f}" for r in readies) + " s")
    notes = check_answers(port, master_key, "m", args.chunks)
    if mocks.paced_port is not None:
        notes += check_answers(port, master_key, "m-paced", args.chunks)
    time.sleep(1.0)
    command = shown(proc.argv, {}).replace(shlex.quote(str(config)), "CONFIG.yaml")
    command = re.sub(r"--port \d+", "--port PORT", command)
    result = TargetResult(
        target, command, statistics.median(readies), readies, rss_mb(proc.pid), notes=notes
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    for sc in scenarios(args, target):
        model = "m-paced" if sc.paced else "m"
        run = repeated(
            args,
            lambda sc=sc, model=model: run_wrk(
                url, sc, args.duration, args.load_core, master_key, model, proc, mocks.all()
            ),
        )
        result.runs[sc.key] = run
        log(
            f"  {target} {sc.label}: {run.rps:,.0f}/s p50 {run.p50_ms:.3f} ms "
            f"cpu {run.cpu_us or 0:,.0f} µs/req, proxy {run.proxy_util or 0:.2f} core, "
            f"foreign {run.foreign:.2f} core ({run.cores})"
        )
        if not proc.alive():
            raise RuntimeError(f"{target} died under load:\n{proc.tail()}")
    if args.profile_dir and target == "tokenway":
        result.profiles = profile(args, proc, url, master_key)
    result.rss_peak_mb = rss_mb(proc.pid, "VmHWM")
    proc.stop()
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="tokenway proxy benchmark (see the module docstring)")
    p.add_argument("--target", choices=["tokenway", "litellm", "both"], default="tokenway")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    p.add_argument("--quick", action="store_true", help="3 s per run")
    p.add_argument("--connections", default="1,64", help="non-streaming connection counts")
    p.add_argument("--stream-connections", type=int, default=64)
    p.add_argument("--paced-connections", type=int, default=256)
    p.add_argument("--repeat", type=int, default=1, help="runs per load; the median is kept")
    p.add_argument("--starts", type=int, default=3, help="cold starts timed for the ready time")
    p.add_argument(
        "--paced-interval-ms", type=float, default=1.0, help="0 skips the paced streaming load"
    )
    p.add_argument("--chunks", type=int, default=20)
    p.add_argument(
        "--deployments", type=int, default=1, help="deployments behind each alias (a group)"
    )
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    p.add_argument("--no-direct", action="store_true", help="skip the direct-to-mock baseline")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other load to stop",
    )
    p.add_argument("--profile-dir", help="also record py-spy profiles of tokenway here")
    p.add_argument("--profile-rate", type=int, default=1000, help="py-spy samples per second")
    p.add_argument("--no-perf", dest="perf", action="store_false", help="profile with py-spy only")
    p.add_argument(
        "--litellm-paced-connections",
        type=int,
        default=32,
        help="connections for LiteLLM's paced streaming load (it needs seconds per stream)",
    )
    p.add_argument("--json", help="write all numbers to this JSON file")
    p.add_argument("--logs-dir", help="keep the configs and process logs here")
    p.add_argument("--markdown", help="write the report to this file too")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = 3.0
    args.connections = [int(c) for c in str(args.connections).split(",") if c.strip()]
    return args


def preflight(targets: list[str]) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"proxy_bench: needs {' and '.join(missing)} on PATH")
    if "litellm" in targets and not LITELLM_BIN.exists():
        raise SystemExit(
            "proxy_bench: LiteLLM is not installed; create it with\n"
            "  python -m venv bench/.venv-litellm && "
            "bench/.venv-litellm/bin/pip install 'litellm[proxy]==1.100.5'"
        )
    if (os.cpu_count() or 1) < 2:
        log("warning: fewer than 2 cores; the proxy and the load share a core")


@contextlib.contextmanager
def terminate_on_signal() -> Iterator[None]:
    def bail(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, bail)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    targets = ["tokenway", "litellm"] if args.target == "both" else [args.target]
    preflight(targets)
    cmd = shown([".venv/bin/python", "bench/proxy_bench.py", *sys.argv[1:]], {})
    with (
        terminate_on_signal(),
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp,
    ):
        logs = Path(args.logs_dir or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        burst = start_mock("mock-burst", args.load_core, args.chunks, 0, logs)
        stack.callback(burst.stop)
        paced = None
        if args.paced_interval_ms > 0:
            paced = start_mock(
                "mock-paced", args.load_core, args.chunks, args.paced_interval_ms, logs
            )
            stack.callback(paced.stop)
        mocks = Mocks(burst, mock_port(burst), paced, mock_port(paced) if paced else None)
        direct = TargetResult("direct (mock)", "", 0.0, [], 0.0)
        if not args.no_direct:
            log("direct to the mock:")
            direct = run_direct(args, mocks, logs)
        results = []
        for target in targets:
            log(f"{target}:")
            results.append(run_target(target, args, mocks, logs, stack))
        text = report(args, direct, results, cmd)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        data = {
            "command": cmd,
            "duration_s": args.duration,
            "direct": to_json(direct),
            "targets": [to_json(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
