"""What owning the HTTP server saves: tokenway's server against uvicorn and aiohttp.

Each server answers ``POST /v1/chat/completions`` with the same 330-byte JSON body after
reading the request's body, nothing else: the cost of HTTP/1.1 itself (parsing, framing,
keep-alive, the event loop). All run on uvloop, pinned to one core, loaded in turn by wrk
(64 connections, the proxy benchmark's chat body) from the other core; the order rotates
every round. Reported: the median req/s and CPU µs per request of each, and the ratio to
tokenway's server. uvicorn and aiohttp come from ``bench/.venv-servers``::

    python3 -m venv bench/.venv-servers
    bench/.venv-servers/bin/pip install 'uvicorn[standard]' aiohttp
    .venv/bin/python bench/server_bench.py --repeat 6 --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_procs import HERE, ROOT, Proc, free_port, http_status, log, pinned
from bench_report import Run, Scenario
from bench_wrk import run_wrk

OTHERS = HERE / ".venv-servers" / "bin" / "python"
BODY = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Hello! How can I help you today?"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,'
    b'"total_tokens":18},"system_fingerprint":null,"service_tier":null,"x":"0123456789abcdef"}'
)

TOKENWAY = """
import asyncio, sys
from tokenway.http.server import HTTPServer, Response, install_uvloop
BODY = %r
async def handler(request):
    return Response(200, [("content-type", "application/json")], BODY)
async def main():
    server = HTTPServer(handler)
    await server.start("127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
install_uvloop()
asyncio.run(main())
"""

UVICORN = """
import sys, uvicorn
BODY = %r
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=sys.argv[2], loop="uvloop",
            access_log=False, log_level="warning", lifespan="off")
"""

AIOHTTP = """
import sys, uvloop
from aiohttp import web
BODY = %r
async def handler(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_post("/v1/chat/completions", handler)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

SERVERS = {
    "tokenway.http": (sys.executable, TOKENWAY, []),
    "uvicorn (httptools)": (str(OTHERS), UVICORN, ["httptools"]),
    "uvicorn (h11)": (str(OTHERS), UVICORN, ["h11"]),
    "aiohttp": (str(OTHERS), AIOHTTP, []),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--repeat", type=int, default=6)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--server-core", default="1")
    p.add_argument("--load-core", default="0")
    args = p.parse_args()
    if not OTHERS.exists():
        print("bench/.venv-servers is missing; see this script's docstring", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tokenway-server-bench-") as tmp:
        runs = _rotate(args, Path(tmp))
    _report(args, runs)
    return 0


def _start(name: str, tmp: Path, core: str) -> tuple[Proc, int]:
    python, source, extra = SERVERS[name]
    script = tmp / f"{len(list(tmp.iterdir()))}.py"
    script.write_text(source % BODY)
    port = free_port()
    argv = pinned(core, [python, str(script), str(port), *extra])
    proc = Proc(name, argv, tmp / f"{script.stem}.log", {"PYTHONPATH": str(ROOT / "src")})
    deadline = time.perf_counter() + 15
    while http_status(port, "/") is None:
        if time.perf_counter() > deadline or not proc.alive():
            raise RuntimeError(f"{name} did not start:\n{proc.tail()}")
        time.sleep(0.05)
    return proc, port


def _rotate(args: argparse.Namespace, tmp: Path) -> dict[str, list[Run]]:
    sc = Scenario("plain", f"{args.connections} conn", False, False, args.connections)
    runs: dict[str, list[Run]] = {name: [] for name in SERVERS}
    order = list(SERVERS)
    with contextlib.ExitStack() as stack:
        started = {}
        for name in SERVERS:
            proc, port = _start(name, tmp, args.server_core)
            stack.callback(proc.stop)
            started[name] = (proc, port)
        for _ in range(args.repeat):
            for name in order:
                proc, port = started[name]
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                run = run_wrk(url, sc, args.duration, args.load_core, "k", "m", proc)
                if run.errors:
                    raise RuntimeError(f"{name}: {run.errors} errors")
                runs[name].append(run)
                log(f"  {name}: {run.rps:,.0f}/s cpu {run.cpu_us or 0:.1f} µs/req")
                time.sleep(0.5)
            order = order[1:] + order[:1]
    return runs


def _report(args: argparse.Namespace, runs: dict[str, list[Run]]) -> None:
    print(
        f"\n{args.connections} connections, {args.duration:g} s x {args.repeat} rounds, "
        f"server on core {args.server_core}, wrk on core {args.load_core}\n"
    )
    print("| server | req/s (median) | CPU µs/req (median) | CPU per request / tokenway's |")
    print("|---|---:|---:|---:|")
    base = statistics.median(r.cpu_us or 0.0 for r in runs["tokenway.http"])
    for name, rs in runs.items():
        cpu = statistics.median(r.cpu_us or 0.0 for r in rs)
        rps = statistics.median(r.rps for r in rs)
        print(f"| {name} | {rps:,.0f} | {cpu:.1f} | {cpu / base:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
