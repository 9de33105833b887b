"""The OpenAPI document lists every route the app serves, management ones included."""

from __future__ import annotations

from pathlib import Path

import orjson
from tests.proxy.conftest import proxy_config

from tokenway.proxy.app import create_app


def test_every_management_route_is_documented(tmp_path: Path) -> None:
    app = create_app(proxy_config("http://127.0.0.1:1/v1"), env={}, data_dir=tmp_path)
    document = orjson.loads(app._openapi().body)
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert set(app._admin) <= documented
    assert set(app._private) <= documented | {("GET", "/v1/models/{model}")}
    for method, path in app._admin:
        responses = document["paths"][path][method.lower()]["responses"]
        assert {"401", "403"} <= set(responses), path
