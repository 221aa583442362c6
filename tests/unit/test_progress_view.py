"""The live progress read model: journal -> counts, timeline, rate, ETA, slowest items, item rows; read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from progress_job import JOB, SESSION, T0, Clock, add, make_job

from prodigy import paths
from prodigy.errors import NotFoundError, UsageError
from prodigy.state import sessions
from prodigy.state.jobs import JobStore
from prodigy.views.common import find_job
from prodigy.views.events import ACTIVE, ENDED, UNKNOWN
from prodigy.views.progress import JobWatch
from prodigy.views.progress_find import find_watched_job
from prodigy.views.progress_items import item_detail, item_page, report
from prodigy.views.progress_logs import AgentLogIndex


@pytest.fixture
def job(prodigy_home: Path) -> JobStore:
    return make_job()


def watch_of(activity: str = ACTIVE, clock: Clock | None = None) -> tuple[JobWatch, Clock, list[str]]:
    clock = clock or Clock()
    state = [activity]
    watch = JobWatch(find_job(JOB), clock=clock, activity=lambda _sid: state[0])
    return watch, clock, state


def test_counts_and_outcomes_follow_the_journal_incrementally(job: JobStore) -> None:
    add(job, T0, t="run", cid="c1")
    add(job, T0 + 1, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 1, t="start", i=1, pid=2, st=T0)
    watch, clock, _ = watch_of()
    assert watch.refresh() == []
    snap = watch.snapshot(T0 + 2)
    assert (snap.counts.total, snap.counts.running, snap.counts.pending, snap.counts.finished) == (4, 2, 2, 0)
    assert snap.phase == "map" and snap.live and not snap.ended and snap.runs == 1
    first = snap.seq

    add(job, T0 + 3, t="done", i=0, d=2.0, x=0)
    add(job, T0 + 4, t="done", i=1, d=3.0, x=5, s="failed", err="exit 5", se="boom\n", final=None)
    add(job, T0 + 4, t="start", i=1, a=2, pid=3, st=T0)
    add(job, T0 + 5, t="done", i=1, a=2, d=1.0, x=5, s="failed", err="exit 5 again", final="dlq")
    outcomes = watch.refresh()
    assert [(o.index, o.attempt, o.status, o.final) for o in outcomes] == [
        (0, 1, "succeeded", True), (1, 1, "failed", False), (1, 2, "failed", True)]
    snap = watch.snapshot(T0 + 6)
    c = snap.counts
    assert (c.succeeded, c.failed, c.dlq, c.running, c.pending, c.retried, c.finished) == (1, 1, 1, 0, 2, 1, 2)
    assert snap.seq > first
    assert watch.refresh() == [] and watch.snapshot().seq == snap.seq  # nothing new: no change


def test_an_incomplete_last_line_waits_for_the_rest_without_a_warning(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    watch, _, _ = watch_of()
    watch.refresh()
    line = json.dumps({"t": "done", "i": 0, "d": 1.0, "ts": T0 + 1}) + "\n"
    with open(job.journal_path, "a", encoding="utf-8") as handle:
        handle.write(line[:10])
    watch.refresh()
    assert watch.counts().succeeded == 0 and not watch.snapshot().warnings
    with open(job.journal_path, "a", encoding="utf-8") as handle:
        handle.write(line[10:])
    watch.refresh()
    assert watch.counts().succeeded == 1


def test_a_journal_that_shrank_is_read_again_from_the_start(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 1, t="done", i=0, d=1.0)
    watch, _, _ = watch_of()
    watch.refresh()
    assert watch.counts().succeeded == 1
    job.journal_path.write_text(json.dumps({"t": "items_frozen", "count": 2, "ts": T0}) + "\n")
    watch.refresh()
    assert (watch.counts().total, watch.counts().succeeded) == (2, 0)


def test_timeline_rate_and_eta(job: JobStore) -> None:
    add(job, T0, t="run", cid="c1")
    for i in range(3):
        add(job, T0 + i, t="start", i=i, pid=10 + i, st=T0)
        add(job, T0 + 10 * (i + 1), t="done", i=i, d=10.0)
    watch, clock, _ = watch_of()
    watch.refresh()
    timeline = watch.timeline()
    assert [p[1:] for p in timeline["points"]] == [[1, 0], [2, 0], [3, 0]]
    assert [p[0] for p in timeline["points"]] == [10.0, 20.0, 30.0] and timeline["runs"] == [0.0]
    snap = watch.snapshot(T0 + 30)
    assert snap.rate_per_minute == 6.0  # 3 items in the 30 s since the run began
    assert snap.eta_seconds == 10.0  # 1 left
    assert watch.timeline(max_points=2)["points"][-1][1] == 3  # thinned, the last point kept


def test_the_rate_counts_only_the_current_run(job: JobStore) -> None:
    add(job, T0, t="run", cid="c1")
    add(job, T0, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 1, t="done", i=0, d=1.0)
    add(job, T0 + 1000, t="resume", cid="c2")
    add(job, T0 + 1000, t="start", i=1, pid=2, st=T0)
    add(job, T0 + 1010, t="done", i=1, d=10.0)
    watch, _, _ = watch_of()
    watch.refresh()
    snap = watch.snapshot(T0 + 1020)
    assert snap.runs == 2 and snap.rate_per_minute == 3.0  # 1 item in the 20 s of this run


def test_slowest_running_items_and_a_run_that_is_gone(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 5, t="start", i=1, pid=2, st=T0, w="tcp://worker-1")
    add(job, T0 + 8, t="start", i=2, pid=3, st=T0)
    watch, clock, activity = watch_of()
    watch.refresh()
    slowest = watch.snapshot(T0 + 10).slowest_running
    assert [(s.item_id, s.seconds) for s in slowest] == [("item_0", 10.0), ("item_1", 5.0), ("item_2", 2.0)]
    assert slowest[1].worker == "tcp://worker-1"
    activity[0] = UNKNOWN  # the record says running, nobody holds the lock
    watch.refresh()
    assert not watch.snapshot().ended
    clock.now += 5
    watch.refresh()
    snap = watch.snapshot()
    assert snap.ended and not snap.live and snap.eta_seconds is None
    activity[0] = ENDED
    watch.refresh()
    assert watch.snapshot().ended


def test_setup_and_reduce_totals_come_from_the_events_file(job: JobStore) -> None:
    events = paths.events_file("w", JOB)
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_text(json.dumps({"event": "phase_started", "phase": "setup", "total": 2}) + "\n"
                      + json.dumps({"event": "phase_started", "phase": "reduce", "total": 3}) + "\n{bad")
    add(job, T0, t="setup_step", index=0, vars={})
    watch, _, _ = watch_of()
    watch.refresh()
    snap = watch.snapshot()
    assert (snap.setup.done, snap.setup.total, snap.reduce.done, snap.reduce.total) == (1, 2, 0, 3)


def test_next_and_resume_commands(job: JobStore) -> None:
    watch, _, activity = watch_of()
    watch.refresh()
    snap = watch.snapshot()
    assert snap.next_command is None and snap.resume_command == f"prodigy resume {SESSION}"
    sessions.update(SESSION, status="interrupted")
    activity[0] = ENDED
    watch.refresh()
    assert watch.snapshot().next_command == f"prodigy resume {SESSION}"
    sessions.update(SESSION, status="completed")
    watch.refresh()
    snap = watch.snapshot()
    assert snap.resume_command is None and snap.next_command is None and snap.status == "completed"


def test_item_page_filters_and_details(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 1, t="done", i=0, d=1.0, out="hello")
    add(job, T0 + 1, t="start", i=2, pid=2, st=T0)
    add(job, T0 + 2, t="done", i=2, d=1.5, x=3, s="failed", err="exit 3", se="line1\nit broke\n", final="dlq")
    add(job, T0 + 2, t="start", i=3, pid=3, st=T0)
    watch, _, _ = watch_of()
    watch.refresh()
    now = T0 + 4
    assert [r.item_id for r in item_page(watch, now=now).rows] == ["item_0", "item_1", "item_2", "item_3"]
    failed = item_page(watch, status="failed", now=now)
    assert [(r.item_id, r.status, r.error) for r in failed.rows] == [("item_2", "dlq", "exit 3 | line1 / it broke")]
    assert [r.item_id for r in item_page(watch, status="pending", now=now).rows] == ["item_1"]
    running = item_page(watch, status="running", now=now).rows
    assert [(r.item_id, r.running_seconds) for r in running] == [("item_3", 2.0)]
    assert [r.item_id for r in item_page(watch, query="broke", now=now).rows] == ["item_2"]
    page = item_page(watch, offset=1, limit=2, now=now)
    assert [r.item_id for r in page.rows] == ["item_1", "item_2"] and page.matched == 4
    with pytest.raises(UsageError):
        item_page(watch, status="bogus", now=now)
    detail = item_detail(watch, "item_0", now)
    assert detail.data == {"n": 0} and [(a.attempt, a.status, a.stdout_tail) for a in detail.attempts] == [
        (1, "succeeded", "hello")]
    with pytest.raises(NotFoundError):
        item_detail(watch, "item_9", now)
    exported = report(watch, now)
    assert len(exported["items"]) == 4 and exported["snapshot"]["counts"]["dlq"] == 1
    json.dumps(exported)  # plain JSON


def test_watching_writes_nothing(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    before = {p: p.stat().st_mtime_ns for p in paths.home().rglob("*") if p.is_file()}
    watch, _, _ = watch_of()
    watch.refresh()
    watch.snapshot()
    item_page(watch, now=T0)
    report(watch, T0)
    after = {p: p.stat().st_mtime_ns for p in paths.home().rglob("*") if p.is_file()}
    assert after == before


def test_item_logs_are_found_by_name_and_served_only_from_prodigys_log_folder(job: JobStore, tmp_path: Path) -> None:
    folder = paths.claude_logs_dir() / SESSION
    folder.mkdir(parents=True)
    first, second = folder / "item_0-20260101_120000-aaaa1111.jsonl", folder / "item_0-20260101_120005-bbbb2222.jsonl"
    for number, path in enumerate((first, second)):
        path.write_text(json.dumps({"type": "result", "subtype": "success", "result": "ok"}) + "\n")
        os.utime(path, (T0 + number, T0 + number))
    (folder / "item_10-20260101_120000-cccc3333.jsonl").write_text("{}\n")  # item_10's, not item_1's
    outside = tmp_path / "secret.txt"
    outside.write_text("not a log")
    add(job, T0, t="start", i=1, pid=2, st=T0)
    add(job, T0 + 1, t="done", i=1, d=1.0, log=str(outside))
    watch, _, _ = watch_of()
    watch.refresh()
    clock = Clock(0.0)
    logs = AgentLogIndex(SESSION, clock=clock)
    assert [r.logs for r in item_page(watch, now=T0, logs=logs).rows] == [2, 0, 0, 0]
    assert logs.path(watch, 0) == second.resolve() and logs.path(watch, 0, 0) == first.resolve()
    assert [log.name for log in item_detail(watch, "item_0", T0, logs).logs] == [first.name, second.name]
    with pytest.raises(NotFoundError, match="no log 5"):
        logs.path(watch, 0, 5)
    with pytest.raises(NotFoundError, match="outside"):
        logs.path(watch, 1)
    with pytest.raises(NotFoundError, match="No agent log"):
        logs.path(watch, 2)
    (folder / "item_2-20260101_120009-dddd4444.jsonl").write_text("{}\n")
    assert logs.count(2) == 0  # the folder is listed again only after RESCAN seconds
    clock.now += 5
    assert logs.count(2) == 1


def test_find_watched_job_prefers_a_running_job(job: JobStore) -> None:
    ref, picked = find_watched_job(None)
    assert ref.job_id == JOB and picked == "running"
    sessions.update(SESSION, status="completed")
    assert find_watched_job(None)[1] == "recent"
    assert find_watched_job(SESSION[:20]) == (find_job(JOB), None)


def test_find_watched_job_without_any_job(prodigy_home: Path) -> None:
    with pytest.raises(NotFoundError, match="No MapReduce job"):
        find_watched_job(None)


def test_agent_costs_are_summed_per_item_and_for_the_job(job: JobStore) -> None:
    add(job, T0, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 1, t="done", i=0, d=1.0, x=1, s="failed", err="e", ag={"usd": 0.25, "turns": 2})
    add(job, T0 + 1, t="start", i=0, a=2, pid=2, st=T0)
    add(job, T0 + 2, t="done", i=0, a=2, d=1.0, ag={"usd": 0.5, "turns": 3, "model": "m"})
    add(job, T0 + 2, t="start", i=1, pid=3, st=T0)
    add(job, T0 + 3, t="done", i=1, d=1.0)
    watch, _, _ = watch_of()
    watch.refresh()
    snap = watch.snapshot()
    assert snap.cost_usd == 0.75 and snap.agents["total"]["calls"] == 2
    assert snap.agents["completed_items"]["most_expensive"] == {"item_id": "item_0", "cost_usd": 0.5}
    rows = item_page(watch, now=T0 + 4).rows
    assert [r.cost_usd for r in rows[:2]] == [0.75, None]
    attempts = item_detail(watch, "item_0", T0 + 4).attempts
    assert [a.agent["cost_usd"] for a in attempts] == [0.25, 0.5] and attempts[1].agent["model"] == "m"


def test_no_agent_no_cost(job: JobStore) -> None:
    watch, _, _ = watch_of()
    watch.refresh()
    assert (watch.snapshot().cost_usd, watch.snapshot().agents) == (None, None)
