"""`prodigy migrate` and `prodigy sessions list` over a PRODIGY_HOME the original (Rust) prodigy used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import legacy_support as rust
from prodigy import paths
from prodigy.legacy.model import converted_session_id
from prodigy.state import sessions

WORKFLOW = """\
    commands:
      - shell: "echo one >> ledger"
      - shell: "echo two >> ledger"
      - shell: "echo three >> ledger"
"""


@pytest.fixture
def home(prodigy_home: Path, git_repo: Path, write_workflow) -> Path:
    """Three originals: an interrupted one, a completed one, one whose workflow file is gone."""
    write_workflow(WORKFLOW, name="test-resume-workflow.yaml")
    rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-aaaa-1", 1, 3, {})
    rust.write_session(prodigy_home, rust.session_json("session-bbbb-2", status="Completed", executed=3, total=3))
    rust.create_test_checkpoint_with_worktree(prodigy_home, git_repo, "session-cccc-3", 2, 3, {},
                                              workflow_path="gone.yaml")
    return prodigy_home


def test_dry_run_reports_and_writes_nothing(home: Path, git_repo: Path, invoke) -> None:
    before = rust.snapshot(home)
    code, out, err = invoke("migrate", "--dry-run", "--path", str(git_repo))
    assert code == 2, out + err  # one original cannot be converted without --workflow
    assert "Would convert session-aaaa-1 (workflow, Paused in the original prodigy)" in out
    assert "Not converted (completed: nothing to resume) session-bbbb-2" in out
    assert "Could not convert session-cccc-3 (workflow, Paused in the original prodigy)" in out
    assert "Workflow file not found: gone.yaml" in out
    assert "3 original(s): 1 would be converted, 1 completed (nothing to resume), 1 could not be converted" in out
    assert rust.snapshot(home) == before and not paths.legacy_dir().exists()


def test_migrate_converts_every_original_and_is_idempotent(home: Path, git_repo: Path, invoke) -> None:
    code, out, err = invoke("migrate", "--path", str(git_repo), "--json")
    assert code == 2, err
    data = json.loads(out)
    assert data["counts"] == {"converted": 1, "would_convert": 0, "already_converted": 0, "nothing_to_resume": 1,
                              "cancelled": 0, "failed": 1}
    by_id = {r["original_id"]: r for r in data["originals"]}
    assert by_id["session-aaaa-1"]["session_id"] == converted_session_id("session-aaaa-1")
    assert by_id["session-aaaa-1"]["counts"] == {"steps": 3, "done": 1, "next": 2}
    assert by_id["session-cccc-3"]["exit_code"] == 2 and "--workflow PATH" in by_id["session-cccc-3"]["error"]
    code, out, _err = invoke("migrate", "--path", str(git_repo))
    assert "Already converted session-aaaa-1" in out and "Converted session-aaaa-1" not in out
    # The one that needed its workflow file: point at it.
    code, out, err = invoke("migrate", "session-cccc-3", "--workflow", str(git_repo / "test-resume-workflow.yaml"))
    assert code == 0 and "Converted session-cccc-3" in out, out + err


def test_sessions_list_shows_the_originals_beside_ours_marked(home: Path, git_repo: Path, invoke) -> None:
    code, out, err = invoke("sessions", "list")
    assert code == 0 and err == ""  # the original's records are recognised, not "unreadable"
    lines = out.splitlines()
    assert lines[0].split()[-1] == "ORIGIN"
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.startswith("session-")}
    assert rows["session-aaaa-1"][3:5] == ["interrupted", "1/3"] and rows["session-aaaa-1"][-1] == "original"
    assert rows["session-bbbb-2"][3] == "completed"
    assert "prodigy migrate" in out
    invoke("migrate", "session-aaaa-1", "--path", str(git_repo))
    data = json.loads(invoke("sessions", "list", "--json")[1])
    origins = {row["id"]: row["origin"] for row in data["sessions"]}
    assert origins[converted_session_id("session-aaaa-1")] == "converted from session-aaaa-1"
    assert "session-aaaa-1" not in origins and origins["session-bbbb-2"] == "original"
    code, _out, err = invoke("resume")  # the listing of resumable sessions includes the originals
    assert "session-cccc-3" in err and "(original prodigy)" in err


def test_redo_converts_again_until_the_converted_session_has_run(home: Path, git_repo: Path, invoke) -> None:
    assert invoke("migrate", "session-aaaa-1", "--path", str(git_repo))[0] == 0
    code, out, _err = invoke("migrate", "--redo", "session-aaaa-1", "--path", str(git_repo))
    assert code == 0 and "Converted session-aaaa-1" in out
    assert invoke("resume", "session-aaaa-1")[0] == 0
    code, out, _err = invoke("migrate", "--redo", "session-aaaa-1")
    assert code == 2 and "has run since the conversion" in out
    assert sessions.load(converted_session_id("session-aaaa-1")).status == "completed"


def test_an_original_changed_after_its_conversion_is_converted_again_if_it_never_ran(
        home: Path, git_repo: Path, invoke) -> None:
    """The original prodigy ran the session further after our conversion: its newer checkpoint wins."""
    assert invoke("migrate", "session-aaaa-1", "--path", str(git_repo))[0] == 0
    rust.write_checkpoint(home, "session-aaaa-1", rust.checkpoint_json("session-aaaa-1", 2, 3, {}))
    code, out, err = invoke("resume", "session-aaaa-1", "--path", str(git_repo))
    assert code == 0, out + err
    assert "converted again" in out and "from step 3/3" in out


def test_a_removed_converted_session_is_not_silently_converted_again(home: Path, git_repo: Path, invoke) -> None:
    assert invoke("migrate", "session-aaaa-1", "--path", str(git_repo))[0] == 0
    assert invoke("resume", "session-aaaa-1")[0] == 0
    assert invoke("sessions", "clean", "--older-than", "0", "-y")[0] == 0
    code, _out, err = invoke("resume", "session-aaaa-1")
    assert code == 2 and "no longer exists" in err and "migrate --redo session-aaaa-1" in err


def test_migrate_of_an_unknown_id(home: Path, invoke) -> None:
    code, _out, err = invoke("migrate", "session-zzzz")
    assert code == 2 and "No session or job of the original prodigy matches" in err


def test_a_job_no_session_record_owns_is_converted_on_its_own(prodigy_home: Path, git_repo: Path, write_workflow,
                                                              invoke) -> None:
    """Only the job's events and its worktree are left (the session record was cleaned up)."""
    sid, job = "session-7b0b7a33-2c0e-4c53-9a57-2a1f0e6d1c11", "mapreduce-20251112_190130"
    write_workflow(f"""\
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: "echo ${{item.n}} >> {git_repo.parent}/ledger"
    """)
    (git_repo / "items.json").write_text(json.dumps([{"n": i} for i in range(3)]))
    rust.git(git_repo, "add", "-A")
    rust.git(git_repo, "commit", "-qm", "mr")
    rust.create_test_worktree(prodigy_home, git_repo, sid)
    rust.write_events(prodigy_home, sid, job, rust.map_events(job, 3, completed=[1]))
    code, out, _err = invoke("migrate", "--dry-run")
    assert f"Could not convert {job} (mapreduce" in out and "--workflow PATH" in out
    code, out, err = invoke("resume-job", job, "--workflow", str(git_repo / "workflow.yml"))
    assert code == 0, out + err
    assert "found by job id mapreduce-20251112_190130 (no session record owns it" in out
    assert (git_repo.parent / "ledger").read_text().split() == ["0", "2"]
