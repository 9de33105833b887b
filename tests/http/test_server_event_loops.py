"""tokenway.http.server on uvloop: the scenarios of the other test_server_* files again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.http import test_server_basics as basics
from tests.http import test_server_errors as errors
from tests.http import test_server_lifecycle as lifecycle
from tests.http import test_server_limits as limits
from tests.http import test_server_streaming as streaming

from tokenway.http.server import install_uvloop


def test_install_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    saved = asyncio.get_event_loop_policy()
    try:
        assert install_uvloop() is True
        assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
    finally:
        asyncio.set_event_loop_policy(saved)


@pytest.mark.parametrize(
    "scenario",
    [
        basics.test_get_and_post_echo,
        basics.test_pipelined_requests_answered_in_order_one_at_a_time,
        basics.test_expect_100_continue,
        errors.test_413_by_chunked_overflow_uses_error_responder,
        streaming.test_stream_chunks_arrive_incrementally,
        streaming.test_client_disconnect_mid_stream_sets_disconnected_and_closes_generator,
        streaming.test_slow_reader_backpressures_the_stream,
        lifecycle.test_shutdown_waits_for_in_flight_and_closes_idle,
        lifecycle.test_shutdown_waits_for_a_handler_whose_client_left,
        lifecycle.test_a_client_that_half_closes_gets_its_answer_then_the_close,
        limits.test_a_client_that_closes_mid_request_is_noticed_at_once,
        limits.test_a_pipelined_big_body_does_not_count_toward_the_next_head,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_under_uvloop(scenario: Any) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())
