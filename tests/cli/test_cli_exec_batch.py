"""`prodigy exec` and `prodigy batch` in process."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy import paths
from prodigy.state import sessions


def test_exec_runs_a_recorded_one_step_session(invoke, work: Path) -> None:
    code, out, err = invoke("exec", "shell: echo ran >> ledger", "-p", str(work), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "completed" and data["steps"]["total"] == 1
    record = sessions.load(data["session_id"])
    assert record.workflow_name == "exec" and record.status == "completed"
    assert Path(record.workflow_path).parent == paths.generated_dir()
    assert (work / "ledger").read_text() == "ran\n"


def test_exec_retry_gives_the_command_n_attempts_and_a_failure_is_resumable(invoke, work: Path) -> None:
    code, out, _ = invoke("exec", "shell: echo try >> tries; test -f fixed", "--retry", "3", "-p", str(work))
    assert code == 1 and (work / "tries").read_text() == "try\n" * 3
    (session_id,) = sessions.all_ids()
    assert f"Resume with: prodigy resume {session_id}" in out
    (work / "fixed").touch()
    code, _, err = invoke("resume", session_id)
    assert code == 0, err
    assert sessions.load(session_id).status == "completed"


def test_exec_timeout_ends_the_command(invoke, work: Path) -> None:
    code, out, _ = invoke("exec", "sleep 30", "--timeout", "0.3", "-p", str(work))
    assert code == 1 and "timed out" in out


def test_exec_bad_input_writes_nothing(invoke, work: Path, prodigy_home: Path, monkeypatch) -> None:
    assert invoke("exec", "shell:", "-p", str(work))[0] == 2
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = invoke("exec", "/lint", "-p", str(work))
    assert code == 2 and "claude" in err
    assert invoke("exec", "echo x", "-p", str(work / "missing"))[0] == 2
    assert not paths.generated_dir().exists() and sessions.all_ids() == []


def test_exec_claude_command_runs_the_agent(invoke, work: Path, fake_claude: Path) -> None:
    code, _, err = invoke("exec", "/prodigy-lint src", "-p", str(work))
    assert code == 0, err
    calls = [json.loads(line) for line in fake_claude.read_text().splitlines()]
    assert len(calls) == 1 and "/prodigy-lint src" in json.dumps(calls[0])


def test_batch_runs_one_item_per_file(invoke, work: Path) -> None:
    for rel in ("a.txt", "sub/b.txt", "sub/c.txt", "skip.md"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(rel)
    code, out, err = invoke("batch", "*.txt", "--command", "shell: cp ${item} ${item}.done", "-p", str(work),
                            "--parallel", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["items"]["total"] == 3 and data["items"]["successful"] == 3
    assert sorted(p.name for p in work.rglob("*.done")) == ["a.txt.done", "b.txt.done", "c.txt.done"]
    assert sessions.load(data["session_id"]).workflow_name == "batch"


def test_batch_failures_go_to_the_dlq_after_their_retries(invoke, work: Path) -> None:
    for name in ("ok.txt", "bad.txt"):
        (work / name).write_text(name)
    code, out, _ = invoke("batch", "*.txt", "-c", "shell: echo ${item} >> tries; test ${item} != bad.txt",
                          "--retry", "2", "-p", str(work), "--json")
    data = json.loads(out)
    assert code == 3 and data["items"]["dlq"] == 1
    assert (work / "tries").read_text().splitlines().count("bad.txt") == 2


def test_batch_with_no_match_is_exit_2_and_writes_nothing(invoke, work: Path) -> None:
    code, _, err = invoke("batch", "*.rs", "--command", "echo ${item}", "-p", str(work))
    assert code == 2 and "No file matches '*.rs'" in err
    assert not paths.generated_dir().exists()
    assert invoke("batch", "*.rs", "-p", str(work))[0] == 2  # --command is required
