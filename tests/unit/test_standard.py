"""The sequential executor and its state: checkpoints after every step, in-flight records, session records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from prodigy.errors import NotFoundError, StateError
from prodigy.execution import outcome as o
from prodigy.execution.context import Masker, StepContext
from prodigy.execution.reporter import RecordingReporter
from prodigy.execution.standard import reap_in_flight, run_standard
from prodigy.ids import new_session_id
from prodigy.state import checkpoints, sessions
from prodigy.state.checkpoints import StandardCheckpoint
from prodigy.state.sessions import SessionRecord
from prodigy.workflow.load import load_workflow


def load(work: Path, text: str):
    path = work / "wf.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_workflow(path)


def fresh(wf, session_id: str) -> StandardCheckpoint:
    return StandardCheckpoint(session_id=session_id, workflow_path=str(wf.path), workflow_sha256=wf.sha256,
                              total_steps=len(wf.steps))


@pytest.fixture
def ctx(work: Path) -> StepContext:
    return StepContext(run_dir=work, process_env=dict(os.environ), session_id=new_session_id())


def test_runs_all_steps_and_checkpoints_each(work: Path, ctx: StepContext) -> None:
    wf = load(work, """
        - shell: echo 1 >> ledger
        - shell: echo 2 | tee -a ledger
          capture: TWO
        - shell: echo "${TWO}" >> ledger
    """)
    cp = fresh(wf, ctx.session_id)
    reporter = RecordingReporter()
    result = run_standard(wf, cp, ctx, {}, reporter)
    assert (result.status, result.steps_run, result.steps_already_done) == ("completed", 3, 0)
    assert (work / "ledger").read_text().splitlines() == ["1", "2", "2"]
    saved = checkpoints.load(ctx.session_id)
    assert saved is not None and saved.status == "completed" and set(saved.completed) == {"0", "1", "2"}
    assert saved.variables["TWO"] == "2" and saved.in_flight is None
    assert [e for e, _ in reporter.events] == ["step_started", "step_finished"] * 3


def test_completed_steps_are_not_run_again(work: Path, ctx: StepContext) -> None:
    wf = load(work, """
        - shell: echo 1 | tee -a ledger
          capture: ONE
        - shell: test -f fixed && echo "2 ${ONE}" >> ledger
        - shell: echo 3 >> ledger
    """)
    cp = fresh(wf, ctx.session_id)
    first = run_standard(wf, cp, ctx, {}, RecordingReporter())
    assert first.status == "failed" and first.failed_index == 1 and first.failure is not None
    saved = checkpoints.load(ctx.session_id)
    assert saved.status == "failed" and saved.failure["index"] == 1 and saved.first_incomplete() == 1
    (work / "fixed").touch()
    second = run_standard(wf, saved, ctx, {}, RecordingReporter())
    assert (second.status, second.steps_run, second.steps_already_done) == ("completed", 2, 1)
    assert (work / "ledger").read_text().splitlines() == ["1", "2 1", "3"]  # the capture survived


def test_in_flight_record_is_durable_before_the_command_runs(work: Path, ctx: StepContext) -> None:
    wf = load(work, """
        - shell: cat "$PRODIGY_HOME/state/$PRODIGY_SESSION_ID/checkpoints/checkpoint.json" > seen.json
    """)
    ctx = StepContext(run_dir=work, process_env={**os.environ, "PRODIGY_SESSION_ID": ctx.session_id},
                      session_id=ctx.session_id)
    run_standard(wf, fresh(wf, ctx.session_id), ctx, {}, RecordingReporter())
    seen = json.loads((work / "seen.json").read_text())
    flight = seen["in_flight"]
    assert flight["index"] == 0 and flight["pid"] == flight["pgid"]
    assert flight["start_time"] == pytest.approx(time.time(), abs=60)


def test_secret_variables_are_stored_masked(work: Path, ctx: StepContext) -> None:
    wf = load(work, "- shell: echo token-abc123\n  capture: OUT\n")
    masked = StepContext(run_dir=work, process_env=dict(os.environ), session_id=ctx.session_id,
                         masker=Masker(["token-abc123"]))
    run_standard(wf, fresh(wf, ctx.session_id), masked, {}, RecordingReporter())
    text = checkpoints.path_for(ctx.session_id).read_text()
    assert "token-abc123" not in text and '"OUT": "***"' in text


def test_interrupted_run_is_recorded(work: Path, ctx: StepContext) -> None:
    wf = load(work, "- shell: echo 1\n- shell: echo 2\n")
    ctx.stop_event.set()
    result = run_standard(wf, fresh(wf, ctx.session_id), ctx, {}, RecordingReporter())
    assert result.status == "interrupted" and result.failure.status == o.INTERRUPTED
    assert checkpoints.load(ctx.session_id).status == "interrupted"


def test_reap_in_flight_kills_the_recorded_group_only_if_it_is_the_same_process(work: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        start = psutil.Process(proc.pid).create_time()
        cp = StandardCheckpoint(session_id=new_session_id(), workflow_path="x", workflow_sha256="y",
                                total_steps=1)
        cp.in_flight = {"index": 0, "pid": proc.pid, "pgid": proc.pid, "start_time": start - 100}
        assert reap_in_flight(cp) == []  # a different start time: a reused pid, never killed
        assert proc.poll() is None
        cp.in_flight["start_time"] = start
        assert reap_in_flight(cp) == [proc.pid]
        assert proc.wait(timeout=5) is not None
        assert reap_in_flight(cp) == []  # already gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_checkpoint_missing_and_corrupted(prodigy_home: Path) -> None:
    session_id = new_session_id()
    assert checkpoints.load(session_id) is None
    path = checkpoints.path_for(session_id)
    path.parent.mkdir(parents=True)
    path.write_text("{ torn")
    with pytest.raises(StateError, match=str(path)):
        checkpoints.load(session_id)


def test_session_records(prodigy_home: Path) -> None:
    ids = [new_session_id() for _ in range(2)]
    for session_id in ids:
        sessions.save(SessionRecord(id=session_id, kind="workflow", status="failed", workflow_path="/w.yml",
                                    workflow_sha256="abc", workflow_name="w", run_dir="/tmp"))
    record = sessions.load(ids[0])
    assert record.resumable and record.status == "failed"
    sessions.update(ids[0], status="completed")
    assert not sessions.load(ids[0]).resumable
    assert sorted(sessions.all_ids()) == sorted(ids)
    (prodigy_home / "sessions" / f"{ids[1]}.json").write_text("garbage")
    records, warnings = sessions.load_all()
    assert [r.id for r in records] == [ids[0]]
    assert len(warnings) == 1 and ids[1] in warnings[0]
    with pytest.raises(NotFoundError, match="Session not found"):
        sessions.load(new_session_id())
