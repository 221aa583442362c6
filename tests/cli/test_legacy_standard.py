"""Resuming standard sessions the original (Rust) prodigy left, built the way its own resume integration tests
build them (tests/cli_integration/resume_integration_tests.rs): a real git worktree on prodigy-{id}, the
WorkflowCheckpoint with a relative workflow_path, a Paused UnifiedSession, `resume {id} --path {dir}`."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import legacy_support as rust
from prodigy import paths
from prodigy.legacy.model import converted_session_id
from prodigy.state import checkpoints, sessions

FIVE_STEPS = """\
    name: test-resume-workflow
    description: Test workflow for resume functionality

    commands:
      - shell: "echo 'Command 1 executed' >> ledger"
      - shell: "echo 'Command 2 executed' >> ledger"
      - shell: "echo 'Command 3 executed' >> ledger"
      - shell: "echo 'Command 4 executed' >> ledger"
      - shell: "echo 'Final command executed' >> ledger"
"""
ALL = ["Command 1 executed", "Command 2 executed", "Command 3 executed", "Command 4 executed",
       "Final command executed"]


@pytest.fixture
def project(git_repo: Path, write_workflow) -> Path:
    write_workflow(FIVE_STEPS, name="test-resume-workflow.yaml")
    return git_repo


def ledger(worktree: Path) -> list[str]:
    path = worktree / "ledger"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(("done", "expected"), [(1, ALL[1:]), (3, ALL[3:]), (4, ALL[4:]), (0, ALL)],
                         ids=["early", "middle", "last-step-only", "nothing-done"])
def test_resume_runs_exactly_the_remaining_steps(prodigy_home: Path, project: Path, invoke, done, expected) -> None:
    workflow_id = f"session-resume-{done}-12345"
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, project, workflow_id, done, 5,
                                                         {"variable1": "test-value"})
    before = rust.snapshot(prodigy_home)
    code, out, err = invoke("resume", workflow_id, "--path", str(project))
    assert code == 0, out + err
    assert ledger(worktree) == expected  # ran in the original's worktree, only the steps not completed
    converted = converted_session_id(workflow_id)
    assert f"Converted {workflow_id} (workflow, Paused in the original prodigy) -> {converted}" in out
    assert f"from step {done + 1}/5 ({done} step(s) already done, skipped)" in out
    assert sessions.load(converted).status == "completed"
    after = rust.snapshot(prodigy_home)
    assert {k: after[k] for k in before} == before  # not one byte of the original's files changed
    assert paths.conversion_file(workflow_id).exists()


def test_captured_variables_are_restored(prodigy_home: Path, git_repo: Path, write_workflow, invoke) -> None:
    write_workflow("""\
        name: test-variable-workflow
        commands:
          - shell: "echo 'Setting up variables'"
            capture_output: var1
          - shell: "echo 'Using ${var1}'"
            capture_output: var2
          - shell: "echo 'Final: ${var1} and ${var2} and ${shell.output}' >> ledger"
    """, name="test-resume-workflow.yaml")
    variables = {"var1": "First variable value", "var2": "Second variable value",
                 "shell": {"output": "Previous command output"},
                 "__error_recovery_state": {"active_handlers": [], "recovery_attempts": 1}}
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-resume-vars-11111", 2, 3,
                                                         variables)
    code, out, err = invoke("resume", "session-resume-vars-11111", "--path", str(git_repo))
    assert code == 0, out + err
    assert ledger(worktree) == ["Final: First variable value and Second variable value and Previous command output"]
    assert "3 variable(s) restored: shell, var1, var2" in out
    assert "__error_recovery_state is not restored" in out


def test_a_completed_session_is_refused(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_worktree(prodigy_home, project, "session-resume-complete-33333")
    rust.write_session(prodigy_home, rust.session_json("session-resume-complete-33333", status="Completed",
                                                       executed=5, total=5))
    code, _out, err = invoke("resume", "session-resume-complete-33333", "--path", str(project))
    assert code == 5 and "already completed, nothing to resume" in err
    assert not paths.conversion_file("session-resume-complete-33333").exists()


def test_a_cancelled_session_is_refused(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-cancel-1", 2, 5, {})
    data = rust.session_json("session-cancel-1", status="Cancelled", executed=2, total=5)
    rust.write_session(prodigy_home, data)
    code, _out, err = invoke("resume", "session-cancel-1")
    assert code == 5 and "was cancelled and cannot be resumed" in err


def test_an_unknown_id_is_not_found(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-resume-early-12345", 1, 5, {})
    code, _out, err = invoke("resume", "session-nonexistent-99999", "--path", str(project))
    assert code == 2 and "not found" in err.lower()


def test_a_damaged_session_record_is_a_clear_error(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-broken-1", 1, 5, {})
    path = prodigy_home / "sessions" / "session-broken-1.json"
    data = json.loads(path.read_text())
    data["status"] = "Sleeping"
    path.write_text(json.dumps(data))
    code, _out, err = invoke("resume", "session-broken-1", "--path", str(project))
    assert code == 6, err
    assert str(path) in err and "`status`" in err and "Sleeping" in err


def test_a_damaged_checkpoint_is_a_clear_error(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-broken-2", 1, 5, {})
    path = prodigy_home / "state" / "session-broken-2" / "checkpoints" / "session-broken-2.checkpoint.json"
    path.write_text(path.read_text()[:200])
    code, _out, err = invoke("resume", "session-broken-2", "--path", str(project))
    assert code == 6 and str(path) in err and "not valid JSON" in err
    assert not sessions.exists(converted_session_id("session-broken-2"))


def test_a_failed_session_without_checkpoint_needs_the_workflow_then_runs_every_step(
        prodigy_home: Path, project: Path, invoke) -> None:
    """The original's test_resume_non_resumable_session_status: no checkpoint, so no workflow path."""
    worktree = rust.create_test_worktree(prodigy_home, project, "session-failed-nocp")
    rust.write_session(prodigy_home, rust.session_json("session-failed-nocp", status="Failed", total=5))
    code, _out, err = invoke("resume", "session-failed-nocp", "--path", str(project))
    assert code == 2 and "did not record the workflow file" in err and "--workflow PATH" in err
    code, out, err = invoke("resume", "session-failed-nocp", "--workflow", str(project / "test-resume-workflow.yaml"))
    assert code == 0, out + err
    assert ledger(worktree) == ALL and "no checkpoint of this session was found" in out


def test_a_session_without_workflow_state_or_checkpoint_is_refused(prodigy_home: Path, project: Path,
                                                                   invoke) -> None:
    rust.create_test_worktree(prodigy_home, project, "session-no-state")
    rust.write_session(prodigy_home, rust.session_json("session-no-state", workflow_data=False))
    code, _out, err = invoke("resume", "session-no-state", "--path", str(project))
    assert code == 2 and "did not record the workflow file" in err


def test_a_missing_worktree_says_how_to_recreate_it(prodigy_home: Path, project: Path, invoke) -> None:
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-gone-1", 2, 5, {})
    rust.git(project, "worktree", "remove", "--force", str(worktree))
    code, _out, err = invoke("resume", "session-gone-1", "--path", str(project))
    assert code == 2 and "Worktree not found for session session-gone-1" in err
    assert "git -C" in err and "worktree add" in err and "prodigy-session-gone-1" in err


def test_the_original_id_keeps_working_after_the_conversion(prodigy_home: Path, git_repo: Path, write_workflow,
                                                            invoke) -> None:
    write_workflow("""\
        commands:
          - shell: "echo one >> ledger"
          - shell: "test -f ../ok || exit 9"
          - shell: "echo three >> ledger"
    """, name="test-resume-workflow.yaml")
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-twice-1", 1, 3, {})
    code, out, _err = invoke("resume", "session-twice-1", "--path", str(git_repo))
    assert code == 1 and "Converted session-twice-1" in out
    (worktree.parent / "ok").touch()
    code, out, err = invoke("resume", "session-twice-1")  # converted once: this resumes the converted session
    assert code == 0, out + err
    assert "Converted" not in out and ledger(worktree) == ["three"]
    converted = converted_session_id("session-twice-1")
    code, out, _err = invoke("sessions", "show", "session-twice-1")  # every command resolves the original id
    assert code == 0 and converted in out


def test_a_workflow_checkpoint_id_resumes_its_session(prodigy_home: Path, project: Path, invoke) -> None:
    session_id = "session-8d2e3c1f-5a6b-4c7d-9e8f-0a1b2c3d4e5f"
    worktree = rust.create_test_worktree(prodigy_home, project, session_id)
    rust.write_session(prodigy_home, rust.session_json(session_id, executed=2, total=5))
    rust.write_checkpoint(prodigy_home, session_id, rust.checkpoint_json("workflow-1731438090123", 2, 5, {}))
    code, out, err = invoke("resume", "workflow-1731438090123", "--path", str(project))
    assert code == 0, out + err
    assert "found by workflow checkpoint id workflow-1731438090123" in out and ledger(worktree) == ALL[2:]


def test_the_originals_lock_with_a_live_process_blocks_the_resume(prodigy_home: Path, project: Path,
                                                                  invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-locked-1", 1, 5, {})
    rust.write_json(prodigy_home / "resume_locks" / "session-locked-1.lock",
                    {"job_id": "session-locked-1", "process_id": os.getpid(), "hostname": socket.gethostname(),
                     "acquired_at": "2025-11-12T19:01:30Z"})
    code, _out, err = invoke("resume", "session-locked-1", "--path", str(project))
    assert code == 4 and "The original prodigy is resuming session-locked-1 right now" in err


def test_a_converted_session_held_by_another_resume_is_busy(prodigy_home: Path, project: Path, invoke) -> None:
    from prodigy.state.locks import ExecutionLock

    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-busy-1", 1, 5, {})
    assert invoke("migrate", "session-busy-1", "--path", str(project))[0] == 0
    with ExecutionLock(converted_session_id("session-busy-1"), purpose="resume"):
        code, _out, err = invoke("resume", "session-busy-1")
    assert code == 4 and "already in progress" in err


def test_the_converted_checkpoint_matches_the_original(prodigy_home: Path, project: Path, invoke) -> None:
    rust.create_test_checkpoint_with_worktree(prodigy_home, project, "session-check-1", 3, 5, {"a": "1"})
    code, out, err = invoke("migrate", "session-check-1", "--path", str(project))
    assert code == 0, out + err
    converted = converted_session_id("session-check-1")
    checkpoint = checkpoints.load(converted)
    assert sorted(checkpoint.completed) == ["0", "1", "2"] and checkpoint.first_incomplete() == 3
    assert checkpoint.variables == {"a": "1"} and checkpoint.status == "interrupted"
    record = sessions.load(converted)
    assert record.extra["legacy"]["original_id"] == "session-check-1"
    assert record.extra["worktree"]["branch"] == "prodigy-session-check-1"
    assert record.extra["worktree"]["original_branch"] == "main"
