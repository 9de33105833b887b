"""Running wrk against a target and reading its results."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Sequence

from bench_procs import (
    CLK_TCK,
    HERE,
    LUA,
    ROOT,
    Proc,
    busy_share,
    children_cpu,
    core_busy,
    cpu_seconds,
    cpu_split,
    pinned,
)
from bench_report import Run, Scenario


def wrk_command(
    url: str, scenario: Scenario, duration: float, core: str, key: str, model: str
) -> tuple[list[str], dict[str, str]]:
    argv = pinned(
        core,
        [
            "wrk",
            "-t1",
            f"-c{scenario.connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(LUA),
            url,
        ],
    )
    env = {"BENCH_KEY": key, "BENCH_MODEL": model, "BENCH_STREAM": "1" if scenario.stream else "0"}
    return argv, env


def shown(argv: Sequence[str], env: dict[str, str]) -> str:
    """A command line as a reader would type it from the project root (no machine paths)."""

    def rel(arg: str) -> str:
        for base, name in ((HERE, "bench"), (ROOT, ".")):
            if arg.startswith(str(base) + os.sep):
                return name + arg[len(str(base)) :]
        return arg

    words = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    return " ".join([*words, *(shlex.quote(rel(a)) for a in argv)])


def run_wrk(
    url: str,
    scenario: Scenario,
    duration: float,
    core: str,
    key: str,
    model: str,
    measured: Proc | None,
    others: Sequence[Proc] = (),
) -> Run:
    argv, extra = wrk_command(url, scenario, duration, core, key, model)
    env = {**os.environ, **extra}
    split0 = cpu_split(measured.pid) if measured else (0.0, 0.0)
    others0 = sum(cpu_seconds(p.pid) for p in others)
    children0 = children_cpu()
    busy0 = core_busy()
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 90)
    wall = time.perf_counter() - t0
    busy1 = core_busy()
    split1 = cpu_split(measured.pid) if measured else (0.0, 0.0)
    cpu = sum(split1) - sum(split0) if measured else None
    kernel = (split1[1] - split0[1]) / cpu if cpu else None
    own = (cpu or 0.0) + sum(cpu_seconds(p.pid) for p in others) - others0
    own += children_cpu() - children0  # wrk (and taskset)
    all_busy = sum(b for b, _ in busy1.values()) - sum(b for b, _ in busy0.values())
    foreign = max(0.0, all_busy / CLK_TCK - own) / wall
    match = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(match.group(1))
    requests = raw["requests"]
    errors = sum(v for k, v in raw.items() if k.startswith("err_"))
    seconds = raw["duration_us"] / 1e6
    return Run(
        scenario=scenario,
        rps=requests / seconds,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=requests,
        errors=errors,
        cpu_us=cpu / requests * 1e6 if cpu is not None and requests else None,
        proxy_util=cpu / wall if cpu is not None else None,
        cores=busy_share(busy0, busy1),
        foreign=foreign,
        kernel_share=kernel,
        command=shown(argv, extra),
        raw=raw,
    )
