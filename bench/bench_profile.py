"""py-spy and perf profiles of a proxy under load, summarized."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench_procs import Proc, log, pinned
from bench_report import scenarios
from bench_wrk import run_wrk


def profile(args: argparse.Namespace, proc: Proc, url: str, key: str) -> dict[str, str]:
    """Sample the proxy while wrk drives each load: py-spy for Python frames, perf (when
    installed) for the native split. Both run on the load core.

    py-spy runs ``--nonblocking``: it reads the stacks without stopping the process. A
    stopping sampler (ptrace) only gets to look when the process next leaves the kernel, so
    it charges the Python work done before a syscall to the syscall; here that made
    ``getpid`` and ``getrandom`` look like 20% of the time when they cost under 1 µs each.
    The price is that a few stacks come out truncated, so inclusive shares run low.
    """
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    perf = shutil.which("perf") if args.perf else None
    if not pyspy:
        log("  py-spy not found: pip install py-spy (skipping the profile)")
        return {}
    out_dir = Path(args.profile_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = [sc for sc in scenarios(args) if not sc.stream]
    wanted = {max(plain, key=lambda sc: sc.connections).key} if plain else set()
    wanted |= {"stream_burst", "stream_paced"}
    summaries = {}
    for sc in scenarios(args):
        if sc.key not in wanted:
            continue
        raw = out_dir / f"tokenway-{sc.key}.txt"
        seconds = max(5, round(args.duration))
        samplers = [
            pinned(
                args.load_core,
                [
                    *(pyspy, "record", "--pid", str(proc.pid), "--rate", str(args.profile_rate)),
                    *("--nonblocking", "--format", "raw", "--duration", str(seconds)),
                    *("-o", str(raw)),
                ],
            )
        ]
        perf_data = out_dir / f"tokenway-{sc.key}.perf.data"
        if perf:
            samplers.append(
                pinned(
                    args.load_core,
                    [
                        *(perf, "record", "-F", "999", "-p", str(proc.pid)),
                        *("-o", str(perf_data), "--", "sleep", str(seconds)),
                    ],
                )
            )
        started = [
            subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for a in samplers
        ]
        try:
            time.sleep(0.3)
            model = "m-paced" if sc.paced else "m"
            run_wrk(url, sc, seconds + 1, args.load_core, key, model, None)
            for sampler in started:
                sampler.wait(seconds + 30)
        finally:
            for sampler in started:
                if sampler.poll() is None:
                    sampler.kill()
                    sampler.wait()
        text = summarize_profile(raw) if raw.exists() else "py-spy wrote nothing\n"
        if perf and perf_data.exists():
            text += "\n" + summarize_perf(perf, perf_data)
        summaries[sc.key] = text
        (out_dir / f"tokenway-{sc.key}-summary.md").write_text(text)
        log(f"  profile {sc.key}: {out_dir}")
    return summaries


def summarize_perf(perf: str, data: Path, top: int = 15) -> str:
    """Shares of CPU samples by shared object and by native symbol (kernel included)."""
    lines = []
    for sort, title in (("dso", "shared object"), ("sym", "native symbol")):
        done = subprocess.run(
            [perf, "report", "-i", str(data), "--no-children", "--sort", sort, "--stdio"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        rows = []
        for line in done.stdout.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
            if m and not line.lstrip().startswith("#"):
                rows.append(f"| {m[1]} | {m[2].replace('|', '/')} |")
        lines += [f"| perf % | {title} |", "|---|---|", *rows[:top], ""]
    return "\n".join(lines)


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
    own_lines: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = []
        line_of_leaf = ""
        for frame in stack.split(";"):
            m = _FRAME.match(frame.strip())
            names.append(f"{m['func']} ({short_path(m['file'])})" if m else frame.strip())
            line_of_leaf = f"{short_path(m['file'])}:{m['line']} {m['func']}" if m else ""
        if names:
            own[names[-1]] += n
            own_lines[line_of_leaf or names[-1]] += n
        for name in set(names):
            incl[name] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples (idle excluded)", "", "| self % | function (file) |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in own.most_common(top)]
    lines += ["", "| self % | line |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in own_lines.most_common(top)]
    # Frames on every stack (the entry point down to the event loop) say nothing.
    ranked = incl.most_common()
    root = ranked[0][1] if ranked else 0
    inner = [(name, n) for name, n in ranked if n < root]
    lines += ["", "| inclusive % | function (file) |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {name} |" for name, n in inner[:top]]
    return "\n".join(lines) + "\n"


# --- report ---------------------------------------------------------------------------
