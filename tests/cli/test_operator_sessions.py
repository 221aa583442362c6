"""`prodigy sessions list|show|clean` against state written by real runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import operator_state as ops
import pytest

from prodigy.ids import new_session_id
from prodigy.state import sessions
from prodigy.state.locks import ExecutionLock
from prodigy.state.sessions import SessionRecord

ROW_KEYS = {"id", "kind", "workflow", "workflow_path", "status", "phase", "progress", "created_at", "updated_at",
            "age_seconds", "job_id", "resumable", "origin"}


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def test_list_shows_every_session_newest_first(state: ops.Built) -> None:
    code, out, err = ops.invoke("sessions", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "WORKFLOW", "STATUS", "PROGRESS", "AGE"]
    order = [state.standard_session, state.completed_session, state.interrupted_session, state.dlq_session]
    assert [line.split()[0] for line in lines[1:]] == order
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[state.dlq_session][1:5] == ["mapreduce", "dlq-job", "completed", "4/4"]
    assert "(2 dlq)" in dict((line.split()[0], line) for line in lines[1:])[state.dlq_session]
    assert rows[state.interrupted_session][1:5] == ["mapreduce", "slow-job", "interrupted", "0/4"]
    assert rows[state.completed_session][3:5] == ["completed", "4/4"]
    assert rows[state.standard_session][1:5] == ["workflow", "std-job", "failed", "1/2"]
    assert "\x1b" not in out  # plain text in a pipe


def test_list_filters_by_status_and_limits(state: ops.Built) -> None:
    code, out, _ = ops.invoke("sessions", "list", "--status", "interrupted")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [state.interrupted_session]
    code, out, _ = ops.invoke("sessions", "list", "--limit", "1")
    assert state.standard_session in out and state.dlq_session not in out
    assert "(sessions 1-1 of 4, newest first; --page 2 for the next 1, --all for every one)" in out
    code, out, _ = ops.invoke("sessions", "list", "--limit", "3", "--page", "2")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == [state.dlq_session]
    assert "(sessions 4-4 of 4, newest first; --all for every one)" in out
    code, out, _ = ops.invoke("sessions", "list", "--page", "3", "-n", "2")
    assert code == 0 and "Page 3 is past the last: 4 session(s) make 2 page(s) of 2." in out
    code, _, err = ops.invoke("sessions", "list", "--all", "--limit", "2")
    assert code == 2 and "--all lists every session" in err
    code, out, _ = ops.invoke("sessions", "list", "--status", "bogus")
    assert code == 2


def test_list_json_shape(state: ops.Built) -> None:
    data = ops.json_of("sessions", "list")
    assert set(data) == {"sessions", "count", "total", "page", "limit", "pages", "warnings"}
    assert data["count"] == data["total"] == 4 and (data["page"], data["limit"], data["pages"]) == (1, 20, 1)
    every = ops.json_of("sessions", "list", "--all")
    ids = [row["id"] for row in data["sessions"]]
    assert [row["id"] for row in every["sessions"]] == ids and (every["page"], every["limit"], every["pages"]) == (
        None, None, None)
    assert [row["id"] for row in ops.json_of("sessions", "list", "-n", "1", "-p", "2")["sessions"]] == ids[1:2]
    empty = ops.json_of("sessions", "list", "--status", "cancelled")
    assert empty["sessions"] == [] and empty["count"] == empty["total"] == 0
    assert all(set(row) == ROW_KEYS for row in data["sessions"])
    dlq = next(r for r in data["sessions"] if r["id"] == state.dlq_session)
    assert dlq["progress"] == {"done": 4, "total": 4, "failed": 2, "dlq": 2}
    assert dlq["job_id"] == state.dlq_job and dlq["resumable"] is False
    interrupted = next(r for r in data["sessions"] if r["id"] == state.interrupted_session)
    assert interrupted["resumable"] is True and interrupted["phase"] == "map"


def test_list_never_opens_a_job_journal(state: ops.Built) -> None:
    shutil.rmtree(state.home / "state")  # every job folder gone: the records alone carry the listing
    data = ops.json_of("sessions", "list")
    assert {r["id"]: r["progress"]["done"] for r in data["sessions"]}[state.dlq_session] == 4


def test_list_empty_state_says_what_to_do(prodigy_home: Path) -> None:
    code, out, _ = ops.invoke("sessions", "list")
    assert code == 0
    assert "No sessions yet: start one with prodigy run <workflow>" in out


def test_list_1000_sessions_reads_only_the_page_it_shows(prodigy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda _fd: None)  # durability is not under test; keep the setup quick
        for number in range(1000):
            sessions.save(SessionRecord(id=new_session_id(), kind="mapreduce", status="completed",
                                        workflow_path="/w/flow.yml", workflow_sha256="0" * 64,
                                        workflow_name=f"flow-{number}", run_dir="/w",
                                        created_at=f"2026-01-01T00:{number // 60:02d}:{number % 60:02d}.000+00:00",
                                        progress={"done": number, "total": 1000, "failed": 0, "dlq": 0}))
    assert len(list((prodigy_home / "sessions").glob("*.json"))) == 1000
    loads = []
    real = sessions.load
    monkeypatch.setattr(sessions, "load", lambda sid: loads.append(sid) or real(sid))
    code, out, _ = ops.invoke("sessions", "list")
    assert code == 0 and len(loads) == 20  # the index gives the order and the total; only the rows are read
    lines = out.splitlines()
    assert [line.split()[2] for line in lines[1:21]] == [f"flow-{n}" for n in range(999, 979, -1)]
    assert lines[-1] == "(sessions 1-20 of 1000, newest first; --page 2 for the next 20, --all for every one)"
    code, out, _ = ops.invoke("sessions", "list", "--page", "50")
    assert [line.split()[2] for line in out.splitlines()[1:21]] == [f"flow-{n}" for n in range(19, -1, -1)]
    assert ops.json_of("sessions", "list", "--all")["count"] == 1000


def test_show_mapreduce_session_with_its_job(state: ops.Built) -> None:
    code, out, err = ops.invoke("sessions", "show", state.dlq_session[:16])
    assert code == 0, err
    assert f"Session:   {state.dlq_session}" in out
    assert f"Id:           {state.dlq_job}" in out
    assert "Items:        4 total, 2 succeeded, 2 failed, 0 not run" in out
    assert f"DLQ:          2 item(s) (prodigy dlq list {state.dlq_job})" in out
    assert "Job folder:" in out and "Events:" in out
    assert f"Next: prodigy resume-job {state.dlq_job} --force" in out
    code, out, _ = ops.invoke("sessions", "show", state.interrupted_job[:48])  # a job id prefix works too
    assert code == 0
    assert "Status:    interrupted" in out
    assert f"Next: prodigy resume {state.interrupted_session}" in out


def test_show_json_shape(state: ops.Built) -> None:
    data = ops.json_of("sessions", "show", state.dlq_session)
    assert set(data) == {"record", "age_seconds", "live", "lock_holder", "job", "standard", "next_command",
                         "problems"}
    assert set(data["job"]) == {"job_id", "folder", "events_path", "phase", "status", "counts",
                                "setup_steps_done", "reduce_steps_done", "resumes", "error", "warnings", "agents"}
    assert data["job"]["counts"] == {"total": 4, "successful": 2, "failed": 2, "dlq": 2, "pending": 0}
    assert data["record"]["id"] == state.dlq_session and data["live"] is False
    assert Path(data["job"]["folder"]).is_dir() and Path(data["job"]["events_path"]).is_file()
    standard = ops.json_of("sessions", "show", state.standard_session)
    assert standard["job"] is None
    assert set(standard["standard"]) == {"checkpoint_path", "total_steps", "steps_done", "next_step",
                                         "in_flight", "failure", "agents"}
    assert standard["standard"]["steps_done"] == 1 and standard["standard"]["next_step"] == 2
    assert standard["next_command"] == f"prodigy resume {state.standard_session}"


def test_show_unknown_id_is_a_usage_error(state: ops.Built) -> None:
    code, _, err = ops.invoke("sessions", "show", "session-ffff")
    assert code == 2 and "no session id matches" in err
    code, _, err = ops.invoke("sessions", "show", "../etc")
    assert code == 2 and "Invalid id" in err


def test_clean_dry_run_removes_nothing(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, out, err = ops.invoke("sessions", "clean", "--older-than", "0", "--dry-run")
    assert code == 0, err
    assert ops.tree(state.home) == before
    assert "Would remove 2 session(s):" in out and "Dry run: nothing was removed." in out
    assert state.dlq_session in out and state.completed_session in out
    assert state.interrupted_session not in out.split("Kept")[0]
    assert str(ops.job_folder(state.home, state.dlq_job)) in out  # exactly what would go
    assert "Kept 1 session(s): interrupted (resumable; choose it with --status interrupted)" in out
    assert "Kept 1 session(s): failed (resumable; choose it with --status failed)" in out


def test_clean_default_age_keeps_recent_sessions(state: ops.Built) -> None:
    code, out, _ = ops.invoke("sessions", "clean", "-y")
    assert code == 0
    assert "Nothing to clean" in out
    assert len(list((state.home / "sessions").glob("*.json"))) == 4


def test_clean_removes_finished_sessions_and_their_files(state: ops.Built) -> None:
    job_dir = ops.job_folder(state.home, state.dlq_job)
    events = ops.events_file(state.home, state.dlq_job)
    code, out, err = ops.invoke("sessions", "clean", "--older-than", "0", "-y")
    assert code == 0, err
    assert "Removed 2 session(s)." in out
    remaining = {p.stem for p in (state.home / "sessions").glob("*.json")}
    assert remaining == {state.interrupted_session, state.standard_session}
    assert not job_dir.exists() and not events.parent.exists()
    assert not (state.home / "state" / "mappings" / f"job-{state.dlq_job}.json").exists()
    assert not (state.home / "resume_locks" / f"{state.dlq_session}.lock").exists()
    assert ops.job_folder(state.home, state.interrupted_job).is_dir()


def test_clean_resumable_only_when_asked_and_never_when_locked(state: ops.Built) -> None:
    with ExecutionLock(state.interrupted_session, purpose="test"):
        data = ops.json_of("sessions", "clean", "--older-than", "0", "--status", "interrupted", "--dry-run")
        assert data["sessions"] == []
        assert data["kept"]["in progress (its lock is held)"] == 1
    code, out, err = ops.invoke("sessions", "clean", "--older-than", "0", "--status", "interrupted", "-y")
    assert code == 0, err
    assert "Removed 1 session(s)." in out
    assert not (state.home / "sessions" / f"{state.interrupted_session}.json").exists()
    assert (state.home / "sessions" / f"{state.dlq_session}.json").exists()


def test_clean_without_terminal_or_yes_refuses(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, _, err = ops.invoke("sessions", "clean", "--older-than", "0")
    assert code == 2
    assert "Refusing to remove 2 session(s) without confirmation." in err and "-y" in err
    assert ops.tree(state.home) == before


def test_clean_asks_on_a_terminal(state: ops.Built, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("prodigy.cli.confirm.stdin_is_terminal", lambda: True)
    code, out, _ = ops.invoke("sessions", "clean", "--older-than", "0", stdin="n\n")
    assert code == 1 and "Nothing was removed." in out
    assert len(list((state.home / "sessions").glob("*.json"))) == 4
    code, out, _ = ops.invoke("sessions", "clean", "--older-than", "0", stdin="y\n")
    assert code == 0 and "Removed 2 session(s)." in out


def test_clean_json_shape(state: ops.Built) -> None:
    data = ops.json_of("sessions", "clean", "--older-than", "0", "--dry-run")
    assert set(data) == {"dry_run", "older_than_seconds", "statuses", "sessions", "kept", "removed", "skipped"}
    assert data["statuses"] == ["completed", "cancelled"] and data["dry_run"] is True
    assert all(set(c) == {"id", "kind", "status", "workflow", "age_seconds", "paths"} for c in data["sessions"])
    assert data["removed"] == []
    code, _, err = ops.invoke("sessions", "clean", "--older-than", "soon")
    assert code == 2 and "Invalid --older-than value 'soon'" in err


def test_help_has_examples() -> None:
    for group in ("sessions", "dlq", "events", "checkpoints"):
        code, out, _ = ops.invoke(group, "--help")
        assert code == 0 and "Examples:" in out, group
    for args in (("sessions", "list"), ("sessions", "show"), ("sessions", "clean"), ("dlq", "list"),
                 ("dlq", "show"), ("dlq", "retry"), ("dlq", "purge"), ("events", "ls"), ("events", "follow"),
                 ("events", "stats"), ("checkpoints", "list"), ("checkpoints", "show"),
                 ("checkpoints", "validate")):
        code, out, _ = ops.invoke(*args, "--help")
        assert code == 0 and "Examples:" in out and "prodigy " + " ".join(args) in out, args
