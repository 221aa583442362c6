"""Journal records folded by hand for the unit tests: `fold(*records)` runs the executors' own `apply` over
them, the first at offset 0, the next at 100, and so on."""

from __future__ import annotations

from typing import Any

from prodigy.state.jobs import JobState, apply

JOB = "mapreduce-20260101_120000_session-00000000-0000-4000-8000-000000000001"


def fold(*records: dict[str, Any]) -> JobState:
    state = JobState(job_id=JOB)
    for offset, record in enumerate(records):
        apply(state, record, offset * 100)
    return state
