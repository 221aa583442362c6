"""`dlq export|stats` and `events search|export|clean` against state written by real runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import operator_state as ops
import pytest

from prodigy.state.locks import ExecutionLock


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def test_dlq_export_json_has_every_failed_attempt_and_the_data(state: ops.Built, tmp_path: Path) -> None:
    target = tmp_path / "dlq.json"
    code, _, err = ops.invoke("dlq", "export", str(target), "--job-id", state.dlq_session[:16])
    assert code == 0, err
    assert "Wrote 2 DLQ item(s)" in err
    data = json.loads(target.read_text())
    assert data["count"] == 2
    items = {i["item_id"]: i for i in data["items"]}
    assert items["item_1"]["data"] == ops.ITEMS[1] and items["item_1"]["exit_code"] == 1
    assert items["item_3"]["failures"][0]["stderr_tail"].strip() == "bad item 4"


def test_dlq_export_csv_to_stdout_for_every_job(state: ops.Built) -> None:
    code, out, _ = ops.invoke("dlq", "export", "-", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["item_id"] for r in rows] == ["item_1", "item_3"]
    assert {r["job_id"] for r in rows} == {state.dlq_job}
    assert json.loads(rows[0]["data"]) == ops.ITEMS[1]


def test_dlq_export_to_a_missing_folder_is_a_usage_error(state: ops.Built, tmp_path: Path) -> None:
    code, _, err = ops.invoke("dlq", "export", str(tmp_path / "nope" / "x.json"))
    assert code == 2 and "does not exist" in err


def test_dlq_stats(state: ops.Built) -> None:
    data = ops.json_of("dlq", "stats")
    assert data["total"] == 2
    (job,) = data["jobs"]
    assert job["job_id"] == state.dlq_job and job["by_exit_code"] == {"1": 2}
    code, out, _ = ops.invoke("dlq", "stats", state.dlq_job)
    assert code == 0 and "2 DLQ item(s) in 1 job(s)" in out and "Exit codes:" in out
    code, out, _ = ops.invoke("dlq", "stats", state.completed_job)
    assert code == 0 and "empty" in out


def test_events_search_one_job_and_all_jobs(state: ops.Built) -> None:
    data = ops.json_of("events", "search", "item_failed", state.dlq_job)
    assert data["count"] == 2 and {e["item_id"] for e in data["events"]} == {"item_1", "item_3"}
    data = ops.json_of("events", "search", "^item_3$", "--fields", "item_id")
    assert data["jobs"] == 3 and all(e["item_id"] == "item_3" for e in data["events"])
    assert {e["job_id"] for e in data["events"]} >= {state.dlq_job, state.completed_job}
    code, _, err = ops.invoke("events", "search", "(unclosed")
    assert code == 2 and "Invalid search pattern" in err


def test_events_export_formats(state: ops.Built, tmp_path: Path) -> None:
    out_file = tmp_path / "events.csv"
    code, _, err = ops.invoke("events", "export", state.completed_job, "--format", "csv", "-o", str(out_file))
    assert code == 0, err
    rows = list(csv.DictReader(out_file.open()))
    assert sum(r["event"] == "item_completed" for r in rows) == 4
    code, out, _ = ops.invoke("events", "export", state.completed_job, "--format", "markdown")
    assert out.startswith("| time | job | event |") and "| job_started |" in out
    code, out, _ = ops.invoke("events", "export", state.completed_job)
    assert json.loads(out)["count"] == len(rows)


def test_events_clean_trims_archives_and_skips_running_jobs(state: ops.Built) -> None:
    events_file = ops.events_file(state.home, state.completed_job)
    lines = events_file.read_text().splitlines()
    code, out, _ = ops.invoke("events", "clean", state.completed_job, "--max-events", "2", "--dry-run")
    assert code == 0 and f"would drop {len(lines) - 2}" in out
    assert events_file.read_text().splitlines() == lines
    code, out, err = ops.invoke("events", "clean", state.completed_job, "--max-events", "2", "--archive", "-y")
    assert code == 0, err
    assert events_file.read_text().splitlines() == lines[-2:]
    assert (events_file.parent / "events-archive.jsonl").read_text().splitlines() == lines[:-2]
    with ExecutionLock(state.dlq_session, purpose="test"):
        data = ops.json_of("events", "clean", "--older-than", "0", "-y")
    assert state.dlq_job not in data["trimmed"]
    assert any(f["job_id"] == state.dlq_job and f["reason"] for f in data["files"])
    assert ops.events_file(state.home, state.dlq_job).exists()
    # item events come from the journal: still there after the log is gone
    assert ops.json_of("events", "ls", state.completed_job, "--type", "item_completed")["count"] == 4


def test_events_clean_needs_a_criterion(state: ops.Built) -> None:
    code, _, err = ops.invoke("events", "clean")
    assert code == 2 and "--older-than" in err
