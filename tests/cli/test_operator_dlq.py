"""`prodigy dlq list|show|retry|purge` against state written by real runs."""

from __future__ import annotations

import json
from pathlib import Path

import operator_state as ops
import pytest

import support
from prodigy.state.locks import ExecutionLock

ITEM_KEYS = {"item_id", "status", "attempts", "last_error", "exit_code", "log_path", "failed_at"}
FAILURE_KEYS = {"attempt", "status", "error", "exit_code", "stderr_tail", "log_path", "duration", "time",
                "worker", "agent"}
JOB_KEYS = {"job_id", "session_id", "workflow", "dlq_count", "purged", "items", "warnings"}


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def journal_records(home: Path, job_id: str) -> list[dict]:
    return support.journal_records(ops.job_folder(home, job_id) / "journal.jsonl")


def test_list_all_jobs_with_dlq_items(state: ops.Built) -> None:
    code, out, err = ops.invoke("dlq", "list")
    assert code == 0, err
    assert f"Job {state.dlq_job} (dlq-job): 2 item(s) in the dead-letter queue" in out
    rows = [line.split(None, 3) for line in out.splitlines() if line.startswith("item_")]
    assert [r[:3] for r in rows] == [["item_1", "1", "1"], ["item_3", "1", "1"]]
    assert all("shell command exited with code 1" in r[3] for r in rows)
    assert state.completed_job not in out and state.interrupted_job not in out
    assert f"Retry: prodigy resume-job {state.dlq_job} --force" in out


def test_list_one_job_by_prefix_and_json_shape(state: ops.Built) -> None:
    data = ops.json_of("dlq", "list", state.dlq_job[:48])
    assert set(data) == {"jobs", "warnings"}
    (job,) = data["jobs"]
    assert set(job) == JOB_KEYS
    assert job["job_id"] == state.dlq_job and job["dlq_count"] == 2 and job["purged"] == []
    assert all(set(item) == ITEM_KEYS for item in job["items"])
    assert [(i["item_id"], i["status"], i["exit_code"]) for i in job["items"]] == [
        ("item_1", "dlq", 1), ("item_3", "dlq", 1)]
    by_session = ops.json_of("dlq", "list", state.dlq_session)  # a session id names its job
    assert by_session["jobs"][0]["job_id"] == state.dlq_job


def test_list_empty_states(state: ops.Built) -> None:
    code, out, _ = ops.invoke("dlq", "list", state.completed_job)
    assert code == 0 and f"The dead-letter queue of job {state.completed_job} is empty." in out
    code, _, err = ops.invoke("dlq", "list", state.standard_session)
    assert code == 2 and "standard workflow" in err


def test_list_with_nothing_anywhere(prodigy_home: Path) -> None:
    code, out, _ = ops.invoke("dlq", "list")
    assert code == 0 and "No items in any dead-letter queue." in out


def test_show_full_history_with_item_data(state: ops.Built) -> None:
    code, out, err = ops.invoke("dlq", "show", state.dlq_job)
    assert code == 0, err
    assert "item_1: dlq, 1 attempt(s): 1 failed" in out
    assert 'Data: {"n": 2, "ok": false, "tag": "b"}' in out
    assert "Attempt 1: failed at" in out and "Exit code: 1" in out
    assert "bad item 2" in out and "bad item 4" in out  # the stderr tails


def test_show_json_shape(state: ops.Built) -> None:
    data = ops.json_of("dlq", "show", state.dlq_job, "item_3")
    assert set(data) == JOB_KEYS
    (item,) = data["items"]
    assert set(item) == ITEM_KEYS | {"failures", "data", "spend"}
    assert item["data"] == {"n": 4, "ok": False, "tag": "c"}
    (failure,) = item["failures"]
    assert set(failure) == FAILURE_KEYS
    assert failure["attempt"] == 1 and failure["exit_code"] == 1 and failure["stderr_tail"] == "bad item 4\n"
    other = ops.json_of("dlq", "show", state.dlq_job, "0")  # any item, any status
    assert other["items"][0]["status"] == "succeeded" and other["items"][0]["failures"] == []
    code, _, err = ops.invoke("dlq", "show", state.dlq_job, "item_99")
    assert code == 2 and "its work list has 4 item(s)" in err


def test_retry_dry_run_lists_items_and_runs_nothing(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, out, err = ops.invoke("dlq", "retry", state.dlq_job, "--dry-run")
    assert code == 0, err
    assert "Would retry 2 of 2 DLQ item(s)" in out and "item_1" in out and "item_3" in out
    code, out, _ = ops.invoke("dlq", "retry", state.dlq_job, "--dry-run", "--filter", "tag == 'c'")
    assert code == 0 and "Would retry 1 of 2" in out and "item_3" in out and "item_1" not in out
    data = ops.json_of("dlq", "retry", state.dlq_job, "--dry-run", "--filter", "n < 3")
    assert set(data) == {"job_id", "session_id", "dry_run", "filter", "dlq_count", "items"}
    assert data["items"] == ["item_1"] and data["dlq_count"] == 2
    assert ops.tree(state.home) == before


def test_retry_refuses_bad_filters_and_empty_selections(state: ops.Built) -> None:
    code, _, err = ops.invoke("dlq", "retry", state.dlq_job, "--filter", "n >")
    assert code == 2 and "invalid --filter expression" in err
    code, _, err = ops.invoke("dlq", "retry", state.dlq_job, "--filter", "n > 100")
    assert code == 5 and "No DLQ item" in err
    code, _, err = ops.invoke("dlq", "retry", state.completed_job)
    assert code == 5 and "is empty: nothing to retry" in err


def test_retry_after_fixing_the_workflow_empties_the_dlq(tmp_path: Path, prodigy_home: Path) -> None:
    work = tmp_path / "retry-work"
    work.mkdir()
    ops.write_items(work)
    code, out, err = ops.run_workflow(work, prodigy_home, ops.DLQ_WORKFLOW, "flow.yml")
    assert code == 3, (out, err)
    session = support.session_id_from(out)
    job = ops.session_record(prodigy_home, session)["job_id"]
    fixed = ops.DLQ_WORKFLOW.replace("test ${item.ok} = true ||", "true ||")
    support.write_workflow(work, fixed, "flow.yml")
    code, out, err = support.run_prodigy("dlq", "retry", job[:40], "--max-parallel", "1", cwd=work,
                                         env=ops.env_for(prodigy_home))
    assert code == 0, (out, err)
    assert "Done: 4 of 4 item(s) succeeded" in out
    data = ops.json_of("dlq", "list", job)
    assert data["jobs"][0]["items"] == [] and data["jobs"][0]["dlq_count"] == 0
    records = journal_records(prodigy_home, job)
    assert any(r["t"] == "dlq_retry" and r["items"] == [1, 3] and r["budget"] == 2 for r in records)
    stats = ops.json_of("events", "stats", job)
    assert stats["resumes"]["attempts"] == 1 and stats["resumes"]["outcomes"] == {"completed": 1}
    assert ops.json_of("sessions", "show", session)["job"]["counts"]["dlq"] == 0


def test_retry_with_filter_only_retries_matching_items(tmp_path: Path, prodigy_home: Path) -> None:
    work = tmp_path / "filter-work"
    work.mkdir()
    ops.write_items(work)
    code, out, _ = ops.run_workflow(work, prodigy_home, ops.DLQ_WORKFLOW, "flow.yml")
    job = ops.session_record(prodigy_home, support.session_id_from(out))["job_id"]
    support.write_workflow(work, ops.DLQ_WORKFLOW.replace("test ${item.ok} = true ||", "true ||"), "flow.yml")
    code, out, err = ops.invoke("dlq", "retry", job, "--filter", "tag == 'c'", "--json")
    assert code == 3, (out, err)  # item_1 is still in the DLQ
    summary = json.loads(out)
    assert summary["items"]["dlq"] == 1 and summary["this_run"]["succeeded"] == 1
    assert [i["item_id"] for i in ops.json_of("dlq", "list", job)["jobs"][0]["items"]] == ["item_1"]


def test_purge_is_recorded_and_visible_in_list(state: ops.Built) -> None:
    code, out, err = ops.invoke("dlq", "purge", state.dlq_job, "-y")
    assert code == 0, err
    assert f"Purged 2 item(s) from the dead-letter queue of {state.dlq_job}: item_1, item_3" in out
    last = journal_records(state.home, state.dlq_job)[-1]
    assert last["t"] == "dlq_purge" and last["items"] == [1, 3]
    code, out, _ = ops.invoke("dlq", "list", state.dlq_job)
    assert "is empty" in out and "Purged from the DLQ: 2 item(s) (item_1, item_3)" in out
    data = ops.json_of("dlq", "list", state.dlq_job)["jobs"][0]
    assert data["dlq_count"] == 0 and data["purged"] == ["item_1", "item_3"]
    assert ops.json_of("dlq", "show", state.dlq_job, "item_1")["items"][0]["status"] == "purged"
    assert ops.json_of("sessions", "show", state.dlq_session)["record"]["progress"]["dlq"] == 0
    code, out, _ = ops.invoke("dlq", "list")
    assert "No items in any dead-letter queue." in out


def test_purge_one_item_json(state: ops.Built) -> None:
    data = ops.json_of("dlq", "purge", state.dlq_job, "item_3", "-y")
    assert data == {"job_id": state.dlq_job, "session_id": state.dlq_session, "purged": ["item_3"]}
    assert [i["item_id"] for i in ops.json_of("dlq", "list", state.dlq_job)["jobs"][0]["items"]] == ["item_1"]
    code, _, err = ops.invoke("dlq", "purge", state.dlq_job, "item_0", "-y")
    assert code == 2 and "Not in the dead-letter queue: item_0" in err


def test_purge_needs_confirmation_and_the_lock(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, _, err = ops.invoke("dlq", "purge", state.dlq_job)
    assert code == 2 and "Refusing to purge 2 DLQ item(s) without confirmation." in err
    with ExecutionLock(state.dlq_session, purpose="test"):
        code, _, err = ops.invoke("dlq", "purge", state.dlq_job, "-y")
    assert code == 4 and "already in progress" in err
    assert ops.tree(state.home) == before
