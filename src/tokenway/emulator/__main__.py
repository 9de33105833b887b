"""`python -m tokenway.emulator`: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence

from tokenway.http.server import install_uvloop

from .config import ERROR_BODY_STYLES, ERROR_STYLES, EmulatorConfig, FaultConfig
from .server import Emulator

_KEY_ENV = "INFERENCE_API_KEY"
_PROG = "python -m tokenway.emulator"  # as `tokenway emulator` it says so itself
_BANNER = "Inference.net emulator (a testing tool, not the real API) listening on {url}"


def main(argv: Sequence[str] | None = None, prog: str = _PROG) -> int:
    args = _parser(prog).parse_args(argv)
    keys = tuple(args.api_key or ([os.environ[_KEY_ENV]] if os.environ.get(_KEY_ENV) else []))
    if not keys:
        print(
            "error: the emulator needs an API key to accept. Pass --api-key KEY "
            f"(repeatable) or set {_KEY_ENV}.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        config = _config(args, keys)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_uvloop()
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except OSError as exc:  # the port is taken, the host is not ours, ...
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: EmulatorConfig, host: str, port: int) -> None:
    emulator = Emulator(config)
    await emulator.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Announced only once a signal can stop us cleanly.
    print(_BANNER.format(url=emulator.base_url), flush=True)
    await stop.wait()
    await emulator.stop()


def _config(args: argparse.Namespace, keys: tuple[str, ...]) -> EmulatorConfig:
    # Every FaultConfig field has a flag of the same name (tests compare the two).
    faults = FaultConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(FaultConfig)})
    return EmulatorConfig(
        api_keys=keys,
        out_of_credit_keys=tuple(args.out_of_credit_key or ()),
        rpm=args.rpm,
        error_style=args.error_style,
        include_pricing=args.include_pricing,
        max_output_tokens=args.max_output_tokens,
        faults=faults,
        allow_fault_header=args.allow_fault_header,
    )


def _parser(prog: str = _PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local emulator of Inference.net's OpenAI-compatible API "
        "(a testing tool, not the real API).",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=9000, help="0 picks a free port")
    add("--api-key", action="append", help=f"a key to accept (repeatable; default ${_KEY_ENV})")
    add("--out-of-credit-key", action="append", help="a key answered with 402 (repeatable)")
    add("--rpm", type=int, default=500, help="requests per minute per key")
    add("--error-style", choices=ERROR_STYLES, default="openai")
    add("--include-pricing", action="store_true", help="context and prices in /v1/models")
    add("--max-output-tokens", type=int, default=None, help="reject larger max_tokens")
    add("--latency-ms", type=int, default=0)
    add("--latency-jitter-ms", type=int, default=0)
    add("--error-rate", type=float, default=0.0, help="probability of an injected error")
    add("--error-status", type=int, default=500)
    add("--error-body", choices=ERROR_BODY_STYLES, default="json")
    add("--retry-after-s", type=int, default=1, help="retry-after of injected 429 and 503")
    add("--fail-first-n", type=int, default=0, help="the first N requests get --error-status")
    add("--stream-cut-after", type=int, default=None, help="drop streams after N chunks")
    add("--stream-error-after", type=int, default=None, help="event: error after N chunks")
    add("--chunk-delay-ms", type=int, default=0, help="pause between stream chunks")
    add("--hang", action="store_true", help="never answer /v1/* requests")
    add("--seed", type=int, default=0, help="seed of the fault draws")
    add("--allow-fault-header", action="store_true", help="honour x-emulator-fault headers")
    add("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    return parser


if __name__ == "__main__":
    sys.exit(main())
