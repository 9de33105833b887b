"""Module-level settings (``tokenway.drop_params = True`` & co.): read by each call, or refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import tokenway
from tokenway import settings
from tokenway.emulator import Emulator, FaultConfig
from tokenway.errors import AuthenticationError, Timeout, UnsupportedParamsError

MODEL = "inference/meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    settings.reset()
    yield
    settings.reset()


def test_drop_params_is_read_at_call_time(inference_env: Emulator) -> None:
    with pytest.raises(UnsupportedParamsError):
        tokenway.completion(MODEL, MSGS, logit_bias={"1": 1.0})
    tokenway.drop_params = True
    assert tokenway.drop_params is True
    answer = tokenway.completion(MODEL, MSGS, logit_bias={"1": 1.0}, max_tokens=5)
    assert answer.choices[0].message.role == "assistant"
    # A call's own value wins over the module's.
    with pytest.raises(UnsupportedParamsError):
        tokenway.completion(MODEL, MSGS, logit_bias={"1": 1.0}, drop_params=False)


def test_api_key_and_api_base_are_used_when_the_call_names_none(
    inference_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "emulator-test-key"
    monkeypatch.delenv("INFERENCE_API_KEY")
    monkeypatch.delenv("INFERENCE_API_BASE")
    tokenway.api_key = key
    tokenway.api_base = inference_env.base_url
    answer = tokenway.completion(MODEL, MSGS, max_tokens=5)
    assert answer._hidden_params["api_base"] == inference_env.base_url
    tokenway.api_key = "wrong"
    with pytest.raises(AuthenticationError):
        tokenway.completion(MODEL, MSGS, max_tokens=5, num_retries=0)
    assert tokenway.completion(MODEL, MSGS, max_tokens=5, api_key=key).choices


def test_num_retries_and_request_timeout(inference_env: Emulator) -> None:
    tokenway.num_retries = 0
    tokenway.request_timeout = 0.05
    with pytest.raises(Timeout):
        tokenway.completion(MODEL, MSGS, mock_response="x", mock_timeout=True)
    inference_env.faults = FaultConfig(fail_first_n=1, error_status=503)
    with pytest.raises(tokenway.ServiceUnavailableError):
        tokenway.completion(MODEL, MSGS, max_tokens=5, timeout=30)
    inference_env.faults = FaultConfig(fail_first_n=1, error_status=503)
    tokenway.num_retries = 2
    assert tokenway.completion(MODEL, MSGS, max_tokens=5, timeout=30).choices


def test_set_verbose_logs_the_tokenway_logger_at_debug() -> None:
    tokenway.set_verbose = True
    assert logging.getLogger("tokenway").level == logging.DEBUG
    tokenway.set_verbose = False
    assert logging.getLogger("tokenway").level == logging.NOTSET


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("drop_params", "yes"),
        ("num_retries", -1),
        ("num_retries", True),
        ("request_timeout", 0),
        ("api_key", 3),
        ("set_verbose", 1),
        ("success_callback", "langfuse"),
    ],
)
def test_wrong_values_are_refused(name: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        setattr(tokenway, name, value)


def test_settings_tokenway_does_not_have_are_refused_loudly() -> None:
    with pytest.raises(AttributeError, match=r"no module setting 'cache'.*response cache"):
        tokenway.cache = object()
    with pytest.raises(AttributeError, match="drop_params, num_retries"):
        tokenway.modify_params = True
    assert "cache" not in vars(tokenway)


def test_module_functions_and_submodules_can_still_be_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokenway, "completion", lambda *a, **k: "patched")
    assert tokenway.completion() == "patched"  # type: ignore[call-overload]
    tokenway._private_marker = 1  # private names are the caller's business
    assert tokenway._private_marker == 1
    del tokenway._private_marker


def test_set_verbose_shows_each_call(capsys: pytest.CaptureFixture[str]) -> None:
    tokenway.set_verbose = True
    tokenway.completion(MODEL, MSGS, mock_response="hi", api_key="secret-key-value")
    err = capsys.readouterr().err
    assert f"DEBUG tokenway.client: chat {MODEL} via mock" in err
    assert "secret-key-value" not in err
