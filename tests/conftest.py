"""Shared fixtures: a real Inference.net emulator on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenway.emulator import Emulator, EmulatorConfig, FaultConfig, run_emulator_in_thread

EMULATOR_KEY = "emulator-test-key"


@pytest.fixture(scope="session")
def sdk_emulator() -> Iterator[Emulator]:
    with run_emulator_in_thread(EmulatorConfig(api_keys=(EMULATOR_KEY,), rpm=1_000_000)) as emu:
        yield emu


@pytest.fixture
def inference_env(sdk_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """INFERENCE_API_KEY / INFERENCE_API_BASE pointing at the emulator, faults cleared."""
    monkeypatch.setenv("INFERENCE_API_KEY", EMULATOR_KEY)
    monkeypatch.setenv("INFERENCE_API_BASE", sdk_emulator.base_url)
    sdk_emulator.faults = FaultConfig()
    yield sdk_emulator
    sdk_emulator.faults = FaultConfig()
