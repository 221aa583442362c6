"""What a newcomer tripped over (issue 17, section 3), through the installed CLI: listings that tell the truth
during a run and after a kill, ids that resolve, hints that help, counts that add up."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import mr_support as mr
import pytest

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
