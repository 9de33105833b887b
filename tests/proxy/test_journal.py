"""The spend journal keeps rows on local disk, in order, owned by one process."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from tests.proxy.spend_helpers import spend_row

from tokenway.proxy.accounting.journal import (
    ACTIVE_NAME,
    JOURNAL_VERSION,
    JournalLockedError,
    SpendJournal,
    decode_row,
    encode_row,
)
from tokenway.proxy.config import StartupError
from tokenway.store.base import SpendRow

HOLD_LOCK = """
import sys
from tokenway.proxy.accounting.journal import SpendJournal
journal = SpendJournal(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_line_carries_every_field_and_the_version() -> None:
    row = spend_row(1, payload='{"messages": []}', team_id="team-1", cost=None)
    line = encode_row(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = orjson.loads(line)
    assert data[0] == JOURNAL_VERSION
    assert data[1:] == list(row) and len(data) == 1 + len(SpendRow._fields)
    assert decode_row(line) == row


def test_a_version_1_line_of_an_earlier_proxy_still_decodes() -> None:
    row = spend_row(2, team_id="team-1")
    line = orjson.dumps({"v": 1, **row._asdict()})
    assert decode_row(line) == row


def test_a_version_2_line_without_usage_estimated_still_decodes() -> None:
    row = spend_row(3, team_id="team-1")
    line = orjson.dumps((2, *row[:-5]))  # version 2 had every field up to usage_estimated
    assert SpendRow._fields[-5] == "usage_estimated"
    assert decode_row(line) == row and decode_row(line).usage_estimated is False


def test_a_version_3_line_without_the_request_fields_still_decodes() -> None:
    row = spend_row(3, team_id="team-1")._replace(usage_estimated=True)
    line = orjson.dumps((3, *row[:-4]))  # version 3 ended with usage_estimated
    assert SpendRow._fields[-4:] == ("organization_id", "end_user", "metadata", "response_id")
    assert decode_row(line) == row


def test_the_request_fields_survive_the_journal() -> None:
    row = spend_row(5)._replace(
        organization_id="org", end_user="eve", metadata='{"a": 1}', response_id="chatcmpl-1"
    )
    assert decode_row(encode_row(row)) == row


def test_an_estimated_row_keeps_its_mark() -> None:
    row = spend_row(4)._replace(usage_estimated=True)
    assert decode_row(encode_row(row)).usage_estimated is True


@pytest.mark.parametrize("line", [b"[2, 1]", b'{"v": 3}', b"[]", b"5", b'{"v": 1, "x": 1}'])
def test_a_line_of_no_known_shape_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        decode_row(line)


def test_rows_come_back_in_order_after_a_restart(tmp_path: Path) -> None:
    rows = [spend_row(n, payload="{}" if n == 3 else None) for n in range(7)]
    with SpendJournal(tmp_path) as journal:
        for row in rows[:4]:
            journal.append(row)
        journal.seal()
        for row in rows[4:]:
            journal.append(row)
    with SpendJournal(tmp_path) as journal:  # the active file left behind becomes a segment
        assert list(journal.replay()) == rows
        assert len(journal.segments()) == 2


def test_a_torn_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SpendJournal(tmp_path) as journal:
        journal.append(spend_row(1))
        journal.append(spend_row(2))
    with (tmp_path / ACTIVE_NAME).open("ab") as active:
        active.write(encode_row(spend_row(3))[:40])  # a write cut short by a crash
    with caplog.at_level(logging.WARNING), SpendJournal(tmp_path) as journal:
        assert [row.request_id for row in journal.replay()] == ["req-000001", "req-000002"]
    assert "torn write" in caplog.text and "line 3" in caplog.text


def test_unreadable_lines_are_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    future = orjson.dumps({"v": JOURNAL_VERSION + 1, "request_id": "x"}) + b"\n"
    (tmp_path / "sealed-000000000001.jsonl").write_bytes(
        encode_row(spend_row(1)) + b"not json\n" + future + b"\n" + encode_row(spend_row(2))
    )
    with caplog.at_level(logging.WARNING), SpendJournal(tmp_path) as journal:
        assert [row.request_id for row in journal.replay()] == ["req-000001", "req-000002"]
    assert "unknown journal version" in caplog.text
    assert caplog.text.count("skipped") == 2


def test_a_failed_write_does_not_spoil_the_next_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls: list[int] = []

    def half_then_disk_full(fd: int, data: bytes) -> int:
        """What a filling disk does: a short write, then ENOSPC."""
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:30]))
        monkeypatch.setattr("tokenway.proxy.accounting.journal.os.write", real_write)
        raise OSError(28, "No space left on device")

    with SpendJournal(tmp_path) as journal:
        journal.append(spend_row(1))
        monkeypatch.setattr("tokenway.proxy.accounting.journal.os.write", half_then_disk_full)
        with pytest.raises(OSError):
            journal.append(spend_row(2))
        journal.append(spend_row(3))
        segment = journal.seal()
        assert segment is not None
        assert [row.request_id for row in journal.read(segment)] == ["req-000001", "req-000003"]


def test_a_row_appended_after_close_is_replayed_by_the_next_owner(tmp_path: Path) -> None:
    journal = SpendJournal(tmp_path)
    journal.append(spend_row(1))
    journal.close()
    journal.append_late(spend_row(2))  # a request that ended after the writer closed
    with SpendJournal(tmp_path) as owner:
        owner.append(spend_row(3))
        journal.append_late(spend_row(4))  # while another process owns the directory
        owner.seal()  # the owner's rows only: the late file waits for the next start
        assert [r.request_id for r in owner.replay()] == ["req-000001", "req-000002", "req-000003"]
        for segment in owner.segments():
            owner.delete(segment)
    with SpendJournal(tmp_path) as journal:
        assert [r.request_id for r in journal.replay()] == ["req-000004"]


def test_seal_rotates_and_segments_stay_until_deleted(tmp_path: Path) -> None:
    with SpendJournal(tmp_path) as journal:
        assert journal.seal() is None  # nothing written: no empty segments
        journal.append(spend_row(1))
        first = journal.seal()
        journal.append(spend_row(2))
        second = journal.seal()
        assert first is not None and second is not None
        assert journal.segments() == [first, second]
        assert (tmp_path / ACTIVE_NAME).stat().st_size == 0
        journal.delete(first)
        assert [row.request_id for row in journal.replay()] == ["req-000002"]
    with SpendJournal(tmp_path) as journal:  # numbering continues after the survivors
        journal.append(spend_row(3))
        third = journal.seal()
        assert third is not None
        assert journal.segments() == [second, third]


def test_journal_files_are_private(tmp_path: Path) -> None:
    with SpendJournal(tmp_path / "journal") as journal:
        journal.append(spend_row(1))
        segment = journal.seal()
        assert segment is not None
        assert stat.S_IMODE(segment.stat().st_mode) == 0o600


def test_periodic_fsync_is_off_unless_configured(tmp_path: Path) -> None:
    with SpendJournal(tmp_path / "a") as journal:
        assert not journal.sync_due()
    with SpendJournal(tmp_path / "b", fsync_interval=0.0) as journal:
        journal.append(spend_row(1))
        assert journal.sync_due()
        journal.sync()
        assert list(journal.replay()) == []  # syncing does not seal


def test_a_second_process_cannot_take_the_directory(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(JournalLockedError) as caught:
            SpendJournal(tmp_path)
        message = str(caught.value)
        assert str(tmp_path) in message and f"pid {holder.pid}" in message
        assert "its own journal directory" in message
        assert isinstance(caught.value, StartupError)  # the CLI reports it as a start-up error
    finally:
        holder.communicate("", timeout=10)
    with SpendJournal(tmp_path):  # released when the owner exits
        pass


def test_the_same_process_cannot_open_it_twice(tmp_path: Path) -> None:
    with SpendJournal(tmp_path), pytest.raises(JournalLockedError):
        SpendJournal(tmp_path)
    with SpendJournal(tmp_path):
        pass
