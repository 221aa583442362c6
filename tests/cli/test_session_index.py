"""The session index (state/session_index.py) behind `sessions list`: kept by sessions.save and removals,
trusted while it is not older than the sessions folder, rebuilt from the records when it is missing,
damaged or older (an older prodigy, a record copied in or deleted by hand)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import operator_state as ops
import pytest

import legacy_support as rust
from prodigy.ids import new_session_id
from prodigy.state import cleanup, session_index, sessions
from prodigy.state.sessions import SessionRecord
from prodigy.views import session_list


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda _fd: None)  # durability is not under test


def make(n: int, status: str = "completed", minute: int = 0) -> list[str]:
    ids = []
    for number in range(n):
        record = SessionRecord(id=new_session_id(), kind="workflow", status=status, workflow_path="/w/f.yml",
                               workflow_sha256="0" * 64, workflow_name=f"flow-{minute}-{number}", run_dir="/w",
                               created_at=f"2026-01-01T01:{minute:02d}:{number:02d}.000+00:00")
        sessions.save(record)
        ids.append(record.id)
    return ids


def listed(*args: str) -> list[str]:
    return [row["id"] for row in ops.json_of("sessions", "list", "--all", *args)["sessions"]]


def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the folder scans a listing makes."""
    seen: list[int] = []
    real = session_index._rescan
    monkeypatch.setattr(session_index, "_rescan", lambda *a: seen.append(1) or real(*a))
    return seen


def test_a_new_home_keeps_its_index_without_ever_scanning(prodigy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make(5)
    seen = scans(monkeypatch)
    assert listed() == ids[::-1]
    assert seen == []
    head = (prodigy_home / "sessions" / "index.log").read_text().splitlines()
    assert head[0].startswith(session_index.HEADER) and len(head) == 6


def test_status_changes_reach_the_filter(prodigy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = make(2, status="failed")
    record = sessions.load(first)
    record.status = "completed"
    sessions.save(record)
    sessions.save(record)  # no change of status: no new line
    seen = scans(monkeypatch)
    assert listed("--status", "completed") == [first] and listed("--status", "failed") == [second]
    assert seen == []
    assert len((prodigy_home / "sessions" / "index.log").read_text().splitlines()) == 4  # header, 2 new, 1 change


def test_a_running_session_whose_process_is_gone_is_interrupted(prodigy_home: Path) -> None:
    (gone,) = make(1, status="running")
    rows = ops.json_of("sessions", "list")["sessions"]
    assert [(r["id"], r["status"]) for r in rows] == [(gone, "interrupted")]
    assert listed("--status", "interrupted") == [gone] and listed("--status", "running") == []


def test_records_changed_by_hand_are_found(prodigy_home: Path) -> None:
    ids = make(3)
    folder = prodigy_home / "sessions"
    time.sleep(0.02)
    copied = json.loads((folder / f"{ids[0]}.json").read_text())
    copied.update(id=new_session_id(), created_at="2026-01-01T02:00:00.000+00:00", status="failed")
    (folder / f"{copied['id']}.json").write_text(json.dumps(copied))  # a record copied in, unknown to the index
    (folder / f"{ids[1]}.json").unlink()  # and one deleted by hand
    assert listed() == [copied["id"], ids[2], ids[0]]
    data = ops.json_of("sessions", "list", "--status", "failed")
    assert [r["id"] for r in data["sessions"]] == [copied["id"]] and data["total"] == 1


def test_a_record_changed_in_place_by_an_older_prodigy_is_read_again(prodigy_home: Path) -> None:
    (one,) = make(1)
    path = prodigy_home / "sessions" / f"{one}.json"
    time.sleep(0.02)
    data = json.loads(path.read_text())
    data["status"] = "failed"
    tmp = path.with_name("x.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # as write_json does, without telling the index
    assert listed("--status", "failed") == [one]


@pytest.mark.parametrize("damage", ["missing", "garbage", "header"])
def test_a_missing_or_damaged_index_is_rebuilt_from_the_records(prodigy_home: Path, damage: str) -> None:
    ids = make(4)
    index = prodigy_home / "sessions" / "index.log"
    if damage == "missing":
        index.unlink()
    elif damage == "garbage":
        with open(index, "a") as handle:
            handle.write("[1,\n")  # half a line, then the next append would land after it
        with open(index, "a") as handle:
            handle.write('not json\n["x"]\n')
    else:
        index.write_text(index.read_text().replace("index 1 scanned=", "index 1 scanned=x"))
    assert listed() == ids[::-1]
    assert session_index.read() is not None and session_index.read().fresh


def test_an_upgrade_builds_the_index_once(prodigy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make(3)
    (prodigy_home / "sessions" / "index.log").unlink()  # records written by a prodigy without the index
    new = make(1, minute=5)  # the first save after the upgrade: the folder has other records, no header
    assert session_index.read() is None
    seen = scans(monkeypatch)
    assert listed() == new + ids[::-1]
    assert listed() == new + ids[::-1]
    assert seen == [1]


def test_removed_sessions_leave_the_index(prodigy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make(3)
    cleanup.remove_paths([prodigy_home / "sessions" / f"{ids[1]}.json"])
    seen = scans(monkeypatch)
    data = ops.json_of("sessions", "list")
    assert [r["id"] for r in data["sessions"]] == [ids[2], ids[0]] and data["total"] == 2
    assert seen == []


def test_an_append_that_waited_for_a_rewrite_goes_to_the_new_file(prodigy_home: Path) -> None:
    make(1)
    index = prodigy_home / "sessions" / "index.log"
    old = os.open(index, os.O_RDONLY)
    session_index.current(session_list._describe)  # fresh: nothing to do
    session_index._rewrite(session_index.read().entries, time.time_ns())  # replaced, as by a rescan
    assert os.fstat(old).st_ino != os.stat(index).st_ino
    os.close(old)
    later = make(1, minute=9)
    assert listed()[0] == later[0]


def test_original_sessions_are_indexed_and_listed_beside_ours(prodigy_home: Path) -> None:
    """The original (Rust) prodigy's session files, and its checkpoint-only sessions, are indexed with their
    origin when the folder is scanned, and listed (newest first) beside ours."""
    ours = make(1)
    time.sleep(0.02)
    original = "session-00000000-0000-4000-8000-00000000abcd"
    rust.write_session(prodigy_home, rust.session_json(original, status="Failed", executed=1, total=3))
    rust.write_checkpoint(prodigy_home, "workflow-1700000000000",
                          rust.checkpoint_json("workflow-1700000000000", 1, 2, {}))
    rows = ops.json_of("sessions", "list")["sessions"]
    assert [(r["id"], r["origin"]) for r in rows] == [(ours[0], None), (original, "original"),
                                                     ("workflow-1700000000000", "original")]
    entries = session_index.read().entries
    assert entries[original][3] == session_index.ORIGINAL
    assert entries["workflow-1700000000000"][3] == session_index.CHECKPOINT_ONLY
    assert listed("--status", "failed") == [original]
