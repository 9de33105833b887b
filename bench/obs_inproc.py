"""What the request log, metrics and traces cost, in one process on one core.

Three proxy apps (off; request log + metrics; request log + metrics + traces), the mock
upstream of ``bench/mock_upstream.py`` and a keep-alive client share one uvloop loop in one
process pinned to one core, as ``bench/vkey_inproc.py`` does for keys. The apps take turns
in interleaved rounds with the master key; the process's CPU time per request is compared
(the log writer's and the span exporter's threads are in it). Request lines go to a file;
spans to an OTLP/HTTP receiver in a child process on another core::

    .venv/bin/python bench/obs_inproc.py [--requests 20000] [--rounds 5] [--core 1]

On a busy machine the CPU times wander; instructions do not. Under
``valgrind --tool=callgrind`` (``--core '' --rounds 1 --warmup 500 --pause 0 --only NAME``,
once with ``--requests 4000`` and once with ``--requests 0``) the difference of the two
instruction counts divided by 4,000 is the instructions per request of that setup (the
threads' included: callgrind counts every thread).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop
from mock_upstream import MockProtocol, Responses
from vkey_inproc import MASTER, PRICE, drive

from tokenway.http.server import HTTPServer
from tokenway.proxy.app import ProxyApp, create_app, protocol_error
from tokenway.proxy.config import parse_config

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""
SETUPS = {"off": [], "log+metrics": ["prometheus"], "log+metrics+traces": ["prometheus", "otel"]}


async def start_app(name: str, mock_port: int, tmp: Path, collector: str) -> tuple[ProxyApp, int]:
    logging.getLogger("tokenway.request").setLevel(
        logging.WARNING if name == "off" else logging.INFO
    )
    data = tmp / name.replace("+", "-")
    data.mkdir()
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {
                        "model": "openai_compatible/bench-upstream-model",
                        "api_base": f"http://127.0.0.1:{mock_port}/v1",
                        "api_key": "x",
                        **PRICE,
                    },
                }
            ],
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite:///{data / 'tokenway.db'}",
                "spend_journal_dir": str(data / "journal"),
            },
            "litellm_settings": {"callbacks": SETUPS[name]},
        },
        {"OTEL_EXPORTER_OTLP_ENDPOINT": collector},
    )
    app = create_app(config, env={}, data_dir=data)
    server = HTTPServer(app, error_responder=protocol_error)
    await server.start(host="127.0.0.1", port=0)
    await app.start()
    app.ready = True
    return app, server.port


async def main_async(args: argparse.Namespace, collector: str, tmp: Path) -> None:
    loop = asyncio.get_running_loop()
    mock = await loop.create_server(lambda: MockProtocol(Responses(20), 0), "127.0.0.1", 0)
    mock_port = mock.sockets[0].getsockname()[1]
    names = args.only.split(",") if args.only else list(SETUPS)
    apps = {name: await start_app(name, mock_port, tmp, collector) for name in names}
    for _, port in apps.values():
        await drive(port, MASTER, args.warmup, args.connections)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    order = list(apps)
    for _ in range(args.rounds):
        for name in order:
            cpu[name].append(await drive(apps[name][1], MASTER, args.requests, args.connections))
            await asyncio.sleep(args.pause)  # the exporter's batch of this round leaves
        order = order[1:] + order[:1]
    for app, _ in apps.values():
        await app.aclose()
    mock.close()
    print(f"{args.requests} requests x {args.rounds} rounds, {args.connections} connections")
    off = statistics.median(cpu["off"] if "off" in cpu else next(iter(cpu.values())))
    for name, runs in cpu.items():
        median = statistics.median(runs)
        spread = ", ".join(f"{r:.1f}" for r in runs)
        print(
            f"  {name:20s} {median:6.1f} µs/request [{spread}]  "
            f"(+{median - off:.1f} µs, throughput ratio {off / median:.3f})"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--core", default="1", help="pin to this core ('' = no pinning)")
    p.add_argument("--receiver-core", default="0")
    p.add_argument("--pause", type=float, default=1.2, help="seconds between runs")
    p.add_argument("--only", help="setups by name, comma-separated (default: all)")
    args = p.parse_args()
    argv = [sys.executable, "-c", RECEIVER]
    if args.receiver_core:
        argv = ["taskset", "-c", args.receiver_core, *argv]
    receiver = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        collector = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
        if args.core:
            os.sched_setaffinity(0, {int(args.core)})
        with tempfile.TemporaryDirectory(prefix="tokenway-obs-inproc-") as tmp:
            log_file = (Path(tmp) / "request.log").open("w")
            sys.stderr = log_file  # the request lines (and nothing is lost: it is a file)
            started = time.perf_counter()
            uvloop.run(main_async(args, collector, Path(tmp)))
            sys.stderr = sys.__stderr__
            log_file.close()
            lines = sum(1 for _ in (Path(tmp) / "request.log").open())
            print(f"{lines:,} request lines in {time.perf_counter() - started:.0f} s")
    finally:
        receiver.terminate()
        receiver.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
