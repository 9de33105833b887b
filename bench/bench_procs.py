"""Processes, /proc readings and HTTP probes for the proxy benchmark."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
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


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of ``pid`` and every live descendant, in seconds."""
    user = system = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


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


def machine_load(seconds: float = 1.0) -> float:
    """Cores' worth of CPU busy on the whole machine over ``seconds`` (ours are idle then)."""
    before = core_busy()
    time.sleep(seconds)
    after = core_busy()
    busy = sum(b for b, _ in after.values()) - sum(b for b, _ in before.values())
    return busy / CLK_TCK / seconds


def wait_quiet(limit: float, threshold: float = 0.15) -> None:
    """Wait (up to ``limit`` s) until other processes leave the machine nearly idle."""
    if limit <= 0:
        return
    deadline = time.perf_counter() + limit
    load = machine_load()
    while load > threshold and time.perf_counter() < deadline:
        load = machine_load()
    if load > threshold:
        log(f"  the machine is still busy ({load:.2f} core not ours); measuring anyway")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
