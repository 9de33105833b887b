from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest

from tokenway.emulator import Emulator, EmulatorConfig, run_emulator_in_thread

from .raw_http import KEY

StartEmulator = Callable[..., Emulator]


@pytest.fixture
def start_emulator() -> Iterator[StartEmulator]:
    """Start emulators (in threads) with `EmulatorConfig` fields; all stop after the test."""
    with ExitStack() as stack:

        def start(clock: Callable[[], float] = time.monotonic, **fields: Any) -> Emulator:
            fields.setdefault("api_keys", (KEY,))
            config = EmulatorConfig(**fields)
            return stack.enter_context(run_emulator_in_thread(config, clock=clock))

        yield start


@pytest.fixture
def emulator(start_emulator: StartEmulator) -> Emulator:
    return start_emulator()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emulator.base_url, api_key=KEY, max_retries=0, timeout=5) as sdk:
        yield sdk
