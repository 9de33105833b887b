"""Importing tokenway is cheap and never touches the network."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_NETWORK = """
import socket
calls = []
def refuse(*args, **kwargs):
    calls.append(args)
    raise OSError("network blocked by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
"""


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCK_NETWORK) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_loads_no_engine_and_no_network() -> None:
    out = run(
        """
        import sys
        import tokenway
        heavy = [m for m in ("asyncio", "tokenway.client", "tokenway.http.aclient", "orjson")
                 if m in sys.modules]
        print(heavy, calls)
        """
    )
    assert out.strip() == "[] []"


def test_sdk_and_proxy_set_up_without_network() -> None:
    out = run(
        """
        from tokenway import Client, completion
        from tokenway.proxy.app import create_app
        from tokenway.proxy.config import parse_config
        Client()
        config = parse_config({"model_list": [{"model_name": "m", "litellm_params": {
            "model": "inference/meta-llama/llama-3.1-8b-instruct/fp-16", "api_key": "k"}}]}, env={})
        create_app(config, env={})
        print(calls)
        """
    )
    assert out.strip() == "[]"
