"""Calling back the functions and logger objects of ``tokenway.success_callback``,
``tokenway.failure_callback`` and ``tokenway.callbacks`` after each call, off its path.

A function is called ``f(kwargs, response, start_time, end_time)`` (``response`` is
``None`` on failure; the exception is ``kwargs["exception"]``). A logger object (LiteLLM's
``CustomLogger`` shape) gets ``log_success_event`` / ``log_failure_event`` after a sync
call and ``async_log_success_event`` / ``async_log_failure_event`` after an async one,
with the same four keyword arguments. Sync callables run on one background thread, async
ones as tasks on the caller's loop (after a sync call: on the background thread's own
loop). An exception in a callback is logged (logger ``tokenway.callbacks``), never raised
into the call; a stream reports once it ends.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import inspect
import logging
import queue
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from tokenway.settings import SETTINGS
from tokenway.streaming import _AsyncStream, _SyncStream, watch_stream

T = TypeVar("T")

__all__ = ["CallRecord", "aflush", "areported", "flush", "has_callbacks", "report", "reported"]

log = logging.getLogger("tokenway.callbacks")

_jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
_tasks: set[asyncio.Task[None]] = set()
_pending = 0
_idle = threading.Condition()
_EXIT_WAIT = 5.0  # seconds the interpreter's exit waits for queued callbacks


def has_callbacks(success: bool | None = None) -> bool:
    s = SETTINGS
    if s.callbacks:
        return True
    if success is None:
        return bool(s.success_callback or s.failure_callback)
    return bool(s.success_callback if success else s.failure_callback)


class CallRecord:
    """One call's details, as LiteLLM's ``kwargs`` (``model_call_details``) names them."""

    __slots__ = ("is_async", "kwargs", "start_time")

    def __init__(
        self, call_type: str, model: str, messages: Any, params: Mapping[str, Any], is_async: bool
    ) -> None:
        self.is_async = is_async
        self.start_time = datetime.datetime.now()
        provider = model.partition("/")[0] if "/" in model else params.get("custom_llm_provider")
        optional = {k: v for k, v in params.items() if k not in _PRIVATE and v is not None}
        self.kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "optional_params": optional,
            "litellm_params": {
                "api_base": params.get("api_base"),
                "custom_llm_provider": provider,
                "metadata": params.get("metadata"),
            },
            "stream": bool(params.get("stream")),
            "user": params.get("user"),
            "call_type": call_type,
            "litellm_call_id": str(uuid.uuid4()),
            "custom_llm_provider": provider,
            "start_time": self.start_time,
        }
        if call_type not in ("completion", "acompletion"):
            self.kwargs["input"] = messages  # LiteLLM's name for an embedding's or prompt's input


# Never handed to a callback: keys, and tokenway's own knobs.
_PRIVATE = frozenset({"api_key", "extra_headers", "stream", "mock_response", "mock_tool_calls"})


def report(record: CallRecord, response: Any = None, error: BaseException | None = None) -> None:
    """Call back every success (``error is None``) or failure callback, off the caller's path."""
    success = error is None
    if not has_callbacks(success):
        return
    end_time = datetime.datetime.now()
    kwargs = dict(record.kwargs, end_time=end_time)
    if success:
        kwargs["response_cost"] = getattr(response, "cost", None)
        hidden = getattr(response, "_hidden_params", None) or {}
        kwargs["api_base"] = hidden.get("api_base")
    else:
        kwargs["exception"] = error
        kwargs["traceback_exception"] = repr(error)
    chosen = SETTINGS.success_callback if success else SETTINGS.failure_callback
    args = (kwargs, response if success else None, record.start_time, end_time)
    for callback in [*chosen, *SETTINGS.callbacks]:
        _dispatch(callback, success, record.is_async, args)


def _dispatch(callback: Any, success: bool, is_async: bool, args: tuple[Any, ...]) -> None:
    event = "success" if success else "failure"
    method = getattr(
        callback, f"async_log_{event}_event" if is_async else f"log_{event}_event", None
    )
    if method is not None:
        target = method
    elif any(hasattr(callback, m) for m in ("log_success_event", "async_log_success_event")):
        return  # a logger object without this event's method: nothing to tell it
    else:
        target = callback
    kwargs, response, start, end = args
    if inspect.iscoroutinefunction(target):
        if is_async and _on_loop():
            task = asyncio.get_running_loop().create_task(_guarded_async(target, args))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
            return
        _submit(lambda: asyncio.run(_guarded_async(target, args)))
        return
    if method is not None:
        _submit(
            lambda: _guarded(
                target, kwargs=kwargs, response_obj=response, start_time=start, end_time=end
            )
        )
    else:
        _submit(lambda: _guarded(target, *args))


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _guarded(target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        target(*args, **kwargs)
    except Exception:
        log.exception("callback %r raised; the call itself was not affected", target)


async def _guarded_async(target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    kwargs, response, start, end = args
    try:
        if hasattr(target, "__self__") and getattr(target, "__name__", "").startswith("async_log_"):
            await target(kwargs=kwargs, response_obj=response, start_time=start, end_time=end)
        else:
            await target(*args)
    except Exception:
        log.exception("callback %r raised; the call itself was not affected", target)


def _submit(job: Callable[[], None]) -> None:
    global _worker, _pending
    with _idle:
        _pending += 1
    if _worker is None:
        with _worker_lock:
            if _worker is None:
                _worker = threading.Thread(target=_work, name="tokenway-callbacks", daemon=True)
                _worker.start()
                atexit.register(flush, _EXIT_WAIT)  # a short script's last callbacks still run
    _jobs.put(job)


def _work() -> None:
    global _pending
    while True:
        job = _jobs.get()
        if job is None:
            return
        try:
            job()
        finally:
            with _idle:
                _pending -= 1
                _idle.notify_all()


def flush(timeout: float = 5.0) -> bool:
    """Wait until the background thread has run every callback queued so far (for tests
    and short scripts); ``False`` if ``timeout`` seconds passed first. Async callbacks of
    async calls run on the caller's loop: await them there."""
    with _idle:
        return _idle.wait_for(lambda: _pending == 0, timeout)


def reported(record: CallRecord, run: Callable[[], T]) -> T:
    """``run()``'s answer, reported to the callbacks (a stream once it ends)."""
    try:
        answer = run()
    except Exception as error:
        report(record, error=error)
        raise
    return _watch(record, answer)


async def areported(record: CallRecord, run: Callable[[], Awaitable[T]]) -> T:
    """The async ``reported()``."""
    try:
        answer = await run()
    except Exception as error:
        report(record, error=error)
        raise
    return _watch(record, answer)


def _watch(record: CallRecord, answer: T) -> T:
    if isinstance(answer, _SyncStream | _AsyncStream):
        chat = record.kwargs["call_type"] in ("completion", "acompletion")

        def ended(whole: Any, error: BaseException | None) -> None:
            report(record, whole if chat else None, error)

        watch_stream(answer, ended)
    else:
        report(record, answer)
    return answer


async def aflush() -> None:
    """Wait for the async callbacks scheduled on this loop, then for the background thread."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _tasks if t.get_loop() is loop]
    if mine:
        await asyncio.gather(*mine, return_exceptions=True)
    await asyncio.to_thread(flush)


def run_reported(
    call_type: str, model: str, messages: Any, params: Mapping[str, Any], run: Callable[[], T]
) -> T:
    """``run()``, reported as a ``call_type`` call when any callback is set."""
    if not has_callbacks():
        return run()
    return reported(CallRecord(call_type, model, messages, params, is_async=False), run)


async def arun_reported(
    call_type: str,
    model: str,
    messages: Any,
    params: Mapping[str, Any],
    run: Callable[[], Awaitable[T]],
) -> T:
    """The async ``run_reported()``."""
    if not has_callbacks():
        return await run()
    return await areported(CallRecord(call_type, model, messages, params, is_async=True), run)
