"""The map phase on a real cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1 with their own cwd
and HOME, and faults injected the way they happen: the scheduler killed mid-map, a worker killed under Dask's
default allowed-failures; and what workers get of the environment. (Workers that share no filesystem:
test_dask_transfer.py.)

Marked `dask`: skipped without the extra or the `dask` command; scripts/install-test-deps.sh installs them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import cluster_support as cs
import mr_support as mr
import psutil
import pytest

import support

pytestmark = [pytest.mark.e2e, pytest.mark.dask]

if cs.dask_cli_missing():
    pytest.skip(cs.dask_cli_missing(), allow_module_level=True)

real_cluster, shared_cluster = cs.real_cluster, cs.shared_cluster

HOLD_ENV, dask, done_records = cs.HOLD_ENV, cs.dask_args, cs.done_records


def test_scheduler_killed_mid_map_stops_resumably_and_a_new_cluster_finishes(
        work: Path, marker: str, prodigy_home: Path, spawn_prodigy, real_cluster) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=6, max_parallel=2, setup=HOLD_ENV)
    (work / "hold").touch()
    first = real_cluster(2)
    proc = spawn_prodigy("run", "workflow.yml", "-y", *dask(first), cwd=work,
                         env={**mr.hold_env(work, limit=2), "PRODIGY_DASK_RECONNECT": "2"})
    mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 2, timeout=60)
    mr.wait_for_held(ledger, 2, 2, timeout=30)
    first.kill_scheduler()
    code, out, err = support.finish(proc, timeout=60)
    assert code == 75, out + err  # stopped, resumable
    job_id = mr.job_id_from(out)
    assert "Lost the connection to the Dask scheduler" in out and "Traceback" not in err
    assert "map stopped: the cluster failed: lost the Dask scheduler" in out
    assert f"Resume with: prodigy resume-job {job_id} --executor dask --scheduler {first.address}" in out
    records = mr.journal(job_id)
    assert not [r for r in records if r.get("final")]  # nothing in the DLQ
    assert not [r for r in records if r.get("t") in ("map_done", "reduce_step", "reduce_done")]  # no reduce
    assert sorted(r["i"] for r in records if r.get("t") == "done") == [0, 1]  # 2, 3 are in flight, not failed
    assert not any(line.startswith("reduce") for line in mr.ledger(ledger))
    session = mr.session_record(prodigy_home, mr.only_session_id(prodigy_home))
    assert session["status"] == "interrupted"
    support.wait_for(lambda: not mr.marker_processes(marker), 15, what="the held commands to be ended")

    second = real_cluster(2)
    code, out, err = support.run_prodigy("resume-job", job_id, *dask(second), cwd=work,
                                         env=mr.hold_env(work), timeout=120)
    assert code == 0, out + err
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(6)}  # no item ran to completion twice
    assert [mr.attempts_of(ledger, f"item_{i}") for i in (2, 3)] == [[1, 2], [1, 2]]
    assert mr.ledger(ledger).count("reduce 6/6 failed 0") == 1


def test_a_killed_worker_under_default_allowed_failures_ends_its_command_and_the_item_runs_once_more(
        work: Path, marker: str, prodigy_home: Path, spawn_prodigy, shared_cluster) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(4)]))
    (work / "workflow.yml").write_text(f"""\
name: worker-dies
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: |
        : {marker}
        echo "start ${{item_id}} $PRODIGY_ATTEMPT" >> "{ledger}"
        if [ "${{item_id}}" = item_1 ] && [ "$PRODIGY_ATTEMPT" = 1 ]; then sleep 60; fi
        echo "end ${{item_id}}" >> "{ledger}"
reduce: []
""")
    cluster = shared_cluster  # Dask's default allowed-failures: a lost task would be sent to another worker
    proc = spawn_prodigy("run", "workflow.yml", "-y", *dask(cluster), cwd=work)

    def started() -> dict | None:
        job_id = mr.only_job_id(prodigy_home)
        found = [r for r in mr.journal(job_id) if r.get("t") == "start" and r["i"] == 1] if job_id else []
        return found[0] if found and "start item_1 1" in mr.ledger(ledger) else None

    record = support.wait_for(started, 60, what="item_1's command journaled")
    command = psutil.Process(record["pid"])
    os.kill(command.ppid(), signal.SIGKILL)  # the Dask worker process running it (its nanny restarts it)
    code, out, err = support.finish(proc, timeout=90)
    assert code == 0, out + err
    job_id = mr.job_id_from(out)
    first = [r for r in done_records(job_id) if r["i"] == 1 and r.get("a", 1) == 1]
    assert len(first) == 1 and first[0]["s"] == "interrupted" and first[0]["r"] == "worker_died"
    assert first[0]["w"] == record["w"] and f"worker {record['w']} died" in first[0]["err"]  # the dead one
    assert "its command was ended" in first[0]["err"]
    assert not command.is_running() or command.status() == psutil.STATUS_ZOMBIE
    assert mr.attempts_of(ledger, "item_1") == [1, 2] and mr.ends(ledger) == {f"item_{i}": 1 for i in range(4)}
    assert not [r for r in done_records(job_id) if r.get("final")]
    assert "already ran on worker" not in json.dumps(mr.journal(job_id))
    assert f"Dask worker {record['w']} left the cluster while it ran item_1" in out
    code, shown, _ = support.run_prodigy("dlq", "show", job_id, "item_1", cwd=work)
    assert code == 0 and f"Worker: {record['w']}" in shown, shown  # the history names the worker that died
    assert "0 failed" in shown and "1 lost with its worker" in shown


def test_workers_get_the_workflows_env_and_the_secrets_a_step_names_never_the_coordinators_environment(
        work: Path, marker: str, shared_cluster) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": 0}, {"n": 1}]))
    (work / "check.sh").write_text(f'echo "db=${{DB_PASSWORD:-unset}} mine=${{COORDINATOR_ONLY:-unset}} '
                                   f'home=$HOME" >> "{ledger}"\n')
    (work / "workflow.yml").write_text(f"""\
name: env-on-workers
mode: mapreduce
env:
  REGION: eu-west
  API_TOKEN: {{secret: true, value: tok-123456}}
  DB_PASSWORD: {{secret: true, value: pw-654321}}
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: |
        : {marker}
        echo "token=$API_TOKEN region=$REGION" >> "{ledger}"
        echo "printed tok-123456"
        sh check.sh
reduce: []
""")
    cluster = shared_cluster
    code, out, err = support.run_prodigy("run", "workflow.yml", "-y", *dask(cluster), cwd=work, timeout=90,
                                         env={"COORDINATOR_ONLY": "yes"})
    assert code == 0, out + err
    lines = mr.ledger(ledger)
    assert lines.count("token=tok-123456 region=eu-west") == 2  # named in the step: sent
    homes = {str(w.home) for w in cluster.workers}
    checked = [line.split() for line in lines if line.startswith("db=")]
    assert [c[:2] for c in checked] == [["db=unset", "mine=unset"]] * 2  # not named: held back; not the coordinator's
    assert {c[2].removeprefix("home=") for c in checked} <= homes  # the worker's own HOME
    job_id = mr.job_id_from(out)
    assert "tok-123456" not in json.dumps(mr.journal(job_id))  # what came back is masked
    assert [r.get("out") for r in done_records(job_id)] == ["printed ***\n"] * 2
