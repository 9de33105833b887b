"""What an endpoint costs the proxy, side by side in one process on one core: chat,
embeddings (base64, the openai SDK's default, and float vectors) and legacy completions.

The harness of ``bench/vkey_inproc.py`` (proxy app, ``bench/mock_upstream.py``, a
keep-alive client, one uvloop loop, one pinned core), with the master key; endpoints take
turns in interleaved rounds and the process's CPU time per request is compared to chat's.
The mock's embedding answers carry a 2560-value vector (Qwen3-Embedding-4B's)::

    .venv/bin/python bench/endpoints_inproc.py [--requests 20000] [--rounds 5] [--core 1]

Under ``valgrind --tool=callgrind`` (``--steady --core '' --rounds 1 --only <kind>``, with
``--requests 4000`` and again with ``--requests 0``) the difference of the instruction
counts over 4000 is one kind's instructions per request, repeatable on a busy machine.
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

import orjson
import uvloop
from mock_upstream import MockProtocol, Responses
from vkey_inproc import BODY, MASTER, drive, request_bytes

from tokenway.http.server import HTTPServer
from tokenway.proxy.app import create_app, protocol_error
from tokenway.proxy.config import parse_config

TEXT = orjson.dumps({"model": "m", "prompt": "Once upon a time", "max_tokens": 64})
EMBED = {"model": "m", "input": "What does a load balancer do, and why use one?"}
REQUESTS = {
    "chat": ("/v1/chat/completions", BODY),
    "embeddings (base64)": ("/v1/embeddings", orjson.dumps({**EMBED, "encoding_format": "base64"})),
    "embeddings (float)": ("/v1/embeddings", orjson.dumps(EMBED)),
    "completions": ("/v1/completions", TEXT),
}


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    mock = await loop.create_server(lambda: MockProtocol(Responses(20), 0), "127.0.0.1", 0)
    mock_port = mock.sockets[0].getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="tokenway-endpoints-"))
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {
                        "model": "openai_compatible/bench-upstream-model",
                        "api_base": f"http://127.0.0.1:{mock_port}/v1",
                        "api_key": "x",
                        "input_cost_per_token": 4e-8,
                        "output_cost_per_token": 1e-7,
                    },
                }
            ],
            "general_settings": {
                "master_key": MASTER,
                "database_url": f"sqlite:///{tmp / 'tokenway.db'}",
                "spend_journal_dir": str(tmp / "journal"),
                **({"proxy_batch_write_at": 3600} if args.steady else {}),
            },
        },
        {},
    )
    app = create_app(config, env={}, data_dir=tmp)
    server = HTTPServer(app, error_responder=protocol_error)
    await server.start(host="127.0.0.1", port=0)
    await app.start()
    app.ready = True
    port = server.port
    wanted = {name: REQUESTS[name] for name in (args.only or ",".join(REQUESTS)).split(",")}
    raw = {name: request_bytes(port, MASTER, body, path) for name, (path, body) in wanted.items()}
    for request in raw.values():
        await drive(port, MASTER, args.warmup, args.connections, request)
    gc.collect()
    gc.freeze()
    cpu: dict[str, list[float]] = {name: [] for name in raw}
    order = list(raw.items())
    for _ in range(args.rounds):
        for name, request in order:
            cpu[name].append(await drive(port, MASTER, args.requests, args.connections, request))
        order = order[1:] + order[:1]
    await server.shutdown(5.0)
    await app.aclose()
    mock.close()
    print(f"{args.requests} requests x {args.rounds} rounds, {args.connections} connections")
    chat = statistics.median(cpu["chat"]) if "chat" in cpu else None
    for name, runs in cpu.items():
        median = statistics.median(runs)
        ratio = f"  (throughput {chat / median:.3f} of chat)" if chat else ""
        print(f"  {name:20s} {median:6.1f} µs/request{ratio}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--core", default="1", help="pin to this core ('' = no pinning)")
    p.add_argument("--only", help="request kinds by name, comma-separated (default: all)")
    p.add_argument("--steady", action="store_true", help="no timers (for callgrind)")
    args = p.parse_args()
    if args.core:
        os.sched_setaffinity(0, {int(args.core)})
    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
