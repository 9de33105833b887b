"""LiteLLM's answer shapes next to tokenway's, both against the same emulator.

Checks what issue 17 says must be LiteLLM's shape, by asking LiteLLM itself (never by
copying its code): the keys of ``_hidden_params``, ``get_supported_openai_params``'s list,
what callbacks are called with (functions and CustomLogger objects, success and failure,
sync and async), ``model_cost``'s row keys, the mock's answer, the signatures of
``token_counter`` and ``stream_chunk_builder``. LiteLLM runs in its own virtualenv (a
child process) pointed at the emulator with ``openai/`` and ``api_base``; tokenway runs
here against the same emulator.

Usage (from the project root; the LiteLLM venv is gitignored and large, delete it after)::

    python3 -m venv bench/.venv-litellm
    bench/.venv-litellm/bin/pip install litellm==1.100.5
    .venv/bin/python bench/litellm_shapes.py --litellm-python bench/.venv-litellm/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

KEY = "shapes-key"
UPSTREAM = "meta-llama/llama-3.1-8b-instruct/fp-16"
MSGS = [{"role": "user", "content": "Say hi"}]

# Run by LiteLLM's interpreter: prints one JSON object of shapes. Only LiteLLM's public API.
LITELLM_PROBE = r"""
import asyncio, inspect, json, sys, time
import litellm
from litellm.integrations.custom_logger import CustomLogger

base, key, upstream = sys.argv[1], sys.argv[2], sys.argv[3]
model = "openai/" + upstream
msgs = [{"role": "user", "content": "Say hi"}]
out = {}
r = litellm.completion(model=model, messages=msgs, api_base=base, api_key=key, max_tokens=5)
out["hidden_params_keys"] = sorted(r._hidden_params)
out["supported_params_openai"] = litellm.get_supported_openai_params(
    model="gpt-4o", custom_llm_provider="openai")
out["supported_params_unknown_provider"] = litellm.get_supported_openai_params(
    model="x", custom_llm_provider="no-such-provider")
out["model_cost_row_keys"] = sorted(litellm.model_cost["gpt-4o"])
seen = {}
def on_success(kwargs, response, start, end):
    seen.setdefault("success_fn", []).append(
        [sorted(kwargs), type(response).__name__, type(start).__name__, type(end).__name__])
def on_failure(kwargs, response, start, end):
    seen.setdefault("failure_fn", []).append(
        [type(kwargs.get("exception")).__name__, repr(response), type(start).__name__])
class Logger(CustomLogger):
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        seen.setdefault("logger", []).append("log_success_event")
    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        seen.setdefault("logger", []).append("log_failure_event:" + repr(response_obj))
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        seen.setdefault("logger", []).append("async_log_success_event")
    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        seen.setdefault("logger", []).append("async_log_failure_event")
litellm.success_callback = [on_success]
litellm.failure_callback = [on_failure]
litellm.callbacks = [Logger()]
litellm.completion(model=model, messages=msgs, api_base=base, api_key=key, max_tokens=5)
try:
    litellm.completion(model=model, messages=msgs, api_base=base, api_key="wrong", num_retries=0)
except Exception as e:
    out["failure_exception"] = type(e).__name__
time.sleep(2)
out["sync_callbacks"] = {k: v for k, v in seen.items()}
seen.clear()
async def main():
    await litellm.acompletion(model=model, messages=msgs, api_base=base, api_key=key, max_tokens=5)
    await asyncio.sleep(2)
asyncio.run(main())
out["async_callbacks"] = {k: (v if k != "success_fn" else len(v)) for k, v in seen.items()}
litellm.success_callback = []; litellm.failure_callback = []; litellm.callbacks = []
try:
    litellm.success_callback = ["no-such-integration"]
    litellm.completion(model=model, messages=msgs, mock_response="x")
    out["unknown_named_callback"] = "accepted"
except Exception as e:
    out["unknown_named_callback"] = type(e).__name__
litellm.success_callback = []
m = litellm.completion(model=model, messages=msgs, mock_response="hello there")
out["mock"] = {"content": m.choices[0].message.content, "usage": dict(m.usage),
               "finish_reason": m.choices[0].finish_reason,
               "hidden_params_keys": sorted(m._hidden_params)}
chunks = list(litellm.completion(model=model, messages=msgs, mock_response="one two", stream=True))
out["mock_stream_pieces"] = [c.choices[0].delta.content for c in chunks if c.choices]
for name, exc in [("exception", ValueError("boom")), ("ratelimit", "litellm.RateLimitError")]:
    try:
        litellm.completion(model=model, messages=msgs, mock_response=exc)
    except Exception as e:
        out["mock_" + name] = [type(e).__name__, getattr(e, "status_code", None)]
t0 = time.monotonic()
try:
    litellm.completion(model=model, messages=msgs, mock_response="x", mock_timeout=True,
                       timeout=0.2)
except Exception as e:
    out["mock_timeout"] = [type(e).__name__, round(time.monotonic() - t0, 1)]
tc = litellm.completion(model=model, messages=msgs, mock_tool_calls=[
    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
out["mock_tool_calls"] = [tc.choices[0].finish_reason, tc.choices[0].message.tool_calls[0].id]
out["custom_llm_provider"] = litellm.completion(
    model=upstream, custom_llm_provider="openai", messages=msgs, api_base=base, api_key=key,
    max_tokens=5)._hidden_params.get("custom_llm_provider")
out["sig_token_counter"] = list(inspect.signature(litellm.token_counter).parameters)
out["sig_stream_chunk_builder"] = list(inspect.signature(litellm.stream_chunk_builder).parameters)
out["sig_get_supported_openai_params"] = list(
    inspect.signature(litellm.get_supported_openai_params).parameters)
out["sig_supports_function_calling"] = list(
    inspect.signature(litellm.supports_function_calling).parameters)
litellm.drop_params = True
try:
    litellm.completion(model=model, messages=msgs, api_base=base, api_key=key, max_tokens=5,
                       logit_bias={"1": 1})
    out["drop_params_module"] = "ok"
except Exception as e:
    out["drop_params_module"] = type(e).__name__
print("SHAPES " + json.dumps(out, default=str))
"""


def litellm_shapes(python: str, base: str) -> dict[str, Any]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no price map download
    done = subprocess.run(
        [python, "-c", LITELLM_PROBE, base, KEY, UPSTREAM],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    for line in done.stdout.splitlines():
        if line.startswith("SHAPES "):
            return json.loads(line[len("SHAPES ") :])  # type: ignore[no-any-return]
    raise SystemExit(f"LiteLLM probe failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def tokenway_shapes(base: str) -> dict[str, Any]:
    import tokenway

    model = "openai_compatible/" + UPSTREAM
    call = {"api_base": base, "api_key": KEY}
    out: dict[str, Any] = {}
    r = tokenway.completion(model, MSGS, max_tokens=5, **call)
    out["hidden_params_keys"] = sorted(r._hidden_params)
    out["supported_params_openai"] = tokenway.get_supported_openai_params(
        "gpt-4o", custom_llm_provider="openai"
    )
    out["supported_params_unknown_provider"] = tokenway.get_supported_openai_params(
        "x", custom_llm_provider="no-such-provider"
    )
    out["model_cost_row_keys"] = sorted(tokenway.model_cost["inference/" + UPSTREAM])
    out.update(_callback_shapes(base, model, call))
    out.update(_mock_and_setting_shapes(model, call))
    return out


def _callback_shapes(base: str, model: str, call: dict[str, str]) -> dict[str, Any]:
    """What callbacks are called with, after sync and async calls."""
    import tokenway
    from tokenway import reporting, settings

    out: dict[str, Any] = {}
    seen: dict[str, list[Any]] = {}

    def on_success(kwargs: Any, response: Any, start: Any, end: Any) -> None:
        row = [sorted(kwargs), type(response).__name__, type(start).__name__, type(end).__name__]
        seen.setdefault("success_fn", []).append(row)

    def on_failure(kwargs: Any, response: Any, start: Any, end: Any) -> None:
        row = [type(kwargs.get("exception")).__name__, repr(response), type(start).__name__]
        seen.setdefault("failure_fn", []).append(row)

    class Logger:
        def log_success_event(self, kwargs: Any, response_obj: Any, **_: Any) -> None:
            seen.setdefault("logger", []).append("log_success_event")

        def log_failure_event(self, kwargs: Any, response_obj: Any, **_: Any) -> None:
            seen.setdefault("logger", []).append("log_failure_event:" + repr(response_obj))

        async def async_log_success_event(self, kwargs: Any, response_obj: Any, **_: Any) -> None:
            seen.setdefault("logger", []).append("async_log_success_event")

        async def async_log_failure_event(self, kwargs: Any, response_obj: Any, **_: Any) -> None:
            seen.setdefault("logger", []).append("async_log_failure_event")

    tokenway.success_callback = [on_success]
    tokenway.failure_callback = [on_failure]
    tokenway.callbacks = [Logger()]
    tokenway.completion(model, MSGS, max_tokens=5, **call)
    try:
        tokenway.completion(model, MSGS, api_base=base, api_key="wrong", num_retries=0)
    except Exception as e:
        out["failure_exception"] = type(e).__name__
    reporting.flush()
    out["sync_callbacks"] = dict(seen)
    seen.clear()

    async def main() -> None:
        await tokenway.acompletion(model, MSGS, max_tokens=5, **call)
        await reporting.aflush()

    asyncio.run(main())
    out["async_callbacks"] = {k: (v if k != "success_fn" else len(v)) for k, v in seen.items()}
    settings.reset()
    try:
        tokenway.success_callback = ["no-such-integration"]
        out["unknown_named_callback"] = "accepted"
    except Exception as e:
        out["unknown_named_callback"] = type(e).__name__
    return out


def _mock_and_setting_shapes(model: str, call: dict[str, str]) -> dict[str, Any]:
    """Mocks, custom_llm_provider, signatures and a module setting."""
    import tokenway
    from tokenway import settings

    out: dict[str, Any] = {}
    m = tokenway.completion(model, MSGS, mock_response="hello there")
    out["mock"] = {
        "content": m.choices[0].message.content,
        "usage": m.usage.model_dump() if m.usage else None,
        "finish_reason": m.choices[0].finish_reason,
        "hidden_params_keys": sorted(m._hidden_params),
    }
    chunks = list(tokenway.completion(model, MSGS, mock_response="one two", stream=True))
    out["mock_stream_pieces"] = [c.choices[0].delta.content for c in chunks if c.choices]
    for name, exc in [("exception", ValueError("boom")), ("ratelimit", "litellm.RateLimitError")]:
        try:
            tokenway.completion(model, MSGS, mock_response=exc, num_retries=0)
        except Exception as e:
            out["mock_" + name] = [type(e).__name__, getattr(e, "status_code", None)]
    import time

    t0 = time.monotonic()
    try:
        tokenway.completion(model, MSGS, mock_response="x", mock_timeout=True, timeout=0.2)
    except Exception as e:
        out["mock_timeout"] = [type(e).__name__, round(time.monotonic() - t0, 1)]
    tool = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tc = tokenway.completion(model, MSGS, mock_tool_calls=[tool])
    calls = tc.choices[0].message.tool_calls or []
    out["mock_tool_calls"] = [tc.choices[0].finish_reason, calls[0].id]
    bare = tokenway.completion(
        UPSTREAM, MSGS, custom_llm_provider="openai_compatible", max_tokens=5, **call
    )
    out["custom_llm_provider"] = bare._hidden_params["custom_llm_provider"]
    for name, fn in [
        ("token_counter", tokenway.token_counter),
        ("stream_chunk_builder", tokenway.stream_chunk_builder),
        ("get_supported_openai_params", tokenway.get_supported_openai_params),
        ("supports_function_calling", tokenway.supports_function_calling),
    ]:
        out[f"sig_{name}"] = list(inspect.signature(fn).parameters)
    tokenway.drop_params = True
    try:
        tokenway.completion(model, MSGS, max_tokens=5, logit_bias={"1": 1}, **call)
        out["drop_params_module"] = "ok"
    except Exception as e:
        out["drop_params_module"] = type(e).__name__
    settings.reset()
    return out


def compare(theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    for key in theirs:
        a, b = theirs[key], ours.get(key)
        print(f"\n## {key}")
        if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
            print(f"  LiteLLM only : {sorted(set(a) - set(b))}")
            print(f"  tokenway only: {sorted(set(b) - set(a))}")
            print(f"  both         : {len(set(a) & set(b))}")
        else:
            print(textwrap.indent(f"LiteLLM : {json.dumps(a, default=str)}", "  "))
            print(textwrap.indent(f"tokenway: {json.dumps(b, default=str)}", "  "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--litellm-python", required=True, help="python of a litellm venv")
    args = parser.parse_args(argv)
    from tokenway.emulator import EmulatorConfig, run_emulator_in_thread

    with run_emulator_in_thread(EmulatorConfig(api_keys=(KEY,), rpm=1_000_000)) as emulator:
        theirs = litellm_shapes(args.litellm_python, emulator.base_url)
        ours = tokenway_shapes(emulator.base_url)
    version = subprocess.run(
        [args.litellm_python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"LiteLLM {version} vs tokenway, both against the emulator over loopback")
    compare(theirs, ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
