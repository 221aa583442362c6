"""Which job `prodigy progress` watches: the one named (job id, session id, or a unique prefix), else the
newest running MapReduce job, else the newest MapReduce job."""

from __future__ import annotations

from prodigy.errors import NotFoundError
from prodigy.resume.resolve import Target
from prodigy.state import sessions
from prodigy.views.common import JobRef, find_job, job_ref


def find_watched_job(text: str | None) -> tuple[JobRef, str | None]:
    """The job, and how it was picked when no id was given ("running" or "recent"; None when named)."""
    if text:
        return find_job(text), None
    records, _warnings = sessions.load_all()  # newest first
    jobs = [r for r in records if r.kind == "mapreduce" and r.job_id]
    for record in jobs:
        if record.status == "running":
            return job_ref(Target(record, record.job_id, "session record")), "running"
    if jobs:
        return job_ref(Target(jobs[0], jobs[0].job_id, "session record")), "recent"
    raise NotFoundError("No MapReduce job to watch: no session has one yet.",
                        hint="Start one with: prodigy run <mapreduce workflow>; list sessions with: "
                        "prodigy sessions list")
