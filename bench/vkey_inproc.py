"""What a virtual key costs on top of the master key, in one process on one core.

The proxy app (SQLite store, spend journal and writer, all on), the mock upstream of
``bench/mock_upstream.py`` and a keep-alive HTTP client share one uvloop loop in one
process pinned to one core, over loopback. Keys take turns in interleaved rounds (master,
virtual key, key in a team), each sending the same ``wrk_chat.lua`` body; the process's
CPU time per request is compared. The client and the mock cost the same for every key, so
the differences are the proxy's. Less noisy than two processes and wrk, so small changes
show; the wrk figures of ``bench/vkey_bench.py`` stay the bar's measurement::

    .venv/bin/python bench/vkey_inproc.py [--requests 20000] [--rounds 5] [--core 1]

Under ``valgrind --tool=callgrind`` (``--steady --core '' --rounds 1 --requests 4000
--only "virtual key"``, and again with ``--requests 0``) the instruction counts repeat:
their difference divided by the requests is the instructions per request. ``--steady``
turns off what runs by the clock (the once-a-second spend flush, key refreshes), which
valgrind's slowness would otherwise make fifty times more frequent per request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import orjson
import uvloop
from mock_upstream import MockProtocol, Responses

from tokenway.http.server import HTTPServer
from tokenway.proxy.app import create_app, protocol_error
from tokenway.proxy.config import parse_config

MASTER = "sk-inproc-master-0123456789abcdef"
LIMITS = {"max_budget": 1e9, "rpm_limit": 10**8, "tpm_limit": 10**11}
PRICE = {"input_cost_per_token": 4e-8, "output_cost_per_token": 1e-7}  # Mistral Nemo 12B's
FULL = {**LIMITS, "max_parallel_requests": 10**6}  # as bench/vkey_bench.py's virtual key
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant. Answer in two sentences at most."},
    {
        "role": "user",
        "content": "In one short paragraph, what does a load balancer do, and why would a "
        "web service put one in front of its servers?",
    },
]
BODY = orjson.dumps({"model": "m", "messages": MESSAGES, "max_tokens": 128, "temperature": 0.2})


def request_bytes(
    port: int, key: str, body: bytes | None = None, path: str = "/v1/chat/completions"
) -> bytes:
    body = BODY if body is None else body
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Client(asyncio.Protocol):
    """One keep-alive connection sending ``request`` while the shared budget lasts."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self) -> None:
        if self.load.take() and self.transport is not None:
            self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return
        # The proxy writes the framing header last: reading it from the end costs the
        # same however many headers come before (a key's x-ratelimit-* must not cost here).
        at = buf.rfind(b"\ncontent-length:", 0, end)
        length = int(buf[at + 16 : end])
        if len(buf) < end + 4 + length:
            self.buf = buf
            return
        self.buf = buf[end + 4 + length :]
        if not buf.startswith(b"HTTP/1.1 200"):
            self.load.errors += 1
        self.load.done_one()
        self.send()


class Load:
    def __init__(self, request: bytes, total: int) -> None:
        self.request = request
        self.left = total
        self.pending = total
        self.errors = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if total == 0:
            self.finished.set_result(None)

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def done_one(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.finished.set_result(None)


async def admin(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(port, MASTER, orjson.dumps(body), path))
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    data: dict[str, Any] = orjson.loads(await reader.readexactly(length))
    writer.close()
    return data


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    mock = await loop.create_server(lambda: MockProtocol(Responses(20), 0), "127.0.0.1", 0)
    mock_port = mock.sockets[0].getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="tokenway-inproc-"))
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {
                        "model": "openai_compatible/bench-upstream-model",
                        "api_base": f"http://127.0.0.1:{mock_port}/v1",
                        "api_key": "x",
                        **PRICE,  # priced, so budgets and spend move
                    },
                }
            ],
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite:///{tmp / 'tokenway.db'}",
                "spend_journal_dir": str(tmp / "journal"),
                # --steady: batches of max_batch_rows only, not once a second
                **({"proxy_batch_write_at": 3600} if args.steady else {}),
            },
        },
        {},
    )
    app = create_app(config, env={}, data_dir=tmp)
    if args.steady:  # no key refreshes either (a bench-only reach into the cache)
        app.services.keys._refresh_after = app.services.keys._max_age = 3600.0
        app.end_users._refresh_after = 3600.0
    server = HTTPServer(app, error_responder=protocol_error)
    await server.start(host="127.0.0.1", port=0)
    port = server.port
    await app.start()
    app.ready = True
    keys = {
        "master key": MASTER,
        "bare key": await virtual_key(port, {}),
        "budget-only key": await virtual_key(port, {"max_budget": 1e9}),
        "virtual key": await virtual_key(port, FULL),
        "virtual key in a team": await virtual_key(port, FULL, team=True),
    }
    if args.only:
        keys = {name: key for name, key in keys.items() if name in args.only.split(",")}
    for key in keys.values():  # warm every path and cache
        await drive(port, key, args.warmup, args.connections)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    cpu: dict[str, list[float]] = {name: [] for name in keys}
    order = list(keys.items())
    for _ in range(args.rounds):
        for name, key in order:
            cpu[name].append(await drive(port, key, args.requests, args.connections))
        order = order[1:] + order[:1]  # no key always goes first
    await server.shutdown(5.0)
    await app.aclose()
    mock.close()
    report(cpu, args)


async def virtual_key(port: int, fields: dict[str, Any], *, team: bool = False) -> str:
    fields = dict(fields)
    if team:
        fields["team_id"] = (await admin(port, "/team/new", {"team_alias": "t", **LIMITS}))[
            "team_id"
        ]
    return str((await admin(port, "/key/generate", fields))["key"])


async def drive(
    port: int, key: str, total: int, connections: int, request: bytes | None = None
) -> float:
    """CPU µs per request of ``total`` requests (``request``, else a chat request with
    ``key``) over ``connections`` connections."""
    loop = asyncio.get_running_loop()
    load = Load(request or request_bytes(port, key), total)
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(lambda: Client(load), "127.0.0.1", port)
        clients.append(client)
    start = os.times()
    for client in clients:
        client.send()
    await load.finished
    end = os.times()
    used = end.user + end.system - start.user - start.system
    if total and os.environ.get("INPROC_SYS"):
        print(f"    sys share {(end.system - start.system) / used:.2f}", file=sys.stderr)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    if load.errors:
        raise RuntimeError(f"{load.errors} requests failed")
    return used * 1e6 / total if total else 0.0


def report(cpu: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(f"{args.requests} requests x {args.rounds} rounds, {args.connections} connections")
    master = statistics.median(cpu["master key"]) if "master key" in cpu else None
    for name, runs in cpu.items():
        median = statistics.median(runs)
        extra = f"  (+{median - master:.1f} µs, ratio {master / median:.3f})" if master else ""
        spread = ", ".join(f"{r:.1f}" for r in runs)
        print(f"  {name:24s} {median:6.1f} µs/request [{spread}]{extra}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2000, help="requests per key before rounds")
    p.add_argument("--core", default="1", help="pin to this core ('' = no pinning)")
    p.add_argument("--steady", action="store_true", help="no timers (for callgrind)")
    p.add_argument("--end-user", help="send this end user in every request's 'user' field")
    p.add_argument(
        "--only", help="keys by their names in the report, comma-separated (default: every key)"
    )
    args = p.parse_args()
    if args.end_user:
        global BODY
        BODY = orjson.dumps({**orjson.loads(BODY), "user": args.end_user})
    if args.core:
        os.sched_setaffinity(0, {int(args.core)})
    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
