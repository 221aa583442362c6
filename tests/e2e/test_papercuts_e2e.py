"""What a newcomer tripped over (issue 17, section 3), through the installed CLI: listings that tell the truth
during a run and after a kill, ids that resolve, hints that help, counts that add up."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import mr_support as mr
import pytest

import support

pytestmark = pytest.mark.e2e


def test_sessions_list_and_show_mid_run_and_after_a_kill(work: Path, marker: str, prodigy_home: Path,
                                                        spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=10, max_parallel=2)
    (work / "hold").touch()
    proc = spawn_prodigy("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work, limit=5))
    mr.wait_for_held(ledger, 5, 2)
    job_id = mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 5)
    session_id = mr.only_session_id(prodigy_home)

    code, out, _ = mr.run("sessions", "list", "--json", cwd=work)
    row = json.loads(out)["sessions"][0]
    assert code == 0 and row["status"] == "running" and row["progress"]["done"] == 5
    assert row["progress"]["total"] == 10  # from the journal, not the 0/10 the record had

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    code, out, _ = mr.run("sessions", "list", cwd=work)
    line = next(x for x in out.splitlines() if x.startswith(session_id))
    assert "interrupted" in line and "5/10" in line
    code, out, _ = mr.run("sessions", "show", session_id, cwd=work)
    assert "Status:   interrupted (its process is gone; the record still said running)" in out
    assert "Progress: 5/10" in out and "Status:       interrupted" in out
    assert "Setup steps:  0 done, setup complete" in out
    assert out.rstrip().splitlines()[-1] == f"Next: prodigy resume {session_id}"
    assert job_id in out


def test_dlq_show_counts_an_interrupted_attempt_apart(work: Path, marker: str, prodigy_home: Path,
                                                      spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=1, max_parallel=1)
    (work / "fail_item_0").touch()
    code, out, err = mr.run("run", "workflow.yml", "-y", cwd=work)
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    assert f"Retry the DLQ with: prodigy resume-job {job_id} --force" in out  # the one retry hint
    (work / "fail_item_0").unlink()
    (work / "hold").touch()
    proc = spawn_prodigy("resume-job", job_id, "--force", cwd=work, env=mr.hold_env(work, limit=0))
    support.wait_for(lambda: mr.attempts_of(ledger, "item_0") == [1, 2], what="the retry to start")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    code, out, _ = mr.run("dlq", "show", job_id, "item_0", cwd=work)
    assert code == 0
    assert ("item_0: pending, 2 attempt(s): 1 failed, 1 cut short by an interruption or a crash (not failures; "
            "not listed)") in out


def test_shell_completion_of_workflow_files_commands_and_ids(work: Path, prodigy_home: Path) -> None:
    support.write_workflow(work, "- shell: 'true'\n", "hello.yml")
    code, out, err = mr.run("run", "hello.yml", "--no-worktree", cwd=work)
    session_id = support.session_id_from(out)

    def complete(line: str) -> list[str]:
        words = line.split()
        env = {"_PRODIGY_COMPLETE": "bash_complete", "COMP_WORDS": line,
               "COMP_CWORD": str(len(words) - (0 if line.endswith(" ") else 1))}
        code, out, err = mr.run(cwd=work, env=env)
        assert code == 0, err
        return out.splitlines()

    assert complete("prodigy run hel") == ["file,hel"]  # the shell completes the path itself
    assert complete("prodigy resu") == ["plain,resume", "plain,resume-job"]
    assert complete(f"prodigy resume {session_id[:12]}") == [f"plain,{session_id}"]
    assert complete(f"prodigy sessions show {session_id[:12]}") == [f"plain,{session_id}"]
    code, out, _ = mr.run(cwd=work, env={"_PRODIGY_COMPLETE": "bash_source"})
    assert code == 0 and "_prodigy_completion" in out and "complete -o nosort -F _prodigy_completion prodigy" in out
