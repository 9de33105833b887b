"""``tokenway --config config.yaml``: the proxy's command line (plus ``emulator``, ``migrate``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenway.proxy.config import ConfigError, ProxyConfig, StartupError, load_config, parse_config
from tokenway.proxy.serve import ServeOptions, bind_socket, fail, is_loopback, run_workers

log = logging.getLogger("tokenway")

DEMO_MODELS = {
    "llama-3.1-8b-instruct": "inference/meta-llama/llama-3.1-8b-instruct/fp-16",
    "llama-3.2-3b-instruct": "inference/meta-llama/llama-3.2-3b-instruct/fp-16",
    "mistral-nemo-12b-instruct": "inference/mistralai/mistral-nemo-12b-instruct/fp-8",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from tokenway.emulator.__main__ import main as emulator_main

        return emulator_main(argv[1:], prog="tokenway emulator")
    if argv[:1] == ["migrate"]:
        from tokenway.store.migrate import main as migrate_main

        return migrate_main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.log_format == "json" or _truthy(os.environ.get("JSON_LOGS")):
        _json_logs()
    else:
        _plain_logs()
    if args.demo:
        return _run_demo(args)
    if not args.config:
        return fail("pass --config config.yaml (or --demo for an offline demo)")
    try:
        config = load_config(args.config)
    except ConfigError as err:
        return fail(str(err))
    if config.observability.json_logs:
        _json_logs()
    for warning in config.warnings:
        log.warning("config: %s", warning)
    _apply_environment(config.environment_variables)
    return _run(args, config, demo_note=None)


# The subcommands, dispatched in ``main`` before the proxy's options are parsed (each
# parses its own); listed in --help by this epilog.
_SUBCOMMANDS = """subcommands:
  tokenway emulator [--api-key KEY ...]   run the bundled Inference.net emulator (a
                                          testing tool); see tokenway emulator --help
  tokenway migrate [--database-url URL]   apply the database migrations; see
                                          tokenway migrate --help"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tokenway",
        usage="tokenway [--config FILE | --demo] [options]\n       tokenway {emulator,migrate} ...",
        description="OpenAI-compatible LLM proxy",
        epilog=_SUBCOMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", "-V", action="version", version=f"tokenway {_version()}")
    p.add_argument("--config", "-c", help="LiteLLM-style config.yaml")
    p.add_argument("--host", default=os.environ.get("HOST"), help="default 0.0.0.0 (env HOST)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
    p.add_argument("--workers", "--num_workers", type=int, default=1, dest="workers")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: every log line a JSON object (as litellm_settings.json_logs, JSON_LOGS=True)",
    )
    p.add_argument("--demo", action="store_true", help="serve in front of the bundled emulator")
    p.add_argument(
        "--insecure-no-master-key",
        action="store_true",
        help="allow binding a non-loopback address without a master key (anyone can call)",
    )
    p.add_argument("--shutdown-timeout", type=float, default=30.0)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokenway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _apply_environment(variables: Mapping[str, str]) -> None:
    for name, value in variables.items():
        os.environ.setdefault(name, value)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _json_logs() -> None:
    """Every log line as a JSON object, in the request log's shape."""
    from tokenway.proxy.observability import JsonFormatter

    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())


def _plain_logs() -> None:
    """Every log line with its time, in the plain request lines' shape."""
    from tokenway.proxy.observability import PlainFormatter

    for handler in logging.getLogger().handlers:
        handler.setFormatter(PlainFormatter())


def _with_json_logs(config: ProxyConfig) -> ProxyConfig:
    """The config with JSON request lines when the log lines are JSON (an option or env)."""
    from tokenway.proxy.observability import JsonFormatter

    handlers = logging.getLogger().handlers
    if config.observability.json_logs or not any(
        isinstance(h.formatter, JsonFormatter) for h in handlers
    ):
        return config
    observability = dataclasses.replace(config.observability, json_logs=True)
    return dataclasses.replace(config, observability=observability)


def _metrics_directory() -> Path | None:
    """With several workers, the directory their metrics are added up in (prometheus-
    client's multiprocess mode; set before it is imported). Files of an earlier run are
    removed. Returns the directory to delete at exit when tokenway made it."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    made = tempfile.mkdtemp(prefix="tokenway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return Path(made)


def _run(args: argparse.Namespace, config: ProxyConfig, demo_note: str | None) -> int:
    config = _with_json_logs(config)
    made = None
    if max(1, args.workers) > 1 and config.observability.prometheus:
        made = _metrics_directory()
    try:
        return _run_bound(args, config, demo_note)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _run_bound(args: argparse.Namespace, config: ProxyConfig, demo_note: str | None) -> int:
    host = args.host or ("0.0.0.0" if config.master_key else "127.0.0.1")
    if not config.master_key and not is_loopback(host) and not args.insecure_no_master_key:
        return fail(
            f"refusing to listen on {host} without a master key: anyone could use it. "
            "Set general_settings.master_key (or LITELLM_MASTER_KEY), bind 127.0.0.1, "
            "or pass --insecure-no-master-key."
        )
    try:
        sock = bind_socket(host, args.port)
    except OSError as err:
        return fail(f"cannot listen on {host}:{args.port}: {err.strerror or err}")
    port = sock.getsockname()[1]
    options = ServeOptions(host, port, max(1, args.workers), args.shutdown_timeout)
    try:
        _check_routes(config)
    except StartupError as err:
        return fail(str(err))

    def announce() -> None:
        _banner(config, options, demo_note)

    if options.workers == 1:
        return _serve_one(config, sock, options, announce)
    with _shared_counter(config) as counter:
        announce()
        return run_workers(options, sock, lambda: _serve_one(config, sock, options, None, counter))


@contextlib.contextmanager
def _shared_counter(config: ProxyConfig) -> Iterator[str | None]:
    """Without Redis, the workers count their limits in one counter process (its socket,
    in a private directory); with Redis, they count there (None)."""
    if config.redis is not None:
        yield None
        return
    from tokenway.limits.local_store import start_counter

    with tempfile.TemporaryDirectory(prefix="tokenway-limits-") as directory:
        path = os.path.join(directory, "counter.sock")
        pid = start_counter(path)
        try:
            yield path
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _check_routes(config: ProxyConfig) -> None:
    from tokenway.proxy.app import create_app

    create_app(config)  # resolves every deployment; raises StartupError with the fix


def _serve_one(
    config: ProxyConfig,
    sock: socket.socket,
    options: ServeOptions,
    announce: Callable[[], None] | None,
    counter: str | None = None,
) -> int:
    from tokenway.http.server import install_uvloop
    from tokenway.proxy.app import create_app
    from tokenway.proxy.serve import serve_app

    install_uvloop()

    async def go() -> int:
        app = create_app(config, counter=counter)
        return await serve_app(app, sock, options, announce)

    return asyncio.run(go())


def _banner(config: ProxyConfig, options: ServeOptions, demo_note: str | None) -> None:
    lines = [f"RUNNING on http://{options.host}:{options.port}"]
    if demo_note:
        lines.insert(0, demo_note)
    lines.append("models: " + ", ".join(config.model_names()))
    if not config.master_key:
        lines.append("no master key: open to local clients only (any bearer token is accepted)")
    lines.append(_limits_line(config, options.workers))
    print("\n".join(lines), flush=True)
    log.info(
        "started: serving on http://%s:%d, %d worker(s), models: %s",
        options.host, options.port, options.workers, ", ".join(config.model_names()),
    )  # fmt: skip


def _limits_line(config: ProxyConfig, workers: int) -> str:
    """Which store counts rate limits: said at every start, loudly when it is per process
    while several processes serve."""
    if config.redis is not None:
        from tokenway.limits.redis_store import redacted

        return (
            f"rate limits: counted in Redis {redacted(config.redis.url)}, shared by every "
            "process using it, with budgets, deployment limits, key changes, cooldowns and "
            "(half a second late) routing statistics"
        )
    if workers > 1:
        return (
            f"rate limits: counted once for the {workers} workers, with budgets and "
            "deployment limits (a counter process on this machine; set "
            "router_settings.redis_host to share them with other machines); router "
            "cooldowns and routing statistics are per worker"
        )
    return "rate limits: counted in this process (no Redis configured)"


def _run_demo(args: argparse.Namespace) -> int:
    """The proxy in front of an in-process Inference.net emulator: no key, no network."""
    from tokenway.emulator import Emulator, EmulatorConfig
    from tokenway.http.server import install_uvloop
    from tokenway.proxy.app import create_app
    from tokenway.proxy.serve import serve_app

    host = args.host or "127.0.0.1"
    if not is_loopback(host) and not args.insecure_no_master_key:
        return fail("--demo listens on loopback only; drop --host or pass --insecure-no-master-key")
    try:
        sock = bind_socket(host, args.port)
    except OSError as err:
        return fail(f"cannot listen on {host}:{args.port}: {err.strerror or err}")
    options = ServeOptions(host, sock.getsockname()[1], 1, args.shutdown_timeout)
    install_uvloop()

    async def go() -> int:
        key = "demo-" + secrets.token_hex(8)
        emulator = Emulator(EmulatorConfig(api_keys=(key,)))
        await emulator.start("127.0.0.1", 0)
        # A new master key each start: the demo is on loopback, but a fixed, published
        # key would let any local program or web page that reaches the port manage it.
        master_key = "sk-demo-" + secrets.token_urlsafe(18)
        config = demo_config(emulator.base_url, key, master_key)
        note = (
            "DEMO MODE: answers come from the bundled Inference.net emulator at "
            f"{emulator.base_url} (a testing tool, not the real API; no API key needed)\n"
            f"master key (this run only): {master_key}\n"
            f"  export TOKENWAY_MASTER_KEY={master_key}\n"
            f"admin UI: http://{options.host}:{options.port}/ui (log in with the master key)"
        )
        app = create_app(config)
        return await serve_app(
            app, sock, options, lambda: _banner(config, options, note), emulator.stop
        )

    return asyncio.run(go())


def demo_config(api_base: str, api_key: str, master_key: str | None = None) -> ProxyConfig:
    entries = [
        {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": api_key},
        }
        for alias, model in DEMO_MODELS.items()
    ]
    raw: dict[str, Any] = {"model_list": entries}
    if master_key is not None:
        raw["general_settings"] = {"master_key": master_key}
    return parse_config(raw, env={}, source="<demo>")


if __name__ == "__main__":
    raise SystemExit(main())
