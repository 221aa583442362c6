"""Resuming MapReduce jobs end to end through the installed CLI (issue 4, the spec's acceptance list)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import mr_support as mr
import pytest
from mr_support import run

import support
from prodigy.state.jobs import DLQ, SUCCEEDED

pytestmark = pytest.mark.e2e

JSON_KEYS = {"session_id", "job_id", "kind", "status", "exit_code", "resumed", "phase", "failed_phase", "error",
             "items", "this_run", "resume_plan", "setup_steps", "reduce_steps", "reaped_processes",
             "duration_seconds", "job_dir", "events_log", "warnings", "next_command"}


def kill_when_held(proc, ledger: Path, home: Path, *, done: int, limit: int, held: int,
                   sig: int = signal.SIGKILL) -> tuple[int, str, str]:
    """Wait until `done` items are journaled as succeeded and `held` items at/above `limit` wait, then signal."""
    mr.wait_for_journal(lambda: mr.only_job_id(home), done)
    mr.wait_for_held(ledger, limit, held)
    proc.send_signal(sig)
    return support.finish(proc)


def killed_job(work: Path, home: Path, marker: str, spawn: Callable, *, count: int = 10, max_parallel: int = 3,
               done: int = 3, **workflow: str) -> tuple[str, str, Path]:
    """Run a ledger job, SIGKILL it once `done` items finished and max_parallel items are held."""
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=count, max_parallel=max_parallel, **workflow)
    (work / "hold").touch()
    proc = spawn("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work, limit=done))
    code, out, _err = kill_when_held(proc, ledger, home, done=done, limit=done, held=max_parallel)
    assert code == -signal.SIGKILL
    job_id = mr.job_id_from(out)
    assert mr.succeeded_in_journal(job_id) == set(range(done))
    return job_id, support.session_id_from(out), ledger


def assert_each_item_ended_once(ledger: Path, count: int) -> None:
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(count)}


# ---------------------------------------------------------------- kill -9 in map, then resume by every route


@pytest.mark.parametrize("route", ["resume-job", "resume-session", "resume-job-id", "resume-job-prefix",
                                   "resume-session-prefix"])
def test_sigkill_after_3_items_then_resume(route: str, work: Path, marker: str, prodigy_home: Path,
                                           spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    assert len(mr.marker_processes(marker)) >= 3  # the held commands outlived the killed run
    args = {
        "resume-job": ["resume-job", job_id],
        "resume-session": ["resume", session_id],
        "resume-job-id": ["resume", job_id],
        "resume-job-prefix": ["resume-job", job_id[:48]],
        "resume-session-prefix": ["resume", session_id[:14]],
    }[route]
    code, out, err = run(*args, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    begun = mr.starts(ledger)
    assert [begun[f"item_{i}"] for i in range(3)] == [1, 1, 1]  # the first 3 were not re-run
    assert [mr.attempts_of(ledger, f"item_{i}") for i in (3, 4, 5)] == [[1, 2]] * 3  # in flight: attempt 2
    assert all(begun[f"item_{i}"] == 1 for i in range(6, 10))
    assert_each_item_ended_once(ledger, 10)
    assert mr.ledger(ledger).count("reduce 10/10 failed 0") == 1
    assert "3 done (skipped)" in out and "3 in flight" in out and "4 pending" in out
    assert "Ended 3 command(s)" in out
    assert not mr.marker_processes(marker)  # resume ended the orphans of the killed run
    (work / "hold").unlink()  # had an orphan survived, it would now write a second `end` line
    time.sleep(0.3)
    assert_each_item_ended_once(ledger, 10)
    assert mr.session_record(prodigy_home, session_id)["status"] == "completed"
    assert mr.job_state(job_id).count(SUCCEEDED) == 10


def test_resume_job_json_output_has_the_documented_keys(work: Path, marker: str, prodigy_home: Path,
                                                        spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    code, out, err = run("resume-job", job_id, "--json", cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    summary = json.loads(out)
    assert JSON_KEYS <= set(summary)
    assert (summary["job_id"], summary["session_id"], summary["status"], summary["resumed"]) == (
        job_id, session_id, "completed", True)
    assert summary["items"] == {"total": 10, "successful": 10, "failed": 0, "dlq": 0, "pending": 0}
    assert summary["resume_plan"] == {"phase": "map", "done_skipped": 3, "in_flight_rerun": 3, "dlq": 0,
                                      "dlq_retried": False, "pending": 4, "max_retries": 2, "done_cost_usd": None,
                                      "agent_conversations": 0}
    assert summary["this_run"]["started"] == 7 and summary["reaped_processes"] == 3
    assert summary["next_command"] is None and summary["exit_code"] == 0
    assert Path(summary["job_dir"]).is_dir() and Path(summary["events_log"]).is_file()
    events = [json.loads(line) for line in Path(summary["events_log"]).read_text().splitlines()]
    resumed = [e for e in events if e["event"] in ("resume_started", "resume_finished")]
    assert [e["event"] for e in resumed] == ["resume_started", "resume_finished"]
    assert resumed[0]["correlation_id"] == resumed[1]["correlation_id"]


# ---------------------------------------------------------------- kill -9 in setup and in reduce


def killed_in_setup(work: Path, marker: str, spawn: Callable) -> tuple[str, Path]:
    """A job whose setup step 1 finished (capturing TOKEN-42) and that was SIGKILLed in setup step 2."""
    ledger = work / "ledger.txt"
    setup = f"""\
setup:
  commands:
    - shell: echo setup1 >> "{ledger}"; echo TOKEN-42
    - shell: |
        : {marker}
        echo "setup2 ${{token}}" >> "{ledger}"
        while [ -e "$HOLD" ]; do sleep 0.05; done
  capture_outputs:
    token: 0
"""
    reduce = f"""\
  - shell: echo "reduce ${{map.successful}}/${{map.total}} token ${{token}}" >> "{ledger}"
"""
    mr.ledger_workflow(work, marker, ledger, count=4, max_parallel=2, setup=setup, reduce=reduce)
    (work / "hold").touch()
    proc = spawn("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    support.wait_for_line(ledger, "setup2 TOKEN-42")
    proc.send_signal(signal.SIGKILL)
    _code, out, _err = support.finish(proc)
    return support.session_id_from(out), ledger


def test_sigkill_in_setup_resumes_at_the_step_that_did_not_finish(work: Path, marker: str,
                                                                  spawn_prodigy) -> None:
    session_id, ledger = killed_in_setup(work, marker, spawn_prodigy)
    code, out, err = run("resume", session_id, cwd=work, env=mr.hold_env(work, hold="gone"))
    assert code == 0, out + err
    lines = mr.ledger(ledger)
    assert lines.count("setup1") == 1
    assert lines.count("setup2 TOKEN-42") == 2  # the orphan of the killed step 2, then its re-run
    assert lines[-1].startswith("reduce ") and lines[-1].endswith(" token TOKEN-42")  # step 1's capture survived
    assert not mr.marker_processes(marker)


def test_sigkill_in_setup_then_resume_runs_every_item(work: Path, marker: str, spawn_prodigy) -> None:
    session_id, ledger = killed_in_setup(work, marker, spawn_prodigy)
    code, out, err = run("resume", session_id, cwd=work, env=mr.hold_env(work, hold="gone"))
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 4)
    assert mr.ledger(ledger)[-1] == "reduce 4/4 token TOKEN-42"


def test_sigkill_in_reduce_resumes_at_the_reduce_step_that_did_not_finish(work: Path, marker: str,
                                                                          prodigy_home: Path,
                                                                          spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    reduce = f"""\
  - shell: echo "reduce1 ${{map.successful}}/${{map.total}}" >> "{ledger}"
  - shell: |
      : {marker}
      echo "reduce2 ${{map.successful}}/${{map.total}} failed ${{map.failed}} rate ${{map.success_rate}}" >> "{ledger}"
      while [ -e "$HOLD" ]; do sleep 0.05; done
      echo reduce2-end >> "{ledger}"
"""
    mr.ledger_workflow(work, marker, ledger, count=6, max_parallel=2, reduce=reduce)
    (work / "fail_item_2").touch()
    (work / "hold").touch()
    proc = spawn_prodigy("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    support.wait_for(lambda: any(line.startswith("reduce2") for line in mr.ledger(ledger)), 20, what="reduce2")
    proc.send_signal(signal.SIGKILL)
    _code, out, _err = support.finish(proc)
    job_id = mr.job_id_from(out)
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work, hold="gone"))
    assert code == 3, out + err  # finished, with item_2 in the DLQ
    lines = mr.ledger(ledger)
    assert lines.count("reduce1 5/6") == 1
    assert lines.count("reduce2 5/6 failed 1 rate 83.3") == 2
    assert lines.count("reduce2-end") == 1
    assert all(count == 1 for count in mr.starts(ledger).values())  # no item ran again
    assert f"prodigy resume-job {job_id} --force" in out
    assert not mr.marker_processes(marker)


# ---------------------------------------------------------------- killed twice, resumed twice


def test_120_items_killed_twice_in_map_and_resumed_twice(work: Path, marker: str, prodigy_home: Path,
                                                         spawn_prodigy) -> None:
    count, parallel = 120, 4
    job_id, _session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy, count=count,
                                             max_parallel=parallel, done=30)
    first_kill = mr.succeeded_in_journal(job_id)
    (work / "hold2").touch()
    proc = spawn_prodigy("resume-job", job_id, cwd=work, env=mr.hold_env(work, limit=70, hold="hold2"))
    code, out, err = kill_when_held(proc, ledger, prodigy_home, done=70, limit=70, held=parallel)
    assert code == -signal.SIGKILL, out + err
    second_kill = mr.succeeded_in_journal(job_id)
    assert first_kill == set(range(30)) and second_kill == set(range(70))
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, count)
    begun = mr.starts(ledger)
    rerun = {int(item[5:]) for item, times in begun.items() if times > 1}
    assert rerun == {30, 31, 32, 33, 70, 71, 72, 73}  # only what was in flight at each kill, max_parallel each
    assert all(times <= 2 for times in begun.values())
    assert mr.ledger(ledger)[-1] == "reduce 120/120 failed 0"
    assert not mr.marker_processes(marker)


def test_a_kill_after_a_snapshot_resumes_from_snapshot_plus_tail(work: Path, marker: str, prodigy_home: Path,
                                                                 spawn_prodigy) -> None:
    # 700 finished items write > 2,000 journal records, so the run folds them into checkpoint.json
    job_id, _session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy, count=720,
                                             max_parallel=4, done=700)
    checkpoint = json.loads((mr.job_folder(job_id) / "checkpoint.json").read_text())
    journal_size = (mr.job_folder(job_id) / "journal.jsonl").stat().st_size
    assert 0 < checkpoint["offset"] < journal_size
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work), timeout=90)
    assert code == 0, out + err
    assert "700 done (skipped)" in out and "4 in flight" in out
    assert_each_item_ended_once(ledger, 720)
    assert {int(i[5:]) for i, n in mr.starts(ledger).items() if n > 1} == {700, 701, 702, 703}


def test_a_resume_interrupted_by_sigint_resumes_again(work: Path, marker: str, prodigy_home: Path,
                                                      spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy, count=12)
    (work / "hold2").touch()
    proc = spawn_prodigy("resume", session_id, cwd=work, env=mr.hold_env(work, limit=8, hold="hold2"))
    code, out, err = kill_when_held(proc, ledger, prodigy_home, done=8, limit=8, held=3, sig=signal.SIGINT)
    assert code == 130, out + err
    assert f"prodigy resume {session_id}" in out
    assert mr.session_record(prodigy_home, session_id)["status"] == "interrupted"
    assert not [p for p in mr.marker_processes(marker) if "hold2" in " ".join(p.cmdline())]
    code, out, err = run("resume", session_id, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 12)
    begun = mr.starts(ledger)
    assert {int(i[5:]) for i, n in begun.items() if n > 1} == {3, 4, 5, 8, 9, 10}
    assert [mr.attempts_of(ledger, f"item_{i}") for i in (8, 9, 10)] == [[1, 2]] * 3


# ---------------------------------------------------------------- the DLQ


def test_dlq_items_are_retried_only_with_force(work: Path, marker: str) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=10, max_parallel=3)
    for item in ("item_3", "item_7"):
        (work / f"fail_{item}").touch()
    code, out, err = run("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    assert mr.job_state(job_id).indexes(DLQ) == [3, 7]
    assert mr.ledger(ledger)[-1] == "reduce 8/10 failed 2"

    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 5, out + err  # completed: nothing to resume without --force
    assert "already completed" in err and f"prodigy resume-job {job_id} --force" in err
    assert mr.job_state(job_id).indexes(DLQ) == [3, 7]

    for item in ("item_3", "item_7"):
        (work / f"fail_{item}").unlink()
    before = mr.starts(ledger)
    code, out, err = run("resume-job", job_id, "--force", "--max-retries", "3", cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    after = mr.starts(ledger)
    assert {item: after[item] - before[item] for item in after if after[item] != before[item]} == {
        "item_3": 1, "item_7": 1}
    assert mr.attempts_of(ledger, "item_3") == [1, 2]
    state = mr.job_state(job_id)
    assert state.count(DLQ) == 0 and state.count(SUCCEEDED) == 10 and state.status == "completed"
    assert mr.ledger(ledger)[-1] == "reduce 10/10 failed 0"  # reduce ran again over the new results


def test_fixing_the_workflow_then_force_says_it_changed_and_uses_the_new_file(work: Path, prodigy_home: Path) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(4)]))
    broken = f"""
        name: fixable
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: |
                echo "v1 ${{item_id}}" >> "{ledger}"
                test ${{item.n}} -ne 2
        reduce:
          - shell: echo "reduce ${{map.successful}}/${{map.total}}" >> "{ledger}"
        """
    path = support.write_workflow(work, broken)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    old_sha = mr.session_record(prodigy_home, support.session_id_from(out))["workflow_sha256"]
    path.write_text(path.read_text().replace("v1", "v2").replace("test ${item.n} -ne 2", "true"))
    code, out, err = run("resume-job", job_id, "--force", cwd=work)
    assert code == 0, out + err
    assert "workflow file changed" in out and old_sha[:12] in out and "map" in out
    assert mr.ledger(ledger)[-2:] == ["v2 item_2", "reduce 4/4"]
    assert sorted(mr.ledger(ledger)[:4]) == ["v1 item_0", "v1 item_1", "v1 item_2", "v1 item_3"]


def test_force_on_an_item_that_keeps_failing_grows_its_history(work: Path, marker: str) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=4, max_parallel=2)
    (work / "fail_item_1").touch()
    code, out, err = run("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    assert len(mr.job_state(job_id).items[1].failures) == 1
    code, out, err = run("resume-job", job_id, "--force", "--max-retries", "3", cwd=work, env=mr.hold_env(work))
    assert code == 3, out + err
    assert f"prodigy resume-job {job_id} --force" in out
    assert mr.attempts_of(ledger, "item_1") == [1, 2, 3, 4]
    assert all(mr.starts(ledger)[f"item_{i}"] == 1 for i in (0, 2, 3))
    state = mr.job_state(job_id)
    item = state.items[1]
    assert (item.status, item.attempts, len(item.failures)) == (DLQ, 4, 4)
    failed = [r for r in mr.journal(job_id) if r.get("t") == "done" and r.get("i") == 1]
    assert [r.get("a", 1) for r in failed] == [1, 2, 3, 4]
    assert all(f"on attempt {r.get('a', 1)}" in r["se"] for r in failed)


# ---------------------------------------------------------------- errors


def test_a_nonexistent_job_is_not_found(work: Path) -> None:
    for args in (["resume-job", "nonexistent-123"], ["resume-job", "mapreduce-20260101_000000_session-"
                                                                    "00000000-0000-4000-8000-000000000000"],
                 ["resume", "session-00000000-0000-4000-8000-000000000000"]):
        code, out, err = run(*args, cwd=work)
        assert code == 2, out + err
        assert "not found" in err.lower() and "prodigy sessions list" in err and mr.no_traceback(out + err)


def test_an_invalid_id_is_rejected(work: Path) -> None:
    code, out, err = run("resume-job", "../../etc", cwd=work)
    assert code == 2 and "Invalid id" in err and mr.no_traceback(out + err)


def test_a_corrupted_checkpoint_is_rebuilt_from_the_journal(work: Path, marker: str, prodigy_home: Path,
                                                            spawn_prodigy) -> None:
    job_id, _session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    checkpoint = mr.job_folder(job_id) / "checkpoint.json"
    checkpoint.write_text('{"offset": 99, "state": {"job_id": "x", "ite')
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    assert str(checkpoint) in out + err and "rebuilt the job state from the journal" in out + err
    assert [mr.starts(ledger)[f"item_{i}"] for i in range(3)] == [1, 1, 1]
    assert_each_item_ended_once(ledger, 10)


def test_a_garbled_job_json_is_a_clear_state_error(work: Path, marker: str, prodigy_home: Path,
                                                   spawn_prodigy) -> None:
    job_id, _session_id, _ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    meta = mr.job_folder(job_id) / "job.json"
    meta.write_text("{garbage")
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 6, out + err
    assert str(meta) in err and mr.no_traceback(out + err)


def test_a_garbled_session_record_is_a_clear_state_error(work: Path, marker: str, prodigy_home: Path,
                                                         spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    record = prodigy_home / "sessions" / f"{session_id}.json"
    record.write_text('{"id": "sess')
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 6, out + err
    assert str(record) in err and "corrupted" in err and mr.no_traceback(out + err)
    assert mr.ends(ledger) == {f"item_{i}": 1 for i in range(3)}  # nothing ran


def test_a_missing_workflow_file(work: Path, marker: str, prodigy_home: Path, spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    moved = work / "moved.yml"
    (work / "workflow.yml").rename(moved)
    code, out, err = run("resume-job", job_id, cwd=work, env=mr.hold_env(work))
    assert code == 2, out + err
    assert "Workflow file not found" in err and str(work / "workflow.yml") in err
    assert "moved or deleted" in err and "--workflow" in err and mr.no_traceback(out + err)
    code, out, err = run("resume", session_id, "--workflow", str(moved), cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 10)


def test_concurrent_resumes_are_blocked(work: Path, marker: str, prodigy_home: Path, spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    (work / "hold2").touch()
    first = spawn_prodigy("resume-job", job_id, cwd=work, env=mr.hold_env(work, limit=6, hold="hold2"))
    mr.wait_for_held(ledger, 6, 3)
    for args in (["resume-job", job_id], ["resume", session_id], ["resume", job_id[:48], "--force"]):
        code, out, err = run(*args, cwd=work, env=mr.hold_env(work))
        assert code == 4, out + err
        assert "already in progress" in err and f"pid {first.pid}" in err and mr.no_traceback(out + err)
    (work / "hold2").unlink()
    code, out, err = support.finish(first)
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 10)


def test_two_resumes_started_together_exactly_one_runs(work: Path, marker: str, prodigy_home: Path,
                                                       spawn_prodigy) -> None:
    job_id, session_id, ledger = killed_job(work, prodigy_home, marker, spawn_prodigy)
    (work / "hold2").touch()
    env = mr.hold_env(work, limit=6, hold="hold2")
    procs = [spawn_prodigy("resume-job", job_id, cwd=work, env=env),
             spawn_prodigy("resume", session_id, cwd=work, env=env)]
    loser = support.wait_for(lambda: next((p for p in procs if p.poll() is not None), None), 20,
                             what="one resume to give up")
    winner = procs[1 - procs.index(loser)]
    code, out, err = support.finish(loser)
    assert code == 4, out + err
    assert "already in progress" in err and f"pid {winner.pid}" in err
    (work / "hold2").unlink()
    code, out, err = support.finish(winner)
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 10)
    assert all(n <= 2 for n in mr.starts(ledger).values())


def test_a_resume_while_the_original_run_is_alive_is_blocked(work: Path, marker: str, prodigy_home: Path,
                                                             spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=5, max_parallel=2)
    (work / "hold").touch()
    proc = spawn_prodigy("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work, limit=0))
    mr.wait_for_held(ledger, 0, 2)
    job_id = mr.only_job_id(prodigy_home)
    code, out, err = run("resume-job", job_id, cwd=work)
    assert code == 4 and "already in progress" in err and f"pid {proc.pid}" in err, out + err
    (work / "hold").unlink()
    code, out, err = support.finish(proc)
    assert code == 0, out + err
    assert_each_item_ended_once(ledger, 5)


def test_a_completed_job_has_nothing_to_resume(work: Path, marker: str) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=3, max_parallel=2)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    job_id, session_id = mr.job_id_from(out), support.session_id_from(out)
    for args in (["resume-job", job_id], ["resume", session_id], ["resume-job", job_id, "--force"]):
        code, out, err = run(*args, cwd=work)
        assert code == 5, out + err
        assert "already completed" in err and mr.no_traceback(out + err)
    assert mr.starts(ledger) == {f"item_{i}": 1 for i in range(3)}
