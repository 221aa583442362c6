"""Atomic JSON state files: schema_version, newer schemas refused, corruption named, no temp files left."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from prodigy.errors import ExitCode, StateError, StateWriteError
from prodigy.state import atomic, storage
from prodigy.state.atomic import SCHEMA_VERSION, read_json, write_bytes, write_json


def test_write_adds_schema_version_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "record.json"
    write_json(path, {"id": "x", "n": 1, "text": "héllo"})
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk == {"schema_version": SCHEMA_VERSION, "id": "x", "n": 1, "text": "héllo"}
    assert read_json(path, what="record") == on_disk


def test_explicit_schema_version_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"schema_version": 1, "a": 2})
    assert json.loads(path.read_text())["schema_version"] == 1


def test_replace_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    for i in range(20):
        write_json(path, {"i": i})
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert read_json(path, what="record")["i"] == 19


def test_failed_write_removes_its_temp_file_and_keeps_the_old_content(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"v": "old"})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "disk on fire")

    monkeypatch.setattr(storage, "_replace", broken_replace)
    with pytest.raises(StateWriteError, match="disk on fire") as exc:
        write_bytes(path, b"new")
    assert exc.value.exit_code == ExitCode.STATE_ERROR and str(path) in exc.value.message
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert json.loads(path.read_text())["v"] == "old"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "a": 1}))
    with pytest.raises(StateError) as exc:
        read_json(path, what="session record")
    assert "written by a newer prodigy" in exc.value.message and str(path) in exc.value.message
    assert exc.value.exit_code == ExitCode.STATE_ERROR


def test_missing_schema_version_reads_as_version_1(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"a": 1}))
    assert read_json(path, what="record") == {"a": 1}


def test_invalid_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": "one"}))
    with pytest.raises(StateError, match="invalid schema_version"):
        read_json(path, what="record")


def test_older_versions_are_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "SCHEMA_VERSION", 3)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": 1, "old": 5}))
    migrations = {1: lambda r: {**r, "two": True}, 2: lambda r: {k if k != "old" else "new": v for k, v in r.items()}}
    record = read_json(path, what="record", migrations=migrations)
    assert record == {"schema_version": 3, "two": True, "new": 5}


@pytest.mark.parametrize("content", [b'{"a": 1', b"", b"\xff\xfe not json", b"[1, 2]"])
def test_corrupted_file_is_a_state_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoint.json"
    path.write_bytes(content)
    with pytest.raises(StateError) as exc:
        read_json(path, what="checkpoint")
    assert str(path) in exc.value.message and "corrupted" in exc.value.message


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nope.json", what="record")
