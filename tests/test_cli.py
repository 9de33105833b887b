"""``tokenway --config``: start, serve, refuse unsafe setups, drain on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from openai import AuthenticationError, OpenAI
from tests.conftest import EMULATOR_KEY

from tokenway.emulator import Emulator, FaultConfig

BRIEF_CONFIG = (Path(__file__).parent / "fixtures" / "brief" / "config.yaml").read_text()
MASTER = "sk-cli-test-master"


def tokenway_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tokenway.cli", *args]


@contextmanager
def started(
    args: list[str], env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        banner = ""
        deadline = time.monotonic() + 10
        while "RUNNING on" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
        match = re.search(r"RUNNING on (http://\S+)", banner)
        assert match, f"no banner: {banner!r} {proc.stderr.read() if proc.stderr else ''}"
        yield proc, match.group(1), banner
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy keeps its SQLite file and spend journal in its working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(BRIEF_CONFIG + f"general_settings:\n  master_key: {MASTER}\n")
    return path


@pytest.fixture
def env(sdk_emulator: Emulator) -> dict[str, str]:
    sdk_emulator.faults = FaultConfig()
    return {
        **os.environ,
        "INFERENCE_API_KEY": EMULATOR_KEY,
        "INFERENCE_API_BASE": sdk_emulator.base_url,
    }


def test_brief_config_serves_and_stops_cleanly(config_file: Path, env: dict[str, str]) -> None:
    args = tokenway_cmd("--config", str(config_file), "--host", "127.0.0.1", "--port", "0")
    with started(args, env) as (proc, url, _banner):
        client = OpenAI(base_url=url, api_key=MASTER, max_retries=0)
        answer = client.chat.completions.create(
            model="llama-3.2-3b-instruct", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.model == "llama-3.2-3b-instruct"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_sigterm_lets_an_open_stream_finish(
    config_file: Path, env: dict[str, str], sdk_emulator: Emulator
) -> None:
    args = tokenway_cmd("--config", str(config_file), "--host", "127.0.0.1", "--port", "0")
    with started(args, env) as (proc, url, _banner):
        sdk_emulator.faults = FaultConfig(chunk_delay_ms=40)
        client = OpenAI(base_url=url, api_key=MASTER, max_retries=0)
        stream = client.chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=[{"role": "user", "content": "tell me a story"}],
            stream=True,
        )
        chunks = [next(iter(stream))]
        proc.send_signal(signal.SIGTERM)
        chunks.extend(stream)
        sdk_emulator.faults = FaultConfig()
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        assert proc.wait(10) == 0


def test_no_master_key_refuses_a_public_address(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "open.yaml"
    path.write_text(BRIEF_CONFIG)
    env.pop("LITELLM_MASTER_KEY", None)
    done = subprocess.run(
        tokenway_cmd("--config", str(path), "--host", "0.0.0.0", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert "without a master key" in done.stderr


def test_missing_variable_is_named(config_file: Path, env: dict[str, str]) -> None:
    env.pop("INFERENCE_API_KEY")
    done = subprocess.run(
        tokenway_cmd("--config", str(config_file), "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert "INFERENCE_API_KEY" in done.stderr


def test_demo_mode_says_so_and_answers(env: dict[str, str]) -> None:
    with started(tokenway_cmd("--demo", "--port", "0"), env) as (proc, url, banner):
        # the banner prints this run's master key, for the UI and the management API
        found = re.search(r"master key \(this run only\): (sk-demo-[\w-]+)", banner)
        assert found, banner
        master_key = found.group(1)
        client = OpenAI(base_url=url, api_key=master_key, max_retries=0)
        answer = client.chat.completions.create(
            model="mistral-nemo-12b-instruct", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
        stranger = OpenAI(base_url=url, api_key="anything", max_retries=0)
        with pytest.raises(AuthenticationError):
            stranger.models.list()
        made = httpx.post(
            url + "/key/generate", headers={"authorization": f"Bearer {master_key}"}, json={}
        )
        assert made.status_code == 200 and made.json()["key"].startswith("sk-")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert "DEMO MODE" in banner and "emulator" in banner
    assert f"{url}/ui" in banner


def test_emulator_subcommand_starts_the_emulator() -> None:
    args = tokenway_cmd("emulator", "--port", "0", "--api-key", "k")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "Inference.net emulator" in line and "not the real API" in line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_workers_share_the_port_and_stop_together(config_file: Path, env: dict[str, str]) -> None:
    args = tokenway_cmd(
        "--config", str(config_file), "--host", "127.0.0.1", "--port", "0", "--workers", "2"
    )
    with started(args, env) as (proc, url, _banner):
        client = OpenAI(base_url=url, api_key=MASTER, max_retries=0)
        for _ in range(4):
            assert client.models.list().data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    done = subprocess.run(tokenway_cmd("--version"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tokenway {version('tokenway')}"


def test_help_lists_the_subcommands() -> None:
    done = subprocess.run(tokenway_cmd("--help"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "tokenway emulator" in done.stdout and "tokenway migrate" in done.stdout
    assert "--config" in done.stdout and "--demo" in done.stdout


def test_emulator_subcommand_help_names_itself() -> None:
    done = subprocess.run(
        tokenway_cmd("emulator", "--help"), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: tokenway emulator")
    assert "--api-key" in done.stdout
