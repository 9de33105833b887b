"""The calls of the issue's table, as a LiteLLM SDK user writes them, with the import changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EMULATOR_KEY

from tokenway.emulator import Emulator

SCRIPT = Path(__file__).parent / "fixtures" / "litellm_user" / "calls.py"


def test_a_litellm_users_script_runs_with_the_import_changed(sdk_emulator: Emulator) -> None:
    env = {
        **os.environ,
        "INFERENCE_API_KEY": EMULATOR_KEY,
        "INFERENCE_API_BASE": sdk_emulator.base_url,
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "token_counter True",
        "params True",
        "supports True False",
        "model_cost 3e-08",
        "mock hello",
        "hidden inference True",
        "builder True",
        "embedding 1",
        "text True",
        "callbacks ['acompletion', 'async logger', 'completion', 'embedding', 'logger', "
        "'text_completion']",
    ]
