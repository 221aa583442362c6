"""Dask workers that do not share the coordinator's files: real `dask scheduler` and `dask worker` processes on
127.0.0.1, the workers in private mount namespaces (`unshare --mount`, tmpfs over the repository and
PRODIGY_HOME) standing in for other machines: a stale copy refused, a late worker left out, and
`--repo-transfer git` end to end through a coordinator SIGKILL and a resume.

Marked `dask` and `namespaces`: skipped without the extra and the `dask` command, or unless root with unshare.
scripts/install-test-deps.sh installs what CI needs to run them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import cluster_support as cs
import mr_support as mr
import pytest

import support

pytestmark = [pytest.mark.e2e, pytest.mark.dask, pytest.mark.namespaces]

if cs.dask_cli_missing():
    pytest.skip(cs.dask_cli_missing(), allow_module_level=True)

real_cluster = cs.real_cluster
if cs.namespaces_missing():
    pytest.skip(cs.namespaces_missing(), allow_module_level=True)

HOLD_ENV, dask, done_records = cs.HOLD_ENV, cs.dask_args, cs.done_records


def test_a_worker_with_a_stale_copy_at_the_same_paths_is_refused_before_anything_runs(
        git_repo: Path, marker: str, prodigy_home: Path, real_cluster) -> None:
    work = git_repo
    mr.ledger_workflow(work, marker, work.parent / "ledger.txt", count=2, max_parallel=1)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "workflow"], cwd=work, check=True)
    logs = prodigy_home / "logs" / "claude"
    logs.mkdir(parents=True)
    cluster = cs.RealCluster(work.parent / "stale")
    try:
        cluster.start(0)
        stale = cluster.add_worker(hide=(work, prodigy_home), make=(work / ".git", logs))  # same paths, not the same files
        code, out, err = support.run_prodigy("run", "workflow.yml", "-y", *dask(cluster), cwd=work, timeout=90)
    finally:
        cluster.stop()
    assert code == 2, out + err
    assert f"Dask worker {stale.address} cannot see PRODIGY_HOME's agent log folder {logs}" in out
    assert "or run with --repo-transfer git" in out and mr.no_traceback(err)
    assert not (work.parent / "ledger.txt").exists()  # nothing ran


def test_a_late_worker_that_cannot_see_the_repository_gets_no_items(
        git_repo: Path, marker: str, prodigy_home: Path, spawn_prodigy, real_cluster) -> None:
    work = git_repo
    ledger = work.parent / "ledger.txt"  # outside the repository, where every worker sees it
    # One worker and max_parallel 2: one item runs (held), one waits at the scheduler (worker-saturation 1: none
    # queued on the busy worker), where an idle newcomer would take it at once if prodigy did not keep its
    # tasks to the workers that passed their check.
    mr.ledger_workflow(work, marker, ledger, count=3, max_parallel=2, setup=HOLD_ENV)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "workflow"], cwd=work, check=True)
    hold = work.parent / "hold"
    hold.touch()
    cluster = real_cluster(1, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"})
    proc = spawn_prodigy("run", "workflow.yml", "-y", *dask(cluster), cwd=work,
                         env={"LIMIT": "0", "HOLD": str(hold)})
    mr.wait_for_held(ledger, 0, 1, timeout=60)
    late = cluster.add_worker(hide=(work, prodigy_home))  # another machine, as far as files go

    def told() -> bool:
        return any(late.address in text and "left out of this job" in text
                   for text in (p.read_text() for p in (prodigy_home / "events").rglob("events.jsonl")))

    support.wait_for(told, 30, what=f"the late worker {late.address} to be left out")
    job_id = mr.only_job_id(prodigy_home)
    watch_until = time.monotonic() + 2.0  # long enough for Dask to move the waiting task to an idle worker
    while time.monotonic() < watch_until:
        assert not [r for r in mr.journal(job_id) if r.get("w") == late.address]
        time.sleep(0.05)
    hold.unlink()
    code, out, err = support.finish(proc, timeout=90)
    assert code == 0, out + err
    assert f"Dask worker {late.address} is left out of this job: it cannot see" in out
    assert mr.job_id_from(out) == job_id
    assert not [r for r in mr.journal(job_id) if r.get("w") == late.address]  # no item ran (or was tried) there
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(3)}


GIT_JOB = """\
name: commits-come-back
mode: mapreduce
env:
  LIMIT: ${{env.LIMIT}}
  HOLD: ${{env.HOLD}}
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: |
        : {marker}
        echo "start ${{item_id}} $PRODIGY_ATTEMPT $HOME" >> "{ledger}"
        echo "${{item.n}}" > "out_${{item.n}}.txt"
        git add "out_${{item.n}}.txt" && git commit -q -m "item ${{item.n}}"
        if [ ${{item.n}} -ge "$LIMIT" ]; then while [ -e "$HOLD" ]; do sleep 0.05; done; fi
        echo "end ${{item_id}}" >> "{ledger}"
      commit_required: true
reduce:
  - shell: echo "reduce $(ls out_*.txt | wc -l)" >> "{ledger}"
"""


def test_repo_transfer_git_with_workers_that_see_neither_prodigy_home_nor_the_repository(
        git_repo: Path, marker: str, prodigy_home: Path, spawn_prodigy, real_cluster) -> None:
    work = git_repo
    ledger, hold = work.parent / "ledger.txt", work.parent / "hold"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(6)]))
    (work / "workflow.yml").write_text(GIT_JOB.format(marker=marker, ledger=ledger))
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "workflow"], cwd=work, check=True)
    hold.touch()
    cluster = real_cluster(2, hide=(work, prodigy_home.parent))  # the repository, and HOME with PRODIGY_HOME
    options = dask(cluster, "--repo-transfer", "git")
    proc = spawn_prodigy("run", "workflow.yml", "-y", *options, cwd=work, env={"LIMIT": "3", "HOLD": str(hold)})
    job_id = mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 3, timeout=90)
    mr.wait_for_held(ledger, 3, 2, timeout=60)
    proc.send_signal(signal.SIGKILL)
    support.finish(proc)
    assert mr.succeeded_in_journal(job_id) == {0, 1, 2}
    # The coordinator's client is gone, so the cluster dropped its tasks: the workers end their commands.
    support.wait_for(lambda: not mr.marker_processes(marker), 15, what="the workers to end the held commands")

    hold.unlink()
    code, out, err = support.run_prodigy("resume-job", job_id, *options, cwd=work, timeout=120,
                                         env={"LIMIT": "3", "HOLD": str(hold)})
    assert code == 0, out + err
    assert "commits shipped to the workers as git bundles" in out
    homes = {line.split()[3] for line in mr.ledger(ledger) if line.startswith("start ")}
    assert homes <= {str(w.home) for w in cluster.workers}  # each worker's own HOME, never the coordinator's
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(6)}
    assert [mr.attempts_of(ledger, f"item_{i}") for i in (3, 4)] == [[1, 2], [1, 2]]
    assert mr.ledger(ledger)[-1] == "reduce 6"  # the reduce saw every item's commit, merged
    branch = f"prodigy-{mr.only_session_id(prodigy_home)}"  # resume-job without -y: merged into the session branch
    merges = subprocess.run(["git", "log", "--format=%s", branch], cwd=work, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert sorted(m for m in merges if m.startswith("prodigy: merge item_")) == sorted(
        f"prodigy: merge item_{i} of {job_id}" for i in range(6))  # each item's commits merged once
    assert sorted(m for m in merges if m.startswith("item ")) == [f"item {i}" for i in range(6)]
    files = subprocess.run(["git", "ls-tree", "--name-only", branch], cwd=work, capture_output=True, text=True,
                           check=True).stdout.split()
    assert [f for f in files if f.startswith("out_")] == [f"out_{i}.txt" for i in range(6)]
    assert not mr.marker_processes(marker)
