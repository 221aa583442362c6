"""End to end through the installed CLI: a PRODIGY_HOME the original (Rust) prodigy left, with a real git
worktree on its branch, resumed by this prodigy. Finished items and steps are not run again (ledgers prove
it), and not one byte of the original's files changes."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import mr_support as mr
import pytest

import legacy_support as rust
from prodigy.legacy.model import converted_session_id
from prodigy.state.jobs import DLQ, SUCCEEDED
from support import finish, run_prodigy, wait_for_line

pytestmark = pytest.mark.e2e

SID = "session-7b0b7a33-2c0e-4c53-9a57-2a1f0e6d1c11"
JOB = "mapreduce-20251112_190130"


def commit(repo: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "workflow and items"], cwd=repo, check=True)


def unchanged(before: dict[str, bytes], home: Path) -> bool:
    after = rust.snapshot(home)
    return {k: after.get(k) for k in before} == before


def test_mapreduce_job_from_rotated_events_and_dlq_items(prodigy_home: Path, git_repo: Path, marker: str) -> None:
    """A MapReduce run of the original, as its HEAD stores it (a Workflow session, no mapreduce_data, events
    under events/{session}/{job}/ rotated into a .gz, a DLQ item): 5 done, item_3 failed, items 6 and 7 were
    running, 8 and 9 never started."""
    ledger = git_repo.parent / "ledger.txt"
    mr.ledger_workflow(git_repo, marker, ledger, count=10, max_parallel=2)
    commit(git_repo)
    worktree = rust.create_test_worktree(prodigy_home, git_repo, SID)
    rust.write_session(prodigy_home, rust.session_json(SID, status="Failed", workflow_name="ledger-job"))
    rust.write_events(prodigy_home, SID, JOB, rust.map_events(JOB, 10, completed=[0, 1, 2, 4, 5], failed=[3],
                                                              started=[6, 7]), rotate_after=6)
    rust.dlq_item(prodigy_home, SID, JOB, 3, {"n": 3})
    (ledger.parent / "fail_item_3").touch()
    before = rust.snapshot(prodigy_home)

    code, out, err = run_prodigy("resume", SID, cwd=git_repo)
    assert code == 2 and "did not record the workflow file" in err and "--workflow PATH" in err

    code, out, err = run_prodigy("resume", SID, "--workflow", "workflow.yml", cwd=git_repo, env=mr.hold_env(git_repo))
    assert code == 3, out + err  # done, with item_3 in the dead-letter queue
    assert sorted(mr.starts(ledger)) == ["item_6", "item_7", "item_8", "item_9"]  # nothing finished ran again
    assert all(n == 1 for n in mr.starts(ledger).values())
    assert mr.ledger(ledger)[-1] == "reduce 9/10 failed 1"
    assert "events-20251112_190130.20251112_191500.jsonl.gz" in out and "item_3.json" in out
    assert "no completion record for 2 item(s) that had started (item_6, item_7): they will run again" in out
    assert "5 item(s) finished successfully: they are not run again" in out
    assert "2 in flight at interruption (will re-run)" in out and "1 in DLQ" in out
    assert unchanged(before, prodigy_home)
    assert (worktree / "items.json").exists()  # it ran in the original's worktree

    # The original's job id resumes the converted job; --force retries its DLQ item.
    (ledger.parent / "fail_item_3").unlink()
    code, out, err = run_prodigy("resume-job", JOB, "--force", cwd=git_repo, env=mr.hold_env(git_repo))
    assert code == 0, out + err
    assert mr.starts(ledger)["item_3"] == 1 and mr.ledger(ledger)[-1] == "reduce 10/10 failed 0"
    job_id = json.loads(run_prodigy("sessions", "show", SID, "--json", cwd=git_repo)[1])["job"]["job_id"]
    state = mr.job_state(job_id)
    assert state.count(SUCCEEDED) == 10 and state.count(DLQ) == 0
    assert unchanged(before, prodigy_home)


def test_mapreduce_job_state_file_with_an_epoch_job_id(prodigy_home: Path, git_repo: Path, marker: str) -> None:
    """Some versions wrote the whole job state (checkpoint-v{N}.json): its work list is used as it is, even when
    the input file is gone; the session record names the job (mapreduce_data), the checkpoint the workflow."""
    ledger = git_repo.parent / "ledger.txt"
    workflow = mr.ledger_workflow(git_repo, marker, ledger, count=6, max_parallel=2)
    commit(git_repo)
    job = "mapreduce-1731438090123"
    worktree = rust.create_test_worktree(prodigy_home, git_repo, SID)
    (worktree / "items.json").unlink()  # the job state keeps the list: the input is not read again
    rust.write_session(prodigy_home, rust.session_json(SID, session_type="MapReduce", workflow_data=False,
                                                       mapreduce_data={"job_id": job, "total_items": 6,
                                                                       "processed_items": 3, "failed_items": 1,
                                                                       "agent_count": 2, "phase": "Map",
                                                                       "reduce_results": None}))
    rust.write_checkpoint(prodigy_home, SID, rust.checkpoint_json(SID, 0, 0, {}, workflow_path=str(workflow)))
    rust.job_state(prodigy_home, SID, job, [{"n": i} for i in range(6)], succeeded=[0, 1], failed=[2],
                   running=[3], version=4)
    code, out, err = run_prodigy("resume-job", job, cwd=git_repo, env=mr.hold_env(git_repo))
    assert code == 3, out + err
    assert sorted(mr.starts(ledger)) == ["item_3", "item_4", "item_5"]
    assert "found by job id mapreduce-1731438090123 (mapreduce_data.job_id of its session record)" in out
    assert "work list: 6 item(s) from the job state checkpoint-v4.json" in out
    assert mr.ledger(ledger)[-1] == "reduce 5/6 failed 1"


def test_a_changed_map_input_is_refused_rather_than_mixing_items_up(prodigy_home: Path, git_repo: Path,
                                                                    marker: str) -> None:
    ledger = git_repo.parent / "ledger.txt"
    mr.ledger_workflow(git_repo, marker, ledger, count=12, max_parallel=2)
    commit(git_repo)
    rust.create_test_worktree(prodigy_home, git_repo, SID)
    rust.write_session(prodigy_home, rust.session_json(SID, status="Paused"))
    rust.write_events(prodigy_home, SID, JOB, rust.map_events(JOB, 10, completed=[0, 1]))
    code, out, err = run_prodigy("resume", SID, "--workflow", "workflow.yml", cwd=git_repo)
    assert code == 6, out + err
    assert "Cannot line up the original's item ids" in err and "job had 10 item(s)" in err and "gives 12" in err
    assert not mr.starts(ledger)


def test_standard_session_interrupted_again_then_resumed_by_its_original_id(prodigy_home: Path, git_repo: Path,
                                                                            write_workflow, spawn_prodigy) -> None:
    """The original's fixture (3 of 5 done); the converted session is interrupted in step 4 and resumed again
    by the original's id: steps 1-3 never run, step 5 once."""
    ledger = git_repo.parent / "ledger"
    write_workflow(f"""\
        name: test-resume-workflow
        commands:
          - shell: "echo step1 >> {ledger}"
          - shell: "echo step2 >> {ledger}"
          - shell: "echo step3 >> {ledger}"
          - shell: "echo step4-start >> {ledger}; while [ ! -f {git_repo.parent}/go ]; do sleep 0.05; done; echo step4 >> {ledger}"
          - shell: "echo step5 >> {ledger}"
    """, name="test-resume-workflow.yaml")
    rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-resume-middle-67890", 3, 5,
                                              {"variable1": "test-value"})
    before = rust.snapshot(prodigy_home)
    resume = spawn_prodigy("resume", "session-resume-middle-67890", "--path", str(git_repo), cwd=git_repo,
                           env={"PYTHONUNBUFFERED": "1"})
    wait_for_line(ledger, "step4-start")
    resume.send_signal(signal.SIGINT)
    code, out, err = finish(resume)
    assert code == 130, out + err
    converted = converted_session_id("session-resume-middle-67890")
    assert f"prodigy resume {converted}" in out + err
    (git_repo.parent / "go").touch()
    code, out, err = run_prodigy("resume", "session-resume-middle-67890", cwd=git_repo)
    assert code == 0, out + err
    assert ledger.read_text().split() == ["step4-start", "step4-start", "step4", "step5"]
    code, out, _err = run_prodigy("sessions", "list", cwd=git_repo)
    assert "converted from session-resume-middle-67890" in out
    assert unchanged(before, prodigy_home)


def test_migrate_then_resume_through_the_installed_cli(prodigy_home: Path, git_repo: Path, write_workflow) -> None:
    ledger = git_repo.parent / "ledger"
    write_workflow(f"""\
        commands:
          - shell: "echo one >> {ledger}"
          - shell: "echo two >> {ledger}"
    """, name="test-resume-workflow.yaml")
    rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-resume-early-12345", 1, 2, {})
    code, out, err = run_prodigy("migrate", "--dry-run", "--json", "--path", str(git_repo), cwd=git_repo)
    assert code == 0 and json.loads(out)["counts"]["would_convert"] == 1, err
    code, out, err = run_prodigy("migrate", "--path", str(git_repo), cwd=git_repo)
    assert code == 0 and "1 original(s): 1 converted." in out, err
    code, out, err = run_prodigy("resume", converted_session_id("session-resume-early-12345"), cwd=git_repo)
    assert code == 0, out + err
    assert ledger.read_text().split() == ["two"]
