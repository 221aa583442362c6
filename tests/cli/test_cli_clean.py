"""`prodigy clean TARGET` against state written by real runs: finished sessions go, resumable ones and
non-empty DLQs stay without -f (and say why), a running session is never touched."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import operator_state as ops
import pytest

from prodigy import paths
from prodigy.state import sessions
from prodigy.state.locks import ExecutionLock


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def test_dry_run_lists_and_removes_nothing(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, out, err = ops.invoke("clean", "all", "--older-than", "0", "--dry-run")
    assert code == 0, err
    assert ops.tree(state.home) == before
    assert f"session   {state.completed_session} (completed)" in out
    assert f"Kept sessions {state.interrupted_session}: resumable (interrupted)" in out
    assert f"Kept sessions {state.standard_session}: resumable (failed)" in out
    assert f"Kept sessions {state.dlq_session}: its dead-letter queue has 2 item(s)" in out
    assert "Dry run: nothing was removed." in out


def test_clean_sessions_keeps_resumable_ones_and_says_why(state: ops.Built) -> None:
    data = ops.json_of("clean", "sessions", "--older-than", "0", "-y")
    assert [r["session_id"] for r in data["removed"]] == [state.completed_session]
    kept = {k["session_id"]: k["reason"] for k in data["kept"]}
    assert kept[state.interrupted_session].startswith("resumable (interrupted)")
    assert set(sessions.all_ids()) == {state.dlq_session, state.interrupted_session, state.standard_session}
    assert not list(state.home.glob(f"state/*/mapreduce/jobs/{state.completed_job}"))
    assert list(state.home.glob(f"state/*/mapreduce/jobs/{state.interrupted_job}"))


def test_force_removes_resumable_sessions_but_never_a_running_one(state: ops.Built) -> None:
    with ExecutionLock(state.standard_session, purpose="test"):
        data = ops.json_of("clean", "sessions", "--older-than", "0", "-f", "-y")
    removed = {r["session_id"] for r in data["removed"]}
    assert removed == {state.completed_session, state.interrupted_session, state.dlq_session}
    kept = {k["session_id"]: k["reason"] for k in data["kept"]}
    assert kept[state.standard_session].startswith("in progress")
    assert sessions.all_ids() == [state.standard_session]


def test_older_than_keeps_recent_sessions(state: ops.Built) -> None:
    code, out, _ = ops.invoke("clean", "sessions", "-y")  # default 7d: everything is younger
    assert code == 0 and "Nothing to clean for sessions" in out
    assert "Kept 4 sessions: idle for less than --older-than" in out
    assert len(sessions.all_ids()) == 4


def test_clean_state_keeps_the_record(state: ops.Built) -> None:
    data = ops.json_of("clean", "state", "--older-than", "0", "-y")
    assert [r["session_id"] for r in data["removed"]] == [state.completed_session]
    record = sessions.load(state.completed_session)
    assert record.extra.get("state_removed_at")
    assert not list(state.home.glob(f"state/*/mapreduce/jobs/{state.completed_job}"))


def test_clean_dlq_purges_only_with_force_for_a_completed_job(state: ops.Built) -> None:
    data = ops.json_of("clean", "dlq", "--older-than", "0", "-y")
    assert data["removed"] == [] and data["kept"][0]["session_id"] == state.dlq_session
    data = ops.json_of("clean", "dlq", "--older-than", "0", "-y", "-f")
    assert [r["session_id"] for r in data["removed"]] == [state.dlq_session]
    listing = ops.json_of("dlq", "list", state.dlq_job)
    assert listing["jobs"][0]["dlq_count"] == 0 and len(listing["jobs"][0]["purged"]) == 2


def test_clean_events_and_logs(state: ops.Built) -> None:
    crash = paths.crash_logs_dir() / "crash-20260101-000000.log"
    crash.parent.mkdir(parents=True, exist_ok=True)
    crash.write_text("boom")
    old = time.time() - 3 * 86400
    os.utime(crash, (old, old))
    agent_logs = paths.claude_logs_dir() / state.completed_session
    agent_logs.mkdir(parents=True)
    (agent_logs / "step.jsonl").write_text("{}\n")
    data = ops.json_of("clean", "logs", "--older-than", "1d", "-y")
    assert {r["what"] for r in data["removed"]} == {"crash-log"}  # the session is younger than a day
    data = ops.json_of("clean", "logs", "--older-than", "0", "-y")
    assert [r["session_id"] for r in data["removed"]] == [state.completed_session]
    assert not agent_logs.exists() and not crash.exists()
    data = ops.json_of("clean", "events", "--older-than", "0", "-y")  # a finished job's DLQ does not keep events
    assert {r["session_id"] for r in data["removed"]} == {state.completed_session, state.dlq_session}
    assert not list(state.home.glob(f"events/*/{state.completed_job}"))


def test_without_a_terminal_it_asks_for_y(state: ops.Built) -> None:
    code, _, err = ops.invoke("clean", "sessions", "--older-than", "0")
    assert code == 2 and "Pass -y to confirm" in err
    assert len(sessions.all_ids()) == 4


def test_bad_target_and_age(state: ops.Built) -> None:
    assert ops.invoke("clean", "everything")[0] == 2
    code, _, err = ops.invoke("clean", "all", "--older-than", "soon")
    assert code == 2 and "Invalid --older-than" in err


def test_clean_all_removes_worktrees_of_finished_sessions(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow("- shell: echo hi > new.txt && git add new.txt && git commit -qm new\n")
    code, out, err = invoke("run", str(git_repo / "workflow.yml"), "-p", str(git_repo))  # no -y: kept unmerged
    assert code == 0, err
    (session_id,) = sessions.all_ids()
    worktree = Path(sessions.load(session_id).extra["worktree"]["path"])
    assert worktree.is_dir()
    code, out, _ = invoke("clean", "all", "--older-than", "0", "--dry-run")
    assert "1 unmerged commit(s)" in out and worktree.is_dir()
    code, out, err = invoke("clean", "all", "--older-than", "0", "-y", "--json")
    assert code == 0, err
    assert {r["what"] for r in json.loads(out)["removed"]} == {"worktree", "session"}
    assert not worktree.exists() and sessions.all_ids() == []
