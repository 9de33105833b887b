"""Shared by the tokenway.http tests: a self-signed certificate for the HTTPS tests.

The helper modules next to the tests get pytest's assertion rewriting, like the tests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.register_assert_rewrite(
    "tests.http.aclient_helpers", "tests.http.sclient_helpers", "tests.http.server_helpers"
)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-keyout", str(key), "-out", str(crt), "-days", "1", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, crt
