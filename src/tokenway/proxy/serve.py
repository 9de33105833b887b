"""Running the proxy: bind, serve, drain on SIGTERM, exit 0; several worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from tokenway.http.server import HTTPServer
from tokenway.proxy.app import DRAIN_TIMEOUT, ProxyApp, protocol_error
from tokenway.proxy.supervisor import RestartPolicy, Supervisor

log = logging.getLogger("tokenway.proxy")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    workers: int = 1
    shutdown_timeout: float = 30.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve_app(
    app: ProxyApp,
    sock: socket.socket,
    options: ServeOptions,
    announce: Callable[[], None] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Start the app, then take connections; serve until SIGTERM/SIGINT, then let
    in-flight work finish (bounded) and return 0."""
    config = app.config
    server = HTTPServer(
        app,
        error_responder=protocol_error,
        max_body_size=config.max_request_body_bytes,
        limits=config.server_limits,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The app first: until its spend writer is up, a request's spend row would have
    # nowhere to go. Connections wait in the listening socket's backlog meanwhile (with
    # ``--workers N`` the banner is out before the workers start, so clients come early).
    await app.start()
    await server.start(sock=sock)
    app.watch_connections(lambda: server.open_connections)
    app.ready = True
    if announce is not None:  # only once a signal can stop us cleanly
        announce()
    with _serving_gc():
        await stop.wait()
    log.info("shutting down: draining %d in-flight request(s)", server.in_flight)
    app.ready = False
    await server.shutdown(options.shutdown_timeout)
    await app.aclose(min(DRAIN_TIMEOUT, options.shutdown_timeout))
    if on_stop is not None:
        await on_stop()
    log.info("stopped")
    return 0


@contextlib.contextmanager
def _serving_gc() -> Iterator[None]:
    """Fewer, cheaper collections while serving: the start-up objects (config, routes,
    modules) are frozen out of every collection, and gen-0 runs every 10,000 allocations
    instead of 700 (a request makes few cycles; the collections cost CPU per request)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def run_workers(
    options: ServeOptions,
    sock: socket.socket,
    run_one: Callable[[], int],
    policy: RestartPolicy | None = None,
) -> int:
    """Fork ``options.workers`` processes that share ``sock`` and supervise them: a worker
    that dies is replaced (``tokenway.proxy.supervisor``); SIGTERM drains them all."""
    return Supervisor(options.workers, sock, run_one, policy).run()


def fail(message: str) -> int:
    print(f"tokenway: {message}", file=sys.stderr)
    return 2
