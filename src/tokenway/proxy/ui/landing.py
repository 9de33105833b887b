"""``GET /``: what this proxy serves and how to call it; ``GET /docs``: the API reference,
drawn in the browser from the proxy's own ``/openapi.json`` (``static/docs.js``).

The snippets name this proxy by the request's ``Host`` header, printed only when it is a
plain host[:port] (``echo.echoable_host``); otherwise they name a placeholder. The scheme
is https only when a TLS-terminating proxy says so (``x-forwarded-proto``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from tokenway.http.server import Request, Response
from tokenway.proxy.echo import echoable_host
from tokenway.proxy.ui.assets import Template
from tokenway.proxy.ui.http import html_response

PLACEHOLDER_HOST = "127.0.0.1:4000"


class Landing:
    """``status()``: the readiness word (``ready``, ``starting``, ``degraded``)."""

    def __init__(
        self,
        landing: Template,
        docs: Template,
        aliases: Sequence[str],
        status: Callable[[], str],
    ) -> None:
        self._landing = landing
        self._docs = docs
        self._aliases = list(aliases)
        self._status = status

    async def home(self, request: Request) -> Response:
        base = base_url(request)
        model = self._aliases[0] if self._aliases else "your-model"
        items = "".join(f"<li><code>{html.escape(alias)}</code></li>" for alias in self._aliases)
        status = self._status()
        return html_response(
            self._landing.render(
                {"models": items or "<li>No models are configured.</li>"},
                base=base,
                model=model,
                status=status,
                status_class="ok" if status == "ready" else "warn",
                count=str(len(self._aliases)),
            )
        )

    async def docs(self, request: Request) -> Response:
        return html_response(self._docs.render(base=base_url(request)))


def base_url(request: Request) -> str:
    host = echoable_host(request.headers.get("host")) or PLACEHOLDER_HOST
    https = request.headers.get("x-forwarded-proto", "").lower() == "https"
    return f"{'https' if https else 'http'}://{host}"
