"""The map phase on a real Dask LocalCluster (worker processes on 127.0.0.1), through the installed CLI.

Skipped without the dask extra (pip install '.[test,dask]'); `-m "not dask"` leaves them out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import mr_support as mr
import psutil
import pytest

import support

pytest.importorskip("distributed")

pytestmark = [pytest.mark.e2e, pytest.mark.dask]

DASK = ("--executor", "dask", "--local-workers", "2")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return support.run_prodigy(*args, cwd=cwd, env=env, timeout=90)


def done_records(job_id: str) -> list[dict]:
    return [r for r in mr.journal(job_id) if r.get("t") == "done"]


def test_40_items_on_2_workers_run_exactly_once(work: Path, marker: str) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=40, max_parallel=4)
    code, out, err = run("run", "workflow.yml", "-y", "--json", *DASK, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["items"]["successful"] == 40
    assert summary["executor"] == "dask" and summary["scheduler"].startswith("tcp://127.0.0.1:")
    assert "Map phase on Dask" in err
    assert mr.starts(ledger) == {f"item_{i}": 1 for i in range(40)}
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(40)}
    assert mr.ledger(ledger).count("reduce 40/40 failed 0") == 1
    records = mr.journal(summary["job_id"])
    workers = {r["w"] for r in records if r.get("t") == "done"}
    assert workers and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    procs = [r for r in records if r.get("t") in ("start", "proc") and "i" in r]
    assert len(procs) == 40 and all(r["w"] in workers for r in procs)  # every command journaled, with its worker


KILLABLE = """\
name: worker-dies
mode: mapreduce
error_policy:
  retry:
    attempts: 2
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: |
        : {marker}
        echo "start ${{item_id}} $PRODIGY_ATTEMPT" >> "{ledger}"
        if [ "${{item_id}}" = item_2 ] && [ "$PRODIGY_ATTEMPT" = 1 ]; then sleep 60; fi
        echo "end ${{item_id}}" >> "{ledger}"
reduce: []
"""


def test_a_worker_killed_mid_item_fails_that_attempt_and_the_retry_succeeds(work: Path, marker: str,
                                                                             prodigy_home: Path,
                                                                             spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(6)]))
    (work / "workflow.yml").write_text(KILLABLE.format(marker=marker, ledger=ledger))
    proc = spawn_prodigy("run", "workflow.yml", "-y", *DASK, cwd=work)

    def proc_record() -> dict | None:
        job_id = mr.only_job_id(prodigy_home)
        found = [r for r in mr.journal(job_id) if r.get("t") in ("start", "proc") and r["i"] == 2] if job_id else []
        return found[0] if found and "start item_2 1" in mr.ledger(ledger) else None

    record = support.wait_for(proc_record, 30, what="item_2's command journaled")
    worker = psutil.Process(record["pid"]).ppid()  # the command's parent is the Dask worker process
    assert worker != proc.pid
    os.kill(worker, signal.SIGKILL)
    code, out, err = support.finish(proc)
    assert code == 0, out + err
    job_id = mr.job_id_from(out)
    failed = [r for r in done_records(job_id) if r["i"] == 2 and r.get("a", 1) == 1]
    print(failed)
    assert len(failed) == 1 and failed[0].get("s", "succeeded") == "interrupted"
    assert failed[0]["k"] == "cluster" and failed[0]["r"] == "worker_died"
    assert failed[0]["w"] == record["w"] and f"worker {record['w']} died" in failed[0]["err"]
    assert [r.get("s", "succeeded") for r in done_records(job_id) if r["i"] == 2 and r.get("a", 1) == 2] == ["succeeded"]
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(6)}
    assert mr.attempts_of(ledger, "item_2") == [1, 2]
    assert not mr.marker_processes(marker)  # the dead worker's `sleep 60` was ended, not left behind


@pytest.mark.parametrize("first", ["dask", "local"])
def test_coordinator_sigkill_then_resume_job_on_dask_reruns_no_completed_item(first: str, work: Path, marker: str,
                                                                             prodigy_home: Path,
                                                                             spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=10, max_parallel=2)
    (work / "hold").touch()
    executor = DASK if first == "dask" else ()
    proc = spawn_prodigy("run", "workflow.yml", "-y", *executor, cwd=work, env=mr.hold_env(work, limit=3))
    mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 3, timeout=30)
    mr.wait_for_held(ledger, 3, 2, timeout=30)
    proc.send_signal(signal.SIGKILL)
    code, out, _err = support.finish(proc)
    assert code == -signal.SIGKILL
    job_id = mr.job_id_from(out)
    assert mr.succeeded_in_journal(job_id) == {0, 1, 2}
    if first == "local":  # on a cluster, its workers may already be ending them: their client is gone
        assert len(mr.marker_processes(marker)) >= 2  # the held commands outlived the coordinator
    workers = {r.get("w") for r in mr.journal(job_id) if r.get("t") in ("start", "proc")}
    assert all(w and w.startswith("tcp://127.0.0.1:") for w in workers) if first == "dask" else workers == {None}

    code, out, err = run("resume-job", job_id, *DASK, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    begun = mr.starts(ledger)
    assert [begun[f"item_{i}"] for i in range(3)] == [1, 1, 1]  # no completed item re-run
    assert [mr.attempts_of(ledger, f"item_{i}") for i in (3, 4)] == [[1, 2]] * 2  # in flight: attempt 2
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(10)}
    assert ("Ended 2 command(s)" in out or first == "dask") and "Executor:   dask" in out
    assert not mr.marker_processes(marker)


def test_sigterm_stops_the_items_on_the_workers_in_order(work: Path, marker: str, prodigy_home: Path,
                                                         spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=6, max_parallel=2)
    (work / "hold").touch()
    proc = spawn_prodigy("run", "workflow.yml", "-y", *DASK, cwd=work, env=mr.hold_env(work, limit=0))
    mr.wait_for_held(ledger, 0, 2, timeout=30)
    proc.send_signal(signal.SIGTERM)
    code, out, err = support.finish(proc)
    assert code == 130, out + err
    job_id = mr.job_id_from(out)
    assert sorted(r.get("s", "succeeded") for r in done_records(job_id)) == ["interrupted", "interrupted"]
    assert not mr.marker_processes(marker)  # the held commands were ended on the workers


def test_without_the_backend_asking_for_it_says_what_to_install(work: Path, tmp_path: Path,
                                                                prodigy_home: Path) -> None:
    hide = tmp_path / "hide-dask"
    hide.mkdir()
    (hide / "distributed.py").write_text("raise ImportError('hidden by the test')\n")
    mr.ledger_workflow(work, "m", work / "ledger.txt", count=2, max_parallel=1)
    env = support.child_env({"PYTHONPATH": str(hide)})
    proc = subprocess.run([*support.prodigy_command(), "run", "workflow.yml", *DASK], cwd=work, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'prodigy[dask]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (prodigy_home / "sessions").exists() or not any((prodigy_home / "sessions").iterdir())
    assert not (work / "ledger.txt").exists()


def test_executor_options_are_checked_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from prodigy.errors import UsageError
    from prodigy.execution.mapreduce.executor_choice import executor_choice

    assert executor_choice("local", None, None) == {"kind": "local"}
    with pytest.raises(UsageError, match="go with --executor dask"):
        executor_choice("local", "tcp://127.0.0.1:8786", None)
    with pytest.raises(UsageError, match="not both"):
        executor_choice("dask", "tcp://127.0.0.1:8786", 2)
    monkeypatch.delenv("PRODIGY_DASK_SCHEDULER", raising=False)
    with pytest.raises(UsageError, match="needs a cluster"):
        executor_choice("dask", None, None)
    monkeypatch.setenv("PRODIGY_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert executor_choice("dask", None, None)["scheduler"] == "tcp://10.0.0.5:8786"
    assert executor_choice("dask", None, 2) == {"kind": "dask", "scheduler": None, "local_workers": 2}


def test_worker_hosts_on_this_machine_are_recognised() -> None:
    from prodigy.execution.mapreduce.dask_executor import is_local_host, worker_host

    assert worker_host("tcp://127.0.0.1:40001") == "127.0.0.1"
    assert worker_host("tls://[::1]:8786") == "::1"
    assert is_local_host("127.0.0.1") and is_local_host("localhost")
    assert not is_local_host("192.0.2.44")  # TEST-NET-1: never a local interface
