"""The UI's files, shipped inside the package (``tokenway/proxy/ui/static``) and read once
at start: ES modules, one stylesheet, and the HTML pages with ``{{name}}`` slots that
``render`` fills with escaped text. Nothing is fetched from anywhere else."""

from __future__ import annotations

import html
from collections.abc import Mapping
from importlib import resources

from tokenway.http.server import Response
from tokenway.proxy.ui.http import SECURITY_HEADERS

STATIC_PREFIX = "/ui/static/"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Assets may change with an upgrade, and their names do not: revalidate after a short while.
_CACHE = ("cache-control", "max-age=300")


def static_files() -> dict[str, bytes]:
    """Every file of the static folder by name (``app.js``), HTML pages included."""
    folder = resources.files("tokenway.proxy.ui").joinpath("static")
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


def asset_responses(files: Mapping[str, bytes]) -> dict[str, Response]:
    """``/ui/static/<name>`` → its response, for the files a browser loads as they are."""
    served: dict[str, Response] = {}
    for name, body in files.items():
        kind = _TYPES.get(name[name.rfind(".") :])
        if kind is not None:
            headers = [("content-type", kind), _CACHE, *SECURITY_HEADERS]
            served[STATIC_PREFIX + name] = Response(200, headers, body)
    return served


class Template:
    """An HTML page with ``{{name}}`` slots; every value is HTML-escaped when filled."""

    def __init__(self, source: bytes) -> None:
        self._text = source.decode()

    def render(self, fragments: Mapping[str, str] | None = None, **values: str) -> str:
        """``values`` are text (escaped here); ``fragments`` are HTML already built from
        escaped parts (``html.escape``) by the caller."""
        text = self._text
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", html.escape(value, quote=True))
        for name, fragment in (fragments or {}).items():
            text = text.replace("{{" + name + "}}", fragment)
        return text
