"""A MapReduce job written by hand for the progress view and web server tests: a session record, a job
folder whose work list (4 items) was frozen at T0, and `add` to append journal records at chosen times."""

from __future__ import annotations

import json
from typing import Any

from prodigy.state import sessions
from prodigy.state.jobs import JobMeta, JobStore
from prodigy.state.sessions import SessionRecord

SESSION = "session-00000000-0000-4000-8000-00000000000a"
JOB = f"mapreduce-20260101_120000_{SESSION}"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_job() -> JobStore:
    sessions.save(SessionRecord(id=SESSION, kind="mapreduce", status="running", workflow_path="/w/wf.yml",
                                workflow_sha256="abc", workflow_name="demo", run_dir="/w", job_id=JOB, repo="w"))
    meta = JobMeta(job_id=JOB, session_id=SESSION, workflow_path="/w/wf.yml", workflow_sha256="abc",
                   run_dir="/w", repo="w", created_at="2026-01-01T00:00:00Z")
    store = JobStore.create(meta, "name: demo\n")
    store.freeze_items([{"n": i} for i in range(4)])
    store.close()
    # The same journal with the clock of these tests: the work list frozen at T0.
    store.journal_path.write_text(json.dumps({"t": "items_frozen", "count": 4, "ts": T0}) + "\n")
    store.snapshot_path.unlink()
    return JobStore(store.folder)


def add(store: JobStore, ts: float, **record: Any) -> None:
    store.append({**record, "ts": ts})
