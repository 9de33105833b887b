"""Logging in to a running proxy's admin UI over real HTTP (httpx), as a browser would."""

from __future__ import annotations

import re

import httpx
from tests.proxy.conftest import MASTER_KEY

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def logged_in(base_url: str, master_key: str = MASTER_KEY) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the page's CSRF token."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)
    answer = client.post("/ui/login", data={"master_key": master_key})
    assert answer.status_code == 303, answer.text
    page = client.get("/ui")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found is not None
    return client, found.group(1)
