"""SyncHTTPClient over real loopback sockets: HTTPS, and the URLs it accepts."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.http.sclient_helpers import Server, keep_alive
from tests.http.sclient_helpers import client as client  # a fixture
from tests.http.sclient_helpers import serve as serve  # a fixture

from tokenway.http.errors import ConnectError, parse_origin, split_url
from tokenway.http.sclient import SyncHTTPClient


def test_https(serve: Callable[..., Server], cert: tuple[Path, Path]) -> None:
    key, crt = cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    srv = serve(keep_alive(), server_ctx)
    with SyncHTTPClient(ssl_context=ssl.create_default_context(cafile=str(crt))) as client:
        for _ in range(2):
            assert client.request("GET", srv.url, timeout=2).read() == b"hello"
    assert srv.conns == 1
    with (
        SyncHTTPClient() as client,
        pytest.raises(ConnectError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"),
    ):
        client.request("GET", srv.url, timeout=2)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://h", ("http", "h", 80, "/")),
        ("HTTPS://Api.Example:8443/v1/x?y=/z#frag", ("https", "Api.Example", 8443, "/v1/x?y=/z")),
        ("http://h?q=1", ("http", "h", 80, "/?q=1")),
        ("https://[::1]:9/p", ("https", "::1", 9, "/p")),
    ],
)
def test_url_helpers(url: str, parts: tuple[object, ...]) -> None:
    origin, target = split_url(url)
    scheme, host, port, _ = parse_origin(origin)
    assert (scheme, host, port, target) == parts


@pytest.mark.parametrize(
    "url",
    ["/relative", "ftp://h/", "http://user:pw@h/", "http://h:99999/", "http://h:x/", "http://"],
)
def test_bad_urls(url: str, client: SyncHTTPClient) -> None:
    with pytest.raises(ValueError):
        client.request("GET", url)
