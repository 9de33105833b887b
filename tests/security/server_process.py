"""tokenway's HTTP server alone in a subprocess (uvloop, as the proxy runs it), so that the
attack tests can read its memory from /proc without the test process's own in the way."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SERVER = """
import asyncio, signal, sys
from tokenway.http.server import HTTPServer, Response, install_uvloop

async def ok(request):
    return Response(200, [("content-type", "text/plain")], b"ok")

async def main():
    server = HTTPServer(ok)
    await server.start("127.0.0.1", 0)
    print(server.port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.shutdown(1)

install_uvloop()
asyncio.run(main())
"""


@contextmanager
def server_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A running server with the default limits; yields the process and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def rss_bytes(pid: int) -> int:
    """The process's resident set size (VmRSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def settle_rss(pid: int, rounds: int = 5) -> int:
    """The RSS once it stops moving (the allocator returns pages a little after a close)."""
    last = rss_bytes(pid)
    for _ in range(rounds):
        time.sleep(0.1)
        now = rss_bytes(pid)
        if now == last:
            break
        last = now
    return last
