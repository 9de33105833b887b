"""The worker supervisor's policy: how long a replacement waits, how an exit is told."""

from __future__ import annotations

import signal

from tokenway.proxy.supervisor import RestartPolicy, _describe, _shell_code


def test_replacements_back_off_only_after_fast_failures() -> None:
    policy = RestartPolicy(backoff_initial=0.25, backoff_max=4.0)
    assert [policy.delay(n) for n in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_an_exit_is_described_with_its_signal_or_status() -> None:
    assert _describe(-signal.SIGKILL) == "was killed by SIGKILL"
    assert _describe(3) == "exited with status 3"


def test_a_worker_killed_by_a_signal_is_not_a_clean_exit() -> None:
    assert _shell_code(-signal.SIGKILL) == 137 and _shell_code(0) == 0
