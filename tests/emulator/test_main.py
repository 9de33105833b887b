"""`python -m tokenway.emulator` as a user runs it."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson

import tokenway
from tokenway.emulator import FaultConfig
from tokenway.emulator.__main__ import _config, _parser

BANNER = re.compile(
    r"^Inference\.net emulator \(a testing tool, not the real API\) listening on "
    r"(http://127\.0\.0\.1:(\d+)/v1)$"
)


def cli_env(**extra: str) -> dict[str, str]:
    source_root = str(Path(tokenway.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "INFERENCE_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return {**env, **extra}


def test_serves_until_sigterm_and_exits_zero() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tokenway.emulator",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--rpm",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        text=True,
    )
    try:
        assert process.stdout is not None
        match = BANNER.match(process.stdout.readline().strip())
        assert match, "banner missing"
        request = urllib.request.Request(
            match.group(1) + "/models", headers={"Authorization": "Bearer cli-key"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert len(orjson.loads(response.read())["data"]) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_refuses_to_start_without_a_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tokenway.emulator", "--port", "0"],
        capture_output=True,
        env=cli_env(),
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "--api-key" in result.stderr and "INFERENCE_API_KEY" in result.stderr


def test_every_fault_field_has_a_flag() -> None:
    flags = {action.dest for action in _parser()._actions}
    assert {field.name for field in dataclasses.fields(FaultConfig)} <= flags


def test_stream_and_hang_flags_reach_the_fault_config() -> None:
    argv = ["--hang", "--stream-cut-after", "3", "--stream-error-after", "2"]
    argv += ["--retry-after-s", "7", "--error-status", "503", "--seed", "4"]
    faults = _config(_parser().parse_args(argv), ("k",)).faults
    assert faults == FaultConfig(
        hang=True,
        stream_cut_after=3,
        stream_error_after=2,
        retry_after_s=7,
        error_status=503,
        seed=4,
    )
    assert _config(_parser().parse_args([]), ("k",)).faults == FaultConfig()
