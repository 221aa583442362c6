"""`prodigy events ls|follow|stats` against state written by real runs, and follow's ending rules."""

from __future__ import annotations

import json
import time
from pathlib import Path

import operator_state as ops
import pytest

from prodigy.state.item_events import ItemEventDeriver
from prodigy.state.journal import read_journal
from prodigy.views.events import ACTIVE, ENDED, UNKNOWN, follow, percentile


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def file_events(home: Path, job_id: str) -> list[dict]:
    """What `prodigy events` shows: the events file plus the item events derived from the job journal."""
    events = [json.loads(line) for line in ops.events_file(home, job_id).read_text().splitlines()]
    session_id = json.loads((ops.job_folder(home, job_id) / "job.json").read_text())["session_id"]
    deriver = ItemEventDeriver(session_id=session_id, job_id=job_id)
    events += deriver.events(read_journal(ops.job_folder(home, job_id) / "journal.jsonl").records)
    return sorted(events, key=lambda e: e["ts"])


def test_ls_lists_every_event_oldest_first(state: ops.Built) -> None:
    code, out, err = ops.invoke("events", "ls", state.dlq_job[:48])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "EVENT", "ITEM", "ATTEMPT", "DETAILS"]
    assert len(lines) - 1 == len(file_events(state.home, state.dlq_job))
    assert lines[1].split()[2] == "job_started" and lines[-1].split()[2] == "job_finished"
    failed = [line for line in lines if " item_failed " in line]
    assert len(failed) == 2 and "error=shell command exited with code 1" in failed[0]
    assert "\x1b" not in out


def test_ls_filters(state: ops.Built) -> None:
    data = ops.json_of("events", "ls", state.dlq_job, "--type", "item_failed", "--type", "dlq_item_added")
    assert {e["event"] for e in data["events"]} == {"item_failed", "dlq_item_added"} and data["count"] == 4
    data = ops.json_of("events", "ls", state.dlq_job, "--item", "3")
    assert {e["item_id"] for e in data["events"]} == {"item_3"}
    assert [e["event"] for e in data["events"]] == ["item_started", "item_failed", "dlq_item_added"]
    data = ops.json_of("events", "ls", state.dlq_job, "--limit", "2")
    assert [e["event"] for e in data["events"]][-1] == "job_finished" and data["count"] == 2
    assert data["matched"] == data["total"]
    assert ops.json_of("events", "ls", state.dlq_job, "--since", "1h")["count"] == data["total"]
    time.sleep(0.05)
    code, out, _ = ops.invoke("events", "ls", state.dlq_job, "--since", "0.01s")
    assert code == 0 and "No event of job" in out and "drop --type, --item or --since" in out
    code, _, err = ops.invoke("events", "ls", state.dlq_job, "--since", "yesterday")
    assert code == 2 and "Invalid --since value" in err


def test_ls_json_shape(state: ops.Built) -> None:
    data = ops.json_of("events", "ls", state.interrupted_job, "--type", "job_interrupted")
    assert set(data) == {"job_id", "session_id", "events_path", "events", "count", "matched", "total",
                         "unreadable_lines"}
    (event,) = data["events"]
    assert {"ts", "event", "correlation_id", "session_id", "job_id"} <= set(event)
    assert event["phase"] == "map" and event["signal"] == "SIGINT"


def test_ls_empty_and_standard_sessions(state: ops.Built) -> None:
    ops.events_file(state.home, state.completed_job).unlink()
    code, out, _ = ops.invoke("events", "ls", state.completed_job)  # item events still come from the journal
    assert code == 0 and "item_completed" in out and "job_started" not in out
    code, _, err = ops.invoke("events", "ls", state.standard_session)
    assert code == 2 and "standard workflow" in err


def test_stats_counts_rates_and_durations(state: ops.Built) -> None:
    events = file_events(state.home, state.dlq_job)
    data = ops.json_of("events", "stats", state.dlq_job)
    assert set(data) == {"job_id", "session_id", "events_path", "total_events", "unreadable_lines", "by_type",
                         "items", "item_duration_seconds", "resumes", "agents"}
    assert data["total_events"] == len(events)
    assert data["by_type"]["item_started"] == 4 and data["by_type"]["item_failed"] == 2
    assert data["items"] == {"succeeded": 2, "failed": 2, "success_rate": 50.0, "retries": 0}
    durations = sorted(e["duration"] for e in events if e["event"] == "item_completed")
    assert data["item_duration_seconds"] == {"count": 2, "p50": durations[0], "p95": durations[1],
                                             "max": durations[1]}
    assert data["resumes"] == {"attempts": 0, "outcomes": {}, "list": []}
    code, out, _ = ops.invoke("events", "stats", state.dlq_job)
    assert code == 0
    assert "2 succeeded, 2 failed; success rate 50%" in out and "Item duration: p50" in out
    assert "Resumes:       0" in out


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0 and percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0


def test_follow_a_finished_job_prints_everything_and_ends(state: ops.Built) -> None:
    started = time.monotonic()
    code, out, err = ops.invoke("events", "follow", state.completed_job)
    assert code == 0, err
    assert time.monotonic() - started < 2
    lines = out.splitlines()
    assert len(lines) == len(file_events(state.home, state.completed_job))
    assert "job_finished" in lines[-1]


# ---------------------------------------------------------------- follow's ending rules (no processes)


def line(event: str, **fields: object) -> str:
    return json.dumps({"ts": "2026-01-01T00:00:00+00:00", "event": event, **fields}) + "\n"


def test_follow_waits_for_new_events_and_ends_on_a_finish_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(line("job_started") + line("item_started", item_id="item_0"))
    script = [line("item_completed", item_id="item_0")[:20], line("item_completed", item_id="item_0")[20:],
              line("job_finished", status="completed")]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        with open(path, "a") as handle:
            handle.write(script.pop(0) if script else "")

    seen = [e["event"] for e in follow(path, lambda: ACTIVE, sleep=sleep)]
    assert seen == ["job_started", "item_started", "item_completed", "job_finished"]  # the torn line waited
    assert sleeps == [0.2, 0.2, 0.2]


def test_follow_ignores_an_old_finish_while_a_resume_runs(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(line("job_started") + line("job_finished"))
    script = ["", line("resume_started"), line("resume_finished")]

    def sleep(_seconds: float) -> None:
        with open(path, "a") as handle:
            handle.write(script.pop(0))

    seen = [e["event"] for e in follow(path, lambda: ACTIVE, sleep=sleep)]
    assert seen == ["job_started", "job_finished", "resume_started", "resume_finished"]


def test_follow_ends_when_nobody_runs_the_job(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(line("job_started"))
    states = iter([ACTIVE, ACTIVE, ENDED])
    seen = list(follow(path, lambda: next(states), sleep=lambda _s: None))
    assert [e["event"] for e in seen] == ["job_started"]
    clock = iter([0.0, 1.0, 2.5])  # the record says running but no process holds the lock: a crashed run
    seen = list(follow(path, lambda: UNKNOWN, sleep=lambda _s: None, clock=lambda: next(clock)))
    assert [e["event"] for e in seen] == ["job_started"]
