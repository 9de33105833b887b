"""An OTLP/HTTP receiver in the test process: it decodes what the proxy exports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.posts: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                span
                for post in self.posts
                for resource in post["resourceSpans"]
                for scope in resource["scopeSpans"]
                for span in scope["spans"]
            ]

    def trace(self, trace_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The spans of ``trace_id``, once ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            spans = [s for s in self.spans() if s["traceId"] == trace_id]
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.05)


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    """An OTLP span's attributes as plain values."""
    out = {}
    for item in span["attributes"]:
        ((kind, value),) = item["value"].items()
        out[item["key"]] = int(value) if kind == "intValue" else value
    return out


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            receiver = holder["receiver"]
            with receiver.lock:
                receiver.content_types.append(self.headers["content-type"])
                if self.path == "/v1/traces":
                    receiver.posts.append(orjson.loads(body))
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
