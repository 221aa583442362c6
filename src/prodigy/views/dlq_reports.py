"""`prodigy dlq export` and `prodigy dlq stats`: the dead-letter queue (a view of each job's journal) as a file
for other tools, and summed up. Nothing here writes state."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from prodigy.views.common import find_job
from prodigy.views.dlq import JobDlq, all_dlqs, job_dlq

CSV_COLUMNS = ("job_id", "item_id", "status", "attempts", "exit_code", "last_error", "failed_at", "log_path",
               "failures", "data")


def dlq_jobs(job_id: str | None) -> tuple[tuple[JobDlq, ...], tuple[str, ...]]:
    """The DLQ of one job (id, session id or prefix) with full history, or of every job with items in it."""
    if job_id:
        return (job_dlq(find_job(job_id), history=True),), ()
    jobs, warnings = all_dlqs()
    return tuple(job_dlq(find_job(job.job_id), history=True) for job in jobs), warnings


def rows(jobs: tuple[JobDlq, ...]) -> list[dict[str, Any]]:
    found = []
    for job in jobs:
        for item in job.items:
            found.append({
                "job_id": job.job_id, "session_id": job.session_id, "workflow": job.workflow,
                "item_id": item.item_id, "status": item.status, "attempts": item.attempts,
                "exit_code": item.exit_code, "last_error": item.last_error, "failed_at": item.failed_at,
                "log_path": item.log_path, "data": item.data,
                "failures": [{"attempt": f.attempt, "status": f.status, "error": f.error, "exit_code": f.exit_code,
                              "time": f.time, "duration": f.duration, "log_path": f.log_path,
                              "stderr_tail": f.stderr_tail, "worker": f.worker} for f in item.failures],
            })
    return found


def render(found: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"count": len(found), "items": found}, indent=2, ensure_ascii=False, default=str) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in found:
        data = row["data"] if isinstance(row["data"], str) else json.dumps(row["data"], ensure_ascii=False,
                                                                            default=str)
        writer.writerow({**row, "failures": len(row["failures"]), "data": data})
    return buffer.getvalue()


@dataclass(frozen=True)
class JobStats:
    job_id: str
    session_id: str
    workflow: str
    dlq: int
    purged: int
    attempts: int  # failed attempts of the DLQ items, all together
    by_exit_code: dict[str, int]
    top_errors: list[tuple[str, int]]
    oldest: str | None
    newest: str | None


@dataclass(frozen=True)
class DlqStats:
    jobs: tuple[JobStats, ...]
    warnings: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(j.dlq for j in self.jobs)


def _first_line(text: str | None) -> str:
    line = " ".join((text or "").split())
    return (line[:117] + "...") if len(line) > 120 else line or "(no error message)"


def stats(job_id: str | None) -> DlqStats:
    jobs, warnings = dlq_jobs(job_id)
    result = []
    for job in jobs:
        codes = Counter("none" if i.exit_code is None else str(i.exit_code) for i in job.items)
        errors = Counter(_first_line(i.last_error) for i in job.items)
        times = sorted(i.failed_at for i in job.items if i.failed_at)
        result.append(JobStats(
            job_id=job.job_id, session_id=job.session_id, workflow=job.workflow, dlq=len(job.items),
            purged=len(job.purged), attempts=sum(len(i.failures) for i in job.items),
            by_exit_code=dict(codes.most_common()), top_errors=errors.most_common(5),
            oldest=times[0] if times else None, newest=times[-1] if times else None))
    return DlqStats(jobs=tuple(result), warnings=tuple(warnings))
