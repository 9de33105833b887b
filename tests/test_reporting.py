"""Callbacks (``tokenway.success_callback`` / ``failure_callback`` / ``callbacks``): functions and
CustomLogger-shaped objects, sync and async, called off the caller's path."""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import tokenway
from tokenway import reporting, settings
from tokenway.emulator import Emulator
from tokenway.errors import AuthenticationError

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


class Recorder:
    """A logger in LiteLLM's CustomLogger shape that records what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], Any]] = []
        self.threads: list[str] = []

    def _note(self, event: str, kwargs: dict[str, Any], response_obj: Any) -> None:
        self.events.append((event, kwargs, response_obj))
        self.threads.append(threading.current_thread().name)

    def log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        assert isinstance(start_time, datetime.datetime) and end_time >= start_time
        self._note("success", kwargs, response_obj)

    def log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._note("failure", kwargs, response_obj)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._note("async_success", kwargs, response_obj)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._note("async_failure", kwargs, response_obj)


def test_functions_get_kwargs_response_and_times(inference_env: Emulator) -> None:
    seen: list[tuple[Any, ...]] = []
    tokenway.success_callback = [lambda *args: seen.append(args)]
    answer = tokenway.completion(MODEL, MSGS, max_tokens=5, api_key="emulator-test-key")
    assert reporting.flush()
    [(kwargs, response, start, end)] = seen
    assert response is answer and start <= end
    assert kwargs["model"] == MODEL and kwargs["messages"] == MSGS
    assert kwargs["call_type"] == "completion" and kwargs["stream"] is False
    assert kwargs["optional_params"] == {"max_tokens": 5}  # the key is never handed over
    assert kwargs["response_cost"] == answer.cost and kwargs["custom_llm_provider"] == "inference"
    assert kwargs["litellm_call_id"] and kwargs["end_time"] == end


def test_a_failure_reaches_failure_callbacks_with_the_exception(inference_env: Emulator) -> None:
    seen: list[tuple[Any, ...]] = []
    logger = Recorder()
    tokenway.failure_callback = [lambda *args: seen.append(args)]
    tokenway.callbacks = [logger]
    with pytest.raises(AuthenticationError) as caught:
        tokenway.completion(MODEL, MSGS, api_key="wrong", num_retries=0)
    assert reporting.flush()
    [(kwargs, response, _, _)] = seen
    assert response is None and kwargs["exception"] is caught.value
    assert [e[0] for e in logger.events] == ["failure"]


def test_a_logger_object_runs_off_the_callers_thread(inference_env: Emulator) -> None:
    logger = Recorder()
    tokenway.callbacks = [logger]
    tokenway.completion(MODEL, MSGS, max_tokens=5)
    assert reporting.flush()
    assert [e[0] for e in logger.events] == ["success"]
    assert logger.threads == ["tokenway-callbacks"]


async def test_async_calls_call_the_async_methods_and_async_functions(
    inference_env: Emulator,
) -> None:
    logger = Recorder()
    seen: list[Any] = []
    plain: list[Any] = []

    async def on_success(kwargs: Any, response: Any, start: Any, end: Any) -> None:
        seen.append((kwargs["call_type"], response))

    tokenway.success_callback = [on_success, lambda k, r, s, e: plain.append(r)]
    tokenway.callbacks = [logger]
    answer = await tokenway.acompletion(MODEL, MSGS, max_tokens=5)
    await reporting.aflush()
    assert seen == [("acompletion", answer)] and plain == [answer]
    assert [e[0] for e in logger.events] == ["async_success"]


def test_a_stream_reports_once_it_ends_with_the_whole_answer(inference_env: Emulator) -> None:
    logger = Recorder()
    tokenway.callbacks = [logger]
    stream = tokenway.completion(MODEL, MSGS, max_tokens=8, stream=True)
    chunks = list(stream)
    assert reporting.flush()
    [(event, kwargs, whole)] = logger.events
    assert event == "success" and kwargs["stream"] is True
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].message.content == text
    assert whole.usage is not None and whole.cost == stream.cost


def test_a_callback_that_raises_is_logged_not_raised(
    inference_env: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("callback bug")

    tokenway.success_callback = [broken]
    with caplog.at_level(logging.ERROR, logger="tokenway.callbacks"):
        assert tokenway.completion(MODEL, MSGS, max_tokens=5).choices
        assert reporting.flush()
    assert "callback bug" in caplog.text


def test_named_integrations_are_refused_however_they_are_added() -> None:
    with pytest.raises(ValueError, match="'langfuse' is one of LiteLLM's named integrations"):
        tokenway.success_callback = ["langfuse"]
    with pytest.raises(ValueError, match="prometheus"):
        tokenway.callbacks.append("prometheus")
    with pytest.raises(ValueError):
        tokenway.failure_callback += ["sentry"]
    with pytest.raises(TypeError, match="neither a function nor a logger"):
        tokenway.callbacks.insert(0, 42)
    assert tokenway.callbacks == [] and tokenway.success_callback == []


def test_embedding_and_text_completion_report_too(inference_env: Emulator) -> None:
    seen: list[str] = []
    tokenway.success_callback = [lambda k, r, s, e: seen.append(k["call_type"])]
    tokenway.embedding("inference/qwen/qwen3-embedding-4b", "hello")
    tokenway.text_completion("Say hi", MODEL, max_tokens=5)
    assert reporting.flush()
    assert seen == ["embedding", "text_completion"]


def test_a_short_script_exits_after_its_callbacks_ran(tmp_path: Any) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import time, tokenway\n"
        "def slow(kwargs, response, start, end):\n"
        "    time.sleep(0.2)\n"
        "    print('called', kwargs['call_type'], response.choices[0].message.content)\n"
        "tokenway.success_callback = [slow]\n"
        f"tokenway.completion({MODEL!r}, [{{'role': 'user', 'content': 'hi'}}],"
        " mock_response='bye')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "called completion bye\n"
