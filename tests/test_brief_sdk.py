"""The product brief's SDK examples run as written, against the emulator over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import EMULATOR_KEY

from tokenway.emulator import Emulator

BRIEF = Path(__file__).parent / "fixtures" / "brief"


def run_example(name: str, emulator: Emulator) -> str:
    env = {**os.environ, "INFERENCE_API_KEY": EMULATOR_KEY, "INFERENCE_API_BASE": emulator.base_url}
    done = subprocess.run(
        [sys.executable, str(BRIEF / name)], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_non_streaming(sdk_emulator: Emulator) -> None:
    out = run_example("non_streaming.py", sdk_emulator)
    assert out.startswith("ChatCompletion(")
    assert "'role': 'assistant'" in out and "cost=" in out
    assert "model='meta-llama/llama-3.1-8b-instruct/fp-16'" in out


def test_streaming(sdk_emulator: Emulator) -> None:
    lines = run_example("streaming.py", sdk_emulator).splitlines()
    assert len(lines) > 3
    assert all(line.startswith("ChatCompletionChunk(") for line in lines)
    assert "'role': 'assistant'" in lines[0]
    assert "'finish_reason': 'stop'" in lines[-1] or "'finish_reason': 'length'" in lines[-1]
    assert not any("'usage'" in line for line in lines)  # not asked for


def test_function_calling(sdk_emulator: Emulator) -> None:
    out = run_example("function_calling.py", sdk_emulator)
    assert "'name': 'get_weather'" in out
    assert "'finish_reason': 'tool_calls'" in out
    assert "New York" in out


@pytest.mark.parametrize("name", ["non_streaming.py", "streaming.py", "function_calling.py"])
def test_examples_are_the_brief_with_litellm_replaced(name: str) -> None:
    text = (BRIEF / name).read_text()
    assert "litellm" not in text and "from tokenway import completion" in text
