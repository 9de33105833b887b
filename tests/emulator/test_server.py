"""Starting and stopping emulators in-process and in a thread."""

from __future__ import annotations

import asyncio
import socket
import time

import openai
import pytest

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread

from .raw_http import HELLO, KEY, MODEL, raw_request


async def test_an_emulator_in_the_running_loop_serves_the_async_sdk() -> None:
    emulator = Emulator(EmulatorConfig(api_keys=(KEY,)))
    await emulator.start()
    try:
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/v1"
        async with openai.AsyncOpenAI(
            base_url=emulator.base_url, api_key=KEY, max_retries=0
        ) as sdk:
            response = await sdk.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
            assert response.choices[0].message.content
            emulator.faults = FaultConfig(hang=True)
            with pytest.raises(openai.APITimeoutError):
                await sdk.chat.completions.create(model=MODEL, messages=HELLO, timeout=0.1)  # type: ignore[arg-type]
    finally:
        await emulator.stop()
    assert emulator.requests_total >= 1


async def test_stop_does_not_wait_for_hanging_requests() -> None:
    emulator = Emulator(EmulatorConfig(api_keys=(KEY,), faults=FaultConfig(hang=True)))
    await emulator.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n\r\n"
    )
    await writer.drain()
    while not emulator.app.hanging:
        await asyncio.sleep(0.005)
    started = time.perf_counter()
    await emulator.stop()
    assert time.perf_counter() - started < 1.0
    assert await reader.read() == b""  # dropped without an answer
    writer.close()


async def test_start_twice_is_an_error_and_stop_twice_is_fine() -> None:
    emulator = Emulator(EmulatorConfig(api_keys=(KEY,)))
    await emulator.start()
    with pytest.raises(RuntimeError):
        await emulator.start()
    await emulator.stop()
    await emulator.stop()
    with pytest.raises(RuntimeError):
        _ = emulator.port


def test_the_thread_helper_serves_and_stops() -> None:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(KEY,))) as emulator:
        port = emulator.port
        assert raw_request(emulator, "GET", "/v1/models").status == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
