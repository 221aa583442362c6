"""Ids typed by a user -> session and job: the three job->session strategies, prefixes, bad ids."""

from __future__ import annotations

import pytest

from prodigy import paths
from prodigy.errors import AmbiguousIdError, InvalidIdError, NotFoundError
from prodigy.resume.resolve import find_session_for_job, resolve, resolve_job
from prodigy.state import sessions
from prodigy.state.atomic import write_json
from prodigy.state.jobs import write_mappings
from prodigy.state.sessions import SessionRecord

S1 = "session-11111111-1111-4111-8111-111111111111"
S2 = "session-22222222-2222-4222-8222-222222222222"
S3 = "session-33333333-3333-4333-8333-333333333333"
JOB1 = f"mapreduce-20260101_120000_{S1}"
JOB2 = f"mapreduce-20260101_130000_{S2}"
LEGACY = "mapreduce-1700000000-legacy"  # an id without the embedded session (older jobs)


def save_session(session_id: str, *, job_id: str | None = None, kind: str = "mapreduce") -> SessionRecord:
    record = SessionRecord(id=session_id, kind=kind, status="interrupted", workflow_path="/w/wf.yml",
                           workflow_sha256="abc", workflow_name="wf", run_dir="/w", job_id=job_id, repo="w")
    sessions.save(record)
    return record


def test_strategy_mapping_file_alone() -> None:
    save_session(S3, job_id="mapreduce-something-else")  # the scan would not find LEGACY
    write_mappings(LEGACY, S3, "wf")
    assert find_session_for_job(LEGACY) == (S3, "mapping file")


def test_strategy_job_id_pattern_alone() -> None:
    save_session(S1, job_id=None)  # no mapping file, and the record does not name the job
    assert not paths.job_mapping_file(JOB1).exists()
    assert find_session_for_job(JOB1) == (S1, "job id pattern")


def test_strategy_session_scan_alone() -> None:
    save_session(S2, job_id=None)
    save_session(S3, job_id=LEGACY)
    assert find_session_for_job(LEGACY) == (S3, "session scan")


def test_a_mapping_to_a_session_that_is_gone_falls_through_to_the_next_strategy() -> None:
    save_session(S1, job_id=JOB1)
    write_json(paths.job_mapping_file(JOB1), {"session_id": S2, "job_id": JOB1})  # S2 has no record
    assert find_session_for_job(JOB1) == (S1, "job id pattern")
    paths.job_mapping_file(LEGACY).write_text("{garbage")
    save_session(S3, job_id=LEGACY)
    assert find_session_for_job(LEGACY) == (S3, "session scan")


def test_an_unreadable_session_record_does_not_stop_the_scan() -> None:
    save_session(S3, job_id=LEGACY)
    paths.session_file(S1).write_text("{not json")
    assert find_session_for_job(LEGACY) == (S3, "session scan")


@pytest.mark.parametrize("job_id", [JOB2, LEGACY])
def test_all_three_strategies_failing_say_what_was_searched(job_id: str) -> None:
    save_session(S1, job_id=JOB1)
    with pytest.raises(NotFoundError) as info:
        find_session_for_job(job_id)
    text = str(info.value)
    assert f"not found: {job_id}" in text
    assert str(paths.job_mapping_file(job_id)) in text
    assert "inside the job id" in text
    assert str(paths.sessions_dir()) in text
    assert "prodigy sessions list" in text
    assert info.value.exit_code == 2


def test_resolve_job_by_full_id_and_by_unique_prefix() -> None:
    save_session(S1, job_id=JOB1)
    write_mappings(JOB1, S1, "wf")
    save_session(S2, job_id=JOB2)
    write_mappings(JOB2, S2, "wf")
    target = resolve_job(JOB1)
    assert (target.session.id, target.job_id, target.resolved_via) == (S1, JOB1, "mapping file")
    assert resolve_job("mapreduce-20260101_13").job_id == JOB2
    assert resolve(JOB2[:24]).job_id == JOB2


def test_a_job_known_only_by_its_folder_resolves() -> None:
    save_session(S1, job_id=JOB1)
    paths.job_dir("w", JOB1).mkdir(parents=True)
    target = resolve_job("mapreduce-2026")
    assert (target.job_id, target.session.id, target.resolved_via) == (JOB1, S1, "job id pattern")


def test_an_ambiguous_job_prefix_lists_the_candidates() -> None:
    for session_id, job_id in ((S1, JOB1), (S2, JOB2)):
        save_session(session_id, job_id=job_id)
        write_mappings(job_id, session_id, "wf")
    with pytest.raises(AmbiguousIdError) as info:
        resolve_job("mapreduce-20260101")
    assert info.value.candidates == [JOB1, JOB2]
    assert JOB1 in str(info.value) and JOB2 in str(info.value)


def test_an_unknown_job_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="not found") as info:
        resolve_job("mapreduce-nonexistent-123")
    assert "prodigy sessions list" in str(info.value)


def test_resolve_a_session_id_and_a_session_prefix() -> None:
    save_session(S1, job_id=JOB1)
    save_session(S2, job_id=None, kind="workflow")
    target = resolve(S1)
    assert (target.session.id, target.job_id, target.resolved_via) == (S1, JOB1, "session record")
    assert resolve("session-2222").session.id == S2
    assert resolve("session-2222").job_id is None
    with pytest.raises(AmbiguousIdError):
        resolve("session-")


def test_a_bare_prefix_matches_sessions_and_jobs() -> None:
    save_session(S1, job_id=JOB1)
    write_mappings(JOB1, S1, "wf")
    assert resolve("mapreduce").job_id == JOB1
    with pytest.raises(NotFoundError, match="no session or job id matches 'zzz'"):
        resolve("zzz")


@pytest.mark.parametrize("bad", ["../../etc", "a/b", "", ".", "session-1/../../x", "-rf"])
def test_invalid_ids_are_rejected_before_touching_a_path(bad: str) -> None:
    for function in (resolve, resolve_job):
        with pytest.raises(InvalidIdError):
            function(bad)


def test_resume_job_takes_the_id_of_a_mapreduce_session_or_a_bare_uuid() -> None:
    save_session(S1, job_id=JOB1)
    write_mappings(JOB1, S1, "wf")
    save_session(S2, job_id=None, kind="workflow")
    for typed in (S1, "session-1111", S1.removeprefix("session-"), "11111111"):
        target = resolve_job(typed)
        assert (target.session.id, target.job_id) == (S1, JOB1)
    assert resolve("22222222-2222").session.id == S2  # a bare uuid prefix, as copied from a listing
    with pytest.raises(NotFoundError, match="is a standard workflow") as info:
        resolve_job(S2)
    assert info.value.hint == f"Resume it with: prodigy resume {S2}"


def test_a_near_miss_suggests_the_id() -> None:
    save_session(S1, job_id=JOB1)
    write_mappings(JOB1, S1, "wf")
    with pytest.raises(NotFoundError) as info:
        resolve("session-11111211-1111")  # one character off
    assert f"Did you mean {S1}?" in info.value.hint
    with pytest.raises(NotFoundError) as info:
        resolve_job("mapreduce-20260101_12000_session")  # a digit missing
    assert f"Did you mean {JOB1}?" in info.value.hint
    with pytest.raises(NotFoundError) as info:
        resolve("session-99999999")  # nothing close
    assert "Did you mean" not in info.value.hint
