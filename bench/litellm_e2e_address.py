"""A pytest plugin for ``bench/litellm_e2e.py``: LiteLLM's end-to-end tests, pointed at tokenway.

LiteLLM's tests write the proxy's address into each call (``http://0.0.0.0:4000``, a few
``http://localhost:4000``). This plugin changes only that address, to the one in
``LITELLM_E2E_PROXY`` (``http://127.0.0.1:<port>``), in the three HTTP clients they use
(aiohttp, httpx under the openai SDK, requests); nothing else in a request, and no
assertion, is touched.
"""

from __future__ import annotations

import os
from typing import Any

_TARGET = os.environ.get("LITELLM_E2E_PROXY", "").rstrip("/")
_WRITTEN = ("http://0.0.0.0:4000", "http://localhost:4000", "http://127.0.0.1:4000")


def readdress(url: str) -> str:
    """``url`` with LiteLLM's proxy address replaced by tokenway's."""
    for written in _WRITTEN:
        if url == written or url.startswith(written + "/") or url.startswith(written + "?"):
            return _TARGET + url[len(written) :]
    return url


def _patch_aiohttp() -> None:
    import aiohttp

    original = aiohttp.ClientSession._request

    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kw: Any) -> Any:
        return await original(self, method, readdress(str(str_or_url)), *args, **kw)

    aiohttp.ClientSession._request = _request  # type: ignore[method-assign]


def _patch_httpx() -> None:
    import httpx

    def moved(request: httpx.Request) -> None:
        new = readdress(str(request.url))
        if new != str(request.url):
            request.url = httpx.URL(new)
            request.headers["host"] = request.url.netloc.decode()

    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        moved(request)
        return sync_send(self, request)

    async def handle_async_request(self: Any, request: httpx.Request) -> httpx.Response:
        moved(request)
        return await async_send(self, request)

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]


def _patch_requests() -> None:
    import requests

    original = requests.Session.request

    def request(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
        return original(self, method, readdress(str(url)), *args, **kw)

    requests.Session.request = request  # type: ignore[method-assign]


def pytest_configure(config: Any) -> None:
    if not _TARGET:
        raise RuntimeError("LITELLM_E2E_PROXY is not set; run bench/litellm_e2e.py")
    _patch_aiohttp()
    _patch_httpx()
    _patch_requests()
