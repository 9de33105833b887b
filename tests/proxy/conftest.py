"""A real proxy on a loopback port, in front of a real emulator, for end-to-end tests."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread
from tokenway.http.server import HTTPServer
from tokenway.proxy.app import ProxyApp, create_app, protocol_error
from tokenway.proxy.config import ProxyConfig, parse_config
from tokenway.proxy.pipeline import Wrap
from tokenway.retry import Backoff

MASTER_KEY = "sk-test-master-key"
UPSTREAM_KEY = "upstream-key"
BRIEF_MODELS = {
    "llama-3.1-8b-instruct": "inference/meta-llama/llama-3.1-8b-instruct/fp-16",
    "llama-3.2-3b-instruct": "inference/meta-llama/llama-3.2-3b-instruct/fp-16",
    "mistral-nemo-12b-instruct": "inference/mistralai/mistral-nemo-12b-instruct/fp-8",
}


@dataclass
class RunningProxy:
    app: ProxyApp
    port: int
    loop: asyncio.AbstractEventLoop
    server: HTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def proxy_config(
    api_base: str,
    master_key: str | None = MASTER_KEY,
    num_retries: int = 0,
    models: dict[str, str] | None = None,
    **general: Any,
) -> ProxyConfig:
    """One deployment per alias of ``models`` (alias → upstream model; BRIEF_MODELS by
    default), all on ``api_base``; ``general`` goes to general_settings."""
    entries = [
        {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY},
        }
        for alias, model in (BRIEF_MODELS if models is None else models).items()
    ]
    settings = {**general, **({"master_key": master_key} if master_key else {})}
    data = {
        "model_list": entries,
        "general_settings": settings,
        "litellm_settings": {"num_retries": num_retries},
    }
    return parse_config(data, env={})


@contextmanager
def running_proxy(
    config: ProxyConfig, backoff: Backoff | None = None, wraps: Sequence[Wrap] = ()
) -> Iterator[RunningProxy]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    data_dir = Path(tempfile.mkdtemp(prefix="tokenway-proxy-"))

    async def start() -> None:
        app = create_app(config, env={}, backoff=backoff, data_dir=data_dir, wraps=wraps)
        server = HTTPServer(
            app,
            error_responder=protocol_error,
            max_body_size=config.max_request_body_bytes,
            limits=config.server_limits,
        )
        await app.start()
        await server.start("127.0.0.1", 0)
        app.ready = True
        holder.update(app=app, server=server)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    started.wait(5)
    running = RunningProxy(holder["app"], holder["server"].port, loop, holder["server"])
    try:
        yield running
    finally:

        async def stop() -> None:
            await running.server.shutdown(2)
            await running.app.aclose()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(api_keys=(UPSTREAM_KEY,), rpm=100_000)
    with run_emulator_in_thread(config) as emu:
        yield emu


@pytest.fixture
def clean_emulator(emulator: Emulator) -> Iterator[Emulator]:
    emulator.faults = FaultConfig()
    yield emulator
    emulator.faults = FaultConfig()


@pytest.fixture(scope="module")
def proxy(emulator: Emulator) -> Iterator[RunningProxy]:
    with running_proxy(proxy_config(emulator.base_url)) as running:
        yield running
