"""Ids: minting, strict validation before any path is built, type detection, job id -> session."""

from __future__ import annotations

from datetime import datetime

import pytest

from prodigy import paths
from prodigy.errors import ExitCode, InvalidIdError
from prodigy.ids import (
    JOB_ID_RE,
    SESSION_ID_RE,
    IdType,
    check_id,
    detect_id_type,
    new_job_id,
    new_session_id,
    session_from_job_id,
)


def test_new_session_id_is_unique_and_valid() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(SESSION_ID_RE.match(i) and check_id(i) == i for i in ids)


def test_job_id_embeds_its_session() -> None:
    session_id = new_session_id()
    job_id = new_job_id(session_id, now=datetime(2026, 11, 27, 12, 5, 1))
    assert job_id == f"mapreduce-20261127_120501_{session_id}"
    assert JOB_ID_RE.match(job_id)
    assert session_from_job_id(job_id) == session_id
    assert check_id(job_id) == job_id


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".", "..", "../../etc", "x/../y", "/abs", "a\\b",
                                 "session-..", "-leading-dash", "with space", "nul\x00", "a" * 201, "é"])
def test_check_id_rejects_unsafe_ids(bad: str) -> None:
    with pytest.raises(InvalidIdError) as exc:
        check_id(bad)
    assert exc.value.exit_code == ExitCode.USAGE
    assert repr(bad) in exc.value.message


def test_check_id_rejects_non_strings() -> None:
    with pytest.raises(InvalidIdError):
        check_id(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("good", ["session-1a2b", "mapreduce-2026", "abc", "a.b_c-d"])
def test_check_id_accepts_prefixes(good: str) -> None:
    assert check_id(good) == good


def test_paths_validate_ids() -> None:
    with pytest.raises(InvalidIdError):
        paths.session_file("../../etc/passwd")
    with pytest.raises(InvalidIdError):
        paths.lock_file("a/b")
    with pytest.raises(InvalidIdError):
        paths.job_dir("repo", "..")


@pytest.mark.parametrize("value, kind", [
    ("session-abc", IdType.SESSION), ("mapreduce-2026", IdType.JOB), ("abc", IdType.UNKNOWN),
])
def test_detect_id_type(value: str, kind: IdType) -> None:
    assert detect_id_type(value) is kind


def test_session_from_job_id_of_other_shapes() -> None:
    assert session_from_job_id("mapreduce-2026") is None
    assert session_from_job_id("session-x") is None


def test_paths_live_under_prodigy_home(prodigy_home) -> None:
    session_id = new_session_id()
    assert paths.home() == prodigy_home
    assert paths.session_file(session_id) == prodigy_home / "sessions" / f"{session_id}.json"
    assert paths.checkpoints_dir(session_id) == prodigy_home / "state" / session_id / "checkpoints"
    assert paths.lock_file(session_id) == prodigy_home / "resume_locks" / f"{session_id}.lock"
    assert paths.repo_name("/tmp/my repo!") == "my_repo"
