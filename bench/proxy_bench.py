"""The proxy benchmark: tokenway's proxy (and LiteLLM's, side by side) in front of a cheap mock.

One command starts the mock upstreams and the load generator (wrk) on one core and the proxy
under test alone on another, measures its ready time and idle memory, runs wrk non-streaming
at 1 and 64 connections and streaming (20 chunks), the same loads straight at the mock as a
baseline, reads the proxy's CPU time per request from /proc, and prints the results as
Markdown tables next to the bars of the performance issue::

    .venv/bin/python bench/proxy_bench.py                        # tokenway, 10 s per run
    .venv/bin/python bench/proxy_bench.py --target both          # + LiteLLM, ratios
    .venv/bin/python bench/proxy_bench.py --quick                # 3 s per run
    .venv/bin/python bench/proxy_bench.py --profile-dir /tmp/p   # + py-spy profiles

Two streaming loads are run: "burst" (the mock writes a whole stream at once, so the proxy
reads few pieces) and "paced" (one frame every ``--paced-interval-ms``, so every frame
reaches the proxy on its own and is relayed on its own, which is how real tokens arrive).

LiteLLM is run from ``bench/.venv-litellm`` (``litellm[proxy]``), with outgoing HTTP(S)
proxies pointed at a closed local port so nothing it tries can leave the machine. Every
process started here is stopped on exit, on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "wrk_chat.lua"
LITELLM_BIN = HERE / ".venv-litellm" / "bin" / "litellm"
MOCK = HERE / "mock_upstream.py"
UPSTREAM_MODEL = "bench-upstream-model"
CLK_TCK = os.sysconf("SC_CLK_TCK")

BARS = {
    "rps": 4000.0,  # non-streaming requests/s on one core
    "cpu_us": 250.0,  # CPU µs per non-streaming request
    "added_p50_ms": 0.4,  # proxy p50 - direct p50 at one connection
    "streams": 2000.0,  # streams/s on one core
    "rss_mb": 80.0,
    "ready_s": 1.0,
}
LITELLM_REFERENCE = {"rps": 130.0, "streams": 44.0}


# --- processes ------------------------------------------------------------------------


class Proc:
    """A started process (in its own session) with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self._out = log.open("wb")
        self.spawned = time.perf_counter()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: str, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every live descendant, in seconds."""
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total / 1024


def core_busy() -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if re.match(r"cpu\d+ ", line):
                name, *vals = line.split()
                nums = [int(v) for v in vals]
                idle = nums[3] + nums[4]
                out[name] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


def busy_share(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    parts = []
    for name in sorted(after):
        busy = after[name][0] - before.get(name, (0, 0))[0]
        total = after[name][1] - before.get(name, (0, 0))[1]
        parts.append(f"{name} {100 * busy / total:.0f}%" if total else f"{name} ?")
    return ", ".join(parts)


# --- HTTP checks ----------------------------------------------------------------------


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            line = s.recv(64).split(b"\r\n", 1)[0].split()
            return int(line[1]) if len(line) > 1 else None
    except (OSError, ValueError):
        return None


def wait_ready(proc: Proc, port: int, path: str, limit: float) -> float:
    """Seconds from spawn until ``path`` answers 200."""
    deadline = proc.spawned + limit
    while time.perf_counter() < deadline:
        if http_status(port, path) == 200:
            return time.perf_counter() - proc.spawned
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        time.sleep(0.002)
    raise RuntimeError(f"{proc.name} not ready after {limit:.0f} s:\n{proc.tail()}")


def chat_body(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What does a load balancer do?"},
        ],
        "max_tokens": 128,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def post_chat(port: int, key: str, model: str, stream: bool) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=chat_body(model, stream),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_answers(port: int, key: str, model: str, chunks: int) -> list[str]:
    """Warm up with one plain and one streamed call; return what looked wrong (if anything)."""
    notes = []
    status, raw = post_chat(port, key, model, stream=False)
    if status != 200:
        raise RuntimeError(f"non-streaming warm-up answered {status}: {raw[:300]!r}")
    data = json.loads(raw)
    if not data.get("choices") or not data.get("usage"):
        notes.append(f"non-streaming answer lacks choices/usage: {raw[:200]!r}")
    if data.get("model") != model:
        notes.append(f"non-streaming answer names model {data.get('model')!r}, not {model!r}")
    status, raw = post_chat(port, key, model, stream=True)
    if status != 200:
        raise RuntimeError(f"streaming warm-up answered {status}: {raw[:300]!r}")
    frames = [f[6:] for f in raw.split(b"\n\n") if f.startswith(b"data: ")]
    if not frames or frames[-1] != b"[DONE]":
        raise RuntimeError(f"stream did not end with [DONE]: {raw[-300:]!r}")
    parsed = [json.loads(f) for f in frames[:-1]]
    content = sum(
        1 for c in parsed for ch in c.get("choices") or [] if (ch.get("delta") or {}).get("content")
    )
    if content != chunks:
        notes.append(f"stream carried {content} content chunks, the mock sent {chunks}")
    if not any(c.get("usage") for c in parsed):
        notes.append("stream carried no usage chunk although include_usage was asked for")
    return notes


# --- wrk ------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    stream: bool
    paced: bool
    connections: int


@dataclass
class Run:
    scenario: Scenario
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float | None = None  # of the proxy (or of the mock, for the direct runs)
    proxy_util: float | None = None  # CPU seconds per wall second of the measured process
    cores: str = ""
    foreign: float = 0.0  # cores' worth of CPU used by processes this benchmark did not start
    rps_all: list[float] = field(default_factory=list)
    command: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


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
    cpu0 = cpu_seconds(measured.pid) if measured else 0.0
    others0 = sum(cpu_seconds(p.pid) for p in others)
    children0 = children_cpu()
    busy0 = core_busy()
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 90)
    wall = time.perf_counter() - t0
    busy1 = core_busy()
    cpu = cpu_seconds(measured.pid) - cpu0 if measured else None
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
        command=shown(argv, extra),
        raw=raw,
    )


# --- the targets ----------------------------------------------------------------------


@dataclass
class Mocks:
    burst: Proc
    burst_port: int
    paced: Proc | None
    paced_port: int | None

    def all(self) -> list[Proc]:
        return [self.burst] + ([self.paced] if self.paced else [])


@dataclass
class TargetResult:
    name: str
    command: str
    ready_s: float  # the median of readies
    readies: list[float]
    rss_idle_mb: float
    rss_peak_mb: float = 0.0
    notes: list[str] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


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


def proxy_config(target: str, mocks: Mocks, master_key: str) -> dict[str, Any]:
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
            }
            for alias, port in bases
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


def scenarios(args: argparse.Namespace, target: str = "tokenway") -> list[Scenario]:
    paced = args.litellm_paced_connections if target == "litellm" else args.paced_connections
    out = [
        Scenario(f"plain_c{c}", f"non-streaming, {c} conn", False, False, c)
        for c in args.connections
    ]
    out.append(
        Scenario(
            "stream_burst",
            f"streaming {args.chunks} chunks, burst, {args.stream_connections} conn",
            True,
            False,
            args.stream_connections,
        )
    )
    if args.paced_interval_ms > 0:
        out.append(
            Scenario(
                "stream_paced",
                f"streaming {args.chunks} chunks, 1 frame/{args.paced_interval_ms:g} ms, "
                f"{paced} conn",
                True,
                True,
                paced,
            )
        )
    return out


def repeated(args: argparse.Namespace, measure: Any) -> Run:
    """Run ``measure()`` ``--repeat`` times; keep the run with the median rate."""
    runs = sorted((measure() for _ in range(args.repeat)), key=lambda r: r.rps)
    kept = runs[(len(runs) - 1) // 2]
    kept.rps_all = [r.rps for r in runs]
    return kept


def run_direct(args: argparse.Namespace, mocks: Mocks) -> TargetResult:
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
    return result


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
    config.write_text(json.dumps(proxy_config(target, mocks, master_key), indent=2))
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


# --- profiling ------------------------------------------------------------------------


def profile(args: argparse.Namespace, proc: Proc, url: str, key: str) -> dict[str, str]:
    """py-spy (sampling, on the load core) while wrk drives each load; summaries by name."""
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not pyspy:
        log("  py-spy not found: pip install py-spy (skipping the profile)")
        return {}
    out_dir = Path(args.profile_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for sc in scenarios(args):
        if sc.key not in ("plain_c64", "stream_burst", "stream_paced"):
            continue
        raw = out_dir / f"tokenway-{sc.key}.txt"
        seconds = max(5, round(args.duration))
        spy = subprocess.Popen(
            pinned(
                args.load_core,
                [
                    *(pyspy, "record", "--pid", str(proc.pid), "--rate", str(args.profile_rate)),
                    *("--format", "raw", "--duration", str(seconds + 1)),
                    *("-o", str(raw)),
                ],
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.3)
            model = "m-paced" if sc.paced else "m"
            run_wrk(url, sc, seconds, args.load_core, key, model, None)
            spy.wait(seconds + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if raw.exists():
            summaries[sc.key] = summarize_profile(raw)
            (out_dir / f"tokenway-{sc.key}-summary.md").write_text(summaries[sc.key])
            log(f"  profile {sc.key}: {raw}")
    return summaries


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short_path(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3."):
        at = path.rfind(marker)
        if at >= 0:
            rest = path[at + len(marker) :]
            return ("stdlib/" + rest.split("/", 1)[-1]) if marker == "/lib/python3." else rest
    return path.rsplit("/", 1)[-1]


def summarize_profile(raw: Path, top: int = 20) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed-stack output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame.strip())
            names.append(f"{m['func']} ({short_path(m['file'])})" if m else frame.strip())
        if names:
            own[names[-1]] += n
        for name in set(names):
            incl[name] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples (idle excluded)", "", "| self % | function (file) |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in own.most_common(top)]
    # Frames on every stack (the entry point down to the event loop) say nothing.
    inner = [(name, n) for name, n in incl.most_common() if n < total * 0.98]
    lines += ["", "| inclusive % | function (file) |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in inner[:top]]
    return "\n".join(lines) + "\n"


# --- report ---------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt(value: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def report(
    args: argparse.Namespace, direct: TargetResult, results: list[TargetResult], cmd: str
) -> str:
    out = [f"Command: `{cmd}`", ""]
    out.append(
        f"Proxy pinned to core {args.proxy_core}; wrk and the mock upstream(s) on core "
        f"{args.load_core}; {args.duration:g} s per run; {args.chunks} content chunks per "
        "stream; master key on."
    )
    out.append("")
    for res in results:
        out += target_table(args, direct, res)
    tw = next((r for r in results if r.name == "tokenway"), None)
    ll = next((r for r in results if r.name == "litellm"), None)
    if tw and ll:
        out += ratio_table(tw, ll)
    out += ["", "wrk commands (proxy runs; the direct runs use the mock's port and model):", ""]
    for res in results:
        for run in res.runs.values():
            out.append(f"    {run.command}")
    return "\n".join(out) + "\n"


def target_table(args: argparse.Namespace, direct: TargetResult, res: TargetResult) -> list[str]:
    out = [f"### {res.name}", "", f"Started as `{res.command}`", ""]
    out.append("| load | metric | direct (mock) | proxy | bar | verdict |")
    out.append("|---|---|---|---|---|---|")
    is_tw = res.name == "tokenway"
    for key, run in res.runs.items():
        d = direct.runs.get(key)
        sc = run.scenario
        unit = "streams/s" if sc.stream else "req/s"
        per = "stream" if sc.stream else "request"
        bar_value = BARS["streams"] if sc.stream else BARS["rps"]
        has_bar = (sc.stream and not sc.paced) or (not sc.stream and sc.connections > 1)
        bar = f"≥ {bar_value:,.0f}" if has_bar else ""
        ok = run.rps >= bar_value if has_bar and is_tw else None
        spread = " / ".join(f"{r:,.0f}" for r in run.rps_all) if len(run.rps_all) > 1 else ""
        out.append(
            f"| {sc.label} | {unit} measured"
            + (f" (runs: {spread})" if spread else "")
            + f" | {fmt(d and d.rps)} | {run.rps:,.0f} | {bar} | {verdict(ok)} |"
        )
        if run.cpu_us:
            capacity = 1e6 / run.cpu_us
            ok = capacity >= bar_value if has_bar and is_tw else None
            out.append(
                f"| | one-core capacity, 1e6 / CPU µs per {per} | | {capacity:,.0f} | {bar} "
                f"| {verdict(ok)} |"
            )
        out.append(
            f"| | p50 / p99 latency (ms) | {fmt(d and d.p50_ms, '.3f')} / "
            f"{fmt(d and d.p99_ms, '.3f')} | {run.p50_ms:.3f} / {run.p99_ms:.3f} | | |"
        )
        if not sc.stream and sc.connections == 1 and d:
            added = run.p50_ms - d.p50_ms
            ok = added <= BARS["added_p50_ms"] if is_tw else None
            out.append(
                f"| | added p50 latency (ms) | | {added:.3f} | ≤ {BARS['added_p50_ms']} "
                f"| {verdict(ok)} |"
            )
        cpu_bar = "" if sc.stream or sc.connections == 1 else f"≤ {BARS['cpu_us']:.0f}"
        ok = run.cpu_us <= BARS["cpu_us"] if cpu_bar and is_tw and run.cpu_us is not None else None
        out.append(
            f"| | CPU µs per {per} (mock / proxy) | {fmt(d and d.cpu_us)} | {fmt(run.cpu_us)} "
            f"| {cpu_bar} | {verdict(ok)} |"
        )
        if sc.stream and run.cpu_us is not None:
            frames = args.chunks + 3  # + finish, usage, [DONE]
            out.append(
                f"| | CPU µs per stream / {frames} frames | | {run.cpu_us / frames:,.1f} | | |"
            )
        out.append(
            f"| | proxy busy / errors | | {fmt(run.proxy_util, '.2f')} core / {run.errors} | | |"
        )
        out.append(
            f"| | other machine load (not ours) | {fmt(d and d.foreign, '.2f')} core "
            f"| {run.foreign:.2f} core | | |"
        )
    rss_ok = res.rss_idle_mb <= BARS["rss_mb"] if is_tw else None
    ready_ok = res.ready_s <= BARS["ready_s"] if is_tw else None
    out.append(
        f"| idle | RSS after warm-up (MB) | | {res.rss_idle_mb:.1f} | ≤ {BARS['rss_mb']:.0f} "
        f"| {verdict(rss_ok)} |"
    )
    out.append(f"| after load | peak RSS (VmHWM, MB) | | {res.rss_peak_mb:.1f} | | |")
    starts = " / ".join(f"{r:.3f}" for r in res.readies)
    out.append(
        f"| start | spawn → /health/readiness 200 (s), median of {starts} | "
        f"| {res.ready_s:.3f} | ≤ {BARS['ready_s']:.0f} | {verdict(ready_ok)} |"
    )
    out.append("")
    for note in res.notes:
        out.append(f"Note: {note}")
    if res.notes:
        out.append("")
    for key, text in res.profiles.items():
        out += [f"#### py-spy profile, {key}", "", text]
    return out


def ratio_table(tw: TargetResult, ll: TargetResult) -> list[str]:
    out = ["### tokenway / LiteLLM", "", "| load | metric | tokenway | LiteLLM | ratio |"]
    out.append("|---|---|---|---|---|")
    for key, run in tw.runs.items():
        other = ll.runs.get(key)
        if other is None:
            continue
        unit = "streams/s" if run.scenario.stream else "req/s"
        ratio = run.rps / other.rps if other.rps else float("inf")
        label = run.scenario.label
        if other.scenario.connections != run.scenario.connections:
            label += f" (LiteLLM: {other.scenario.connections} conn)"
        out.append(
            f"| {label} | {unit} measured | {run.rps:,.0f} | {other.rps:,.0f} | {ratio:.1f}× |"
        )
        if run.cpu_us and other.cpu_us:
            out.append(
                f"| | CPU µs per request | {run.cpu_us:,.0f} | {other.cpu_us:,.0f} "
                f"| {other.cpu_us / run.cpu_us:.1f}× less |"
            )
        out.append(
            f"| | p50 latency (ms) | {run.p50_ms:.3f} | {other.p50_ms:.3f} "
            f"| {other.p50_ms / run.p50_ms if run.p50_ms else 0:.1f}× lower |"
        )
    out.append(
        f"| idle | RSS (MB) | {tw.rss_idle_mb:.1f} | {ll.rss_idle_mb:.1f} "
        f"| {ll.rss_idle_mb / tw.rss_idle_mb:.1f}× less |"
    )
    out.append(
        f"| start | ready (s) | {tw.ready_s:.3f} | {ll.ready_s:.3f} "
        f"| {ll.ready_s / tw.ready_s:.0f}× faster |"
    )
    out.append("")
    return out


# --- main -----------------------------------------------------------------------------


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
    p.add_argument("--proxy-core", default="1")
    p.add_argument("--load-core", default="0")
    p.add_argument("--no-direct", action="store_true", help="skip the direct-to-mock baseline")
    p.add_argument("--profile-dir", help="also record py-spy profiles of tokenway here")
    p.add_argument("--profile-rate", type=int, default=500, help="py-spy samples per second")
    p.add_argument(
        "--litellm-paced-connections",
        type=int,
        default=32,
        help="connections for LiteLLM's paced streaming load (it needs seconds per stream)",
    )
    p.add_argument("--json", help="write all numbers to this JSON file")
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


def to_json(res: TargetResult) -> dict[str, Any]:
    runs = {}
    for key, run in res.runs.items():
        runs[key] = {
            "label": run.scenario.label,
            "connections": run.scenario.connections,
            "rps": run.rps,
            "p50_ms": run.p50_ms,
            "p90_ms": run.p90_ms,
            "p99_ms": run.p99_ms,
            "requests": run.requests,
            "errors": run.errors,
            "cpu_us_per_request": run.cpu_us,
            "cpu_utilisation": run.proxy_util,
            "cores": run.cores,
            "foreign_cores": run.foreign,
            "rps_all_runs": run.rps_all,
            "command": run.command,
        }
    return {
        "name": res.name,
        "command": res.command,
        "ready_s": res.ready_s,
        "ready_all_s": res.readies,
        "rss_idle_mb": res.rss_idle_mb,
        "rss_peak_mb": res.rss_peak_mb,
        "notes": res.notes,
        "runs": runs,
    }


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
        logs = Path(tmp)
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
            direct = run_direct(args, mocks)
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
