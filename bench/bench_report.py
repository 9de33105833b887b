"""What the proxy benchmark measured, and its Markdown and JSON reports."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from bench_procs import BARS, Proc


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
    kernel_share: float | None = None  # stime / (utime + stime) of the measured process
    rps_all: list[float] = field(default_factory=list)
    command: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


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
    for key, run in res.runs.items():
        out += _run_rows(args, direct, res, key, run)
    out += _footer_rows(res)
    return out


def _run_rows(
    args: argparse.Namespace, direct: TargetResult, res: TargetResult, key: str, run: Run
) -> list[str]:
    out: list[str] = []
    is_tw = res.name == "tokenway"
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
        x = direct.runs.get(CROSS_CORE)
        if x is not None:
            out.append(
                f"| | p50 with the mock on the proxy core; added vs it (ms) "
                f"| {x.p50_ms:.3f} | {run.p50_ms - x.p50_ms:.3f} | | |"
            )
    cpu_bar = "" if sc.stream or sc.connections == 1 else f"≤ {BARS['cpu_us']:.0f}"
    ok = run.cpu_us <= BARS["cpu_us"] if cpu_bar and is_tw and run.cpu_us is not None else None
    out.append(
        f"| | CPU µs per {per} (mock / proxy) | {fmt(d and d.cpu_us)} | {fmt(run.cpu_us)} "
        f"| {cpu_bar} | {verdict(ok)} |"
    )
    if sc.stream and run.cpu_us is not None:
        frames = args.chunks + 3  # + finish, usage, [DONE]
        out.append(f"| | CPU µs per stream / {frames} frames | | {run.cpu_us / frames:,.1f} | | |")
        plain = [r for r in res.runs.values() if not r.scenario.stream and r.cpu_us]
        if plain:
            base = max(plain, key=lambda r: r.scenario.connections)
            marginal = (run.cpu_us - (base.cpu_us or 0)) / frames
            out.append(
                f"| | marginal CPU µs per frame, (stream − {base.scenario.label}) / "
                f"{frames} | | {marginal:,.1f} | ≤ 15 (§3 budget) | |"
            )
    kernel = fmt(run.kernel_share and 100 * run.kernel_share, ".0f", "%")
    out.append(
        f"| | proxy busy / in kernel / errors | | {fmt(run.proxy_util, '.2f')} core / "
        f"{kernel} / {run.errors} | | |"
    )
    out.append(
        f"| | other machine load (not ours) | {fmt(d and d.foreign, '.2f')} core "
        f"| {run.foreign:.2f} core | | |"
    )
    return out


def _footer_rows(res: TargetResult) -> list[str]:
    out: list[str] = []
    is_tw = res.name == "tokenway"
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
            per = "stream" if run.scenario.stream else "request"
            out.append(
                f"| | CPU µs per {per} | {run.cpu_us:,.0f} | {other.cpu_us:,.0f} "
                f"| {other.cpu_us / run.cpu_us:.1f}× less |"
            )
        if other.scenario.connections == run.scenario.connections:
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
            "kernel_share": run.kernel_share,
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


CROSS_CORE = "plain_c1_cross_core"


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
