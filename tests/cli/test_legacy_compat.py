"""The spec's compatibility requirements (spec 162, "Backward Compatibility" and "Migration and Compatibility"),
one test each, against state the original (Rust) prodigy left.

- Existing `prodigy resume` behavior for standard workflows must continue working
- Old checkpoints without workflow_path should still work with fallback logic
- Resume lock mechanism must work for both standard and MapReduce resumes
- Resume must work with checkpoints created by older versions
- Session-job ID mapping may not exist for old jobs (use fallback) / old sessions without mappings
- Workflow file path must be validated (may have been moved)
- Existing workflows and checkpoints remain compatible
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import legacy_support as rust
from prodigy.legacy.model import converted_session_id
from prodigy.state import sessions
from prodigy.state.locks import ExecutionLock

THREE = """\
    commands:
      - shell: "echo one >> ledger"
      - shell: "echo two >> ledger"
      - shell: "echo three >> ledger"
"""
SID = "session-7b0b7a33-2c0e-4c53-9a57-2a1f0e6d1c11"
JOB = "mapreduce-20251112_190130"


def ledger(worktree: Path) -> list[str]:
    path = worktree / "ledger"
    return path.read_text().split() if path.exists() else []


def test_existing_resume_of_our_own_standard_sessions_keeps_working(prodigy_home: Path, git_repo: Path,
                                                                    write_workflow, invoke) -> None:
    """With the original's sessions in the same PRODIGY_HOME, our own run -> fail -> fix -> resume is unchanged."""
    rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-resume-early-12345", 1, 3, {})
    path = write_workflow("""\
        - shell: "echo one >> ../ledger"
        - shell: "test -f ../ok"
        - shell: "echo three >> ../ledger"
    """)
    code, out, _err = invoke("run", str(path), "--no-worktree", "-p", str(git_repo))
    assert code == 1
    session_id = out.split()[1]
    (git_repo.parent / "ok").touch()
    code, out, err = invoke("resume", session_id)
    assert code == 0, out + err
    assert "Converted" not in out and (git_repo.parent / "ledger").read_text().split() == ["one", "three"]


def test_a_checkpoint_without_workflow_path_works_with_the_fallback(prodigy_home: Path, git_repo: Path,
                                                                    write_workflow, invoke) -> None:
    """No workflow_path (older versions): the error names --workflow; with it, the resume is exact."""
    write_workflow(THREE, name="any-name.yml")
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-old-1", 2, 3, {},
                                                         workflow_path=None)
    code, _out, err = invoke("resume", "session-old-1", "--path", str(git_repo))
    assert code == 2 and "did not record the workflow file" in err
    assert "prodigy resume session-old-1 --workflow PATH" in err
    code, out, err = invoke("resume", "session-old-1", "--workflow", str(git_repo / "any-name.yml"))
    assert code == 0, out + err
    assert ledger(worktree) == ["three"]


@pytest.mark.parametrize("where", ["path", "worktree", "default-workflow.yml"])
def test_a_relative_workflow_path_is_found_as_the_original_found_it(prodigy_home: Path, git_repo: Path,
                                                                     write_workflow, invoke, where) -> None:
    """Relative paths: under --path, then the current directory, then the session worktree; a checkpoint
    naming plain `workflow.yml` (as the original hard-coded on some paths) resolves the same way."""
    name = "workflow.yml" if where == "default-workflow.yml" else "test-resume-workflow.yaml"
    write_workflow(THREE, name=name)
    if where == "worktree":
        rust.git(git_repo, "add", name)
        rust.git(git_repo, "commit", "-qm", "workflow")
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-rel-1", 1, 3, {},
                                                         workflow_path=name)
    if where == "worktree":
        (git_repo / name).unlink()  # only the worktree's copy is left
        code, out, err = invoke("resume", "session-rel-1")
    else:
        code, out, err = invoke("resume", "session-rel-1", "--path", str(git_repo))
    assert code == 0, out + err
    assert ledger(worktree) == ["two", "three"]
    expected = worktree / name if where == "worktree" else git_repo / name
    assert sessions.load(converted_session_id("session-rel-1")).workflow_path == str(expected)


def test_a_moved_workflow_file_is_a_clear_error_and_resumes_with_workflow(prodigy_home: Path, git_repo: Path,
                                                                         write_workflow, invoke) -> None:
    write_workflow(THREE, name="moved.yml")
    absolute = str(git_repo / "test-resume-workflow.yaml")  # recorded absolute, then moved
    worktree = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-moved-1", 1, 3, {},
                                                         workflow_path=absolute)
    code, _out, err = invoke("resume", "session-moved-1", "--path", str(git_repo))
    assert code == 2
    assert f"Workflow file not found: {absolute}" in err and "may have been moved or deleted" in err
    assert "--workflow PATH" in err
    code, out, err = invoke("resume", "session-moved-1", "--workflow", str(git_repo / "moved.yml"))
    assert code == 0, out + err
    assert ledger(worktree) == ["two", "three"]


def test_checkpoints_of_older_versions_resume(prodigy_home: Path, git_repo: Path, write_workflow, invoke) -> None:
    """A version-1 checkpoint from before retry_state, workflow_name and step outputs were written, and a
    session record from before workflow_data.worktree_name existed."""
    write_workflow(THREE, name="test-resume-workflow.yaml")
    worktree = rust.create_test_worktree(prodigy_home, git_repo, "session-older-1")
    data = rust.checkpoint_json("session-older-1", 2, 3, {"x": "1"})
    data.pop("workflow_name")
    for step in data["completed_steps"]:
        for key in ("retry_state", "output", "captured_variables"):
            step.pop(key)
    rust.write_checkpoint(prodigy_home, "session-older-1", data)
    session = rust.session_json("session-older-1", executed=2, total=3)
    session["workflow_data"].pop("worktree_name")
    rust.write_session(prodigy_home, session)
    code, out, err = invoke("resume", "session-older-1", "--path", str(git_repo))
    assert code == 0, out + err
    assert ledger(worktree) == ["three"]


def _mapreduce_original(prodigy_home: Path, git_repo: Path, write_workflow, job: str = JOB) -> Path:
    write_workflow(f"""\
        name: mr
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: "echo ${{item.n}} >> {git_repo.parent}/map-ledger"
        reduce:
          - shell: "echo reduce ${{map.successful}} >> {git_repo.parent}/map-ledger"
    """)
    (git_repo / "items.json").write_text(json.dumps([{"n": i} for i in range(4)]))
    rust.git(git_repo, "add", "-A")
    rust.git(git_repo, "commit", "-qm", "mr")
    worktree = rust.create_test_worktree(prodigy_home, git_repo, SID)
    rust.write_session(prodigy_home, rust.session_json(SID, workflow_name="mr"))
    rust.write_events(prodigy_home, SID, job, rust.map_events(job, 4, completed=[0, 1]))
    return worktree


def test_old_jobs_without_a_mapping_resolve_by_the_fallback_strategies(prodigy_home: Path, git_repo: Path,
                                                                       write_workflow, invoke) -> None:
    """No mapping file: the job's events folder names the session (the original used the worktree name)."""
    _mapreduce_original(prodigy_home, git_repo, write_workflow)
    assert not (prodigy_home / "state" / "mappings").exists()
    code, out, err = invoke("resume-job", JOB, "--workflow", str(git_repo / "workflow.yml"))
    assert code == 0, out + err
    assert f"found by job id {JOB} (the folder its events/DLQ are under ({SID}))" in out
    assert (git_repo.parent / "map-ledger").read_text().split() == ["2", "3", "reduce", "4"]


def test_the_lock_guards_converted_mapreduce_and_standard_resumes(prodigy_home: Path, git_repo: Path,
                                                                  write_workflow, invoke) -> None:
    _mapreduce_original(prodigy_home, git_repo, write_workflow)
    assert invoke("migrate", SID, "--workflow", str(git_repo / "workflow.yml"))[0] == 0
    with ExecutionLock(converted_session_id(SID), purpose="resume"):
        for command in (("resume", SID), ("resume-job", JOB)):
            code, _out, err = invoke(*command)
            assert code == 4 and "already in progress" in err, command
    assert not (git_repo.parent / "map-ledger").exists()


def test_our_state_files_and_the_originals_coexist(prodigy_home: Path, git_repo: Path, write_workflow,
                                                   invoke) -> None:
    """Operator commands read ours and leave the original's alone; worktree clean never removes the worktree of
    an original session (converted or not) that can still be resumed."""
    worktree = _mapreduce_original(prodigy_home, git_repo, write_workflow)
    other = rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-5e5e5e5e-0000-4000-8000-"
                                                      "000000000000", 1, 3, {})
    for command in (("checkpoints", "list"), ("sessions", "list"), ("worktree", "ls")):
        code, _out, err = invoke(*command)
        assert code == 0 and "Warning" not in err, (command, err)
    assert invoke("migrate", SID, "--workflow", str(git_repo / "workflow.yml"))[0] == 0
    code, out, err = invoke("worktree", "clean", "--orphaned", "-y")
    assert code == 0, out + err
    assert worktree.is_dir() and other.is_dir()
    code, out, _err = invoke("worktree", "ls")
    assert converted_session_id(SID) in out and "interrupted" in out
    before = rust.snapshot(prodigy_home)
    code, out, err = invoke("clean", "all", "--older-than", "0", "-y")
    assert code == 0, out + err
    after = rust.snapshot(prodigy_home)
    originals = [k for k in before if k.startswith(("events/session-", "sessions/session-5e5e", "state/session-5e5e"))]
    assert originals and all(after.get(k) == before[k] for k in originals)  # the original's records stay
    assert worktree.is_dir() and other.is_dir()  # and so do the worktrees of its resumable sessions
