"""What a resume will do: a pure function of the loaded job state (unit-tested without any I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.state.jobs import DLQ, PENDING, RUNNING, SUCCEEDED, JobState


@dataclass(frozen=True)
class ResumePlan:
    phase: str  # setup | map | reduce | done
    total_items: int | None
    done: int  # items with a terminal success record: skipped
    in_flight: tuple[int, ...]  # started, never finished (crash) or cut short (interrupt): run again
    dlq: tuple[int, ...]  # failed permanently: run again only with --force
    pending: tuple[int, ...]  # never started, or waiting for a retry
    retry_dlq: bool  # --force: the DLQ items run again this time
    max_retries: int
    setup_next: int | None  # first setup step without a completion record
    reduce_next: int | None
    nothing_to_do: bool
    done_cost_usd: float | None = None  # what the agents of the done (skipped) items cost, as recorded
    conversations: int = 0  # interrupted items whose agent may continue its conversation

    @property
    def dispatch_order(self) -> list[int]:
        """In-flight first (they were the oldest work), then pending, then DLQ retries, each in item order."""
        order = list(self.in_flight) + list(self.pending)
        if self.retry_dlq:
            order += list(self.dlq)
        return order


def retry_command(job_id: str) -> str:
    """The one command every hint gives for retrying a job's dead-letter queue."""
    return f"prodigy resume-job {job_id} --force"


def plan_resume(state: JobState, *, setup_total: int, reduce_total: int, force: bool,
                max_retries: int, dlq_only: set[int] | None = None) -> ResumePlan:
    """dlq_only limits which DLQ items --force retries (`prodigy dlq retry --filter`)."""
    in_flight = tuple(i for i, s in sorted(state.items.tracked().items())
                      if s.status == RUNNING or (s.status == PENDING and s.interrupted))
    in_flight_set = set(in_flight)
    dlq = tuple(i for i in state.indexes(DLQ) if dlq_only is None or i in dlq_only)
    if state.item_count is None:
        pending: tuple[int, ...] = ()
    else:
        pending = tuple(i for i in state.indexes(PENDING) if i not in in_flight_set)
    retry_dlq = force and bool(dlq) and max_retries > 0
    setup_next = None if state.setup_complete else _first_missing(state.setup_steps, setup_total)
    reduce_next = None if state.reduce_complete else _first_missing(state.reduce_steps, reduce_total)
    phase = _phase(state)
    if retry_dlq and phase in ("reduce", "done"):
        phase = "map"  # the DLQ retry reopens the map phase; reduce then runs again over the new results
    finished = state.reduce_complete and state.map_complete and state.setup_complete
    return ResumePlan(
        phase=phase, total_items=state.item_count, done=state.count(SUCCEEDED), in_flight=in_flight, dlq=dlq,
        pending=pending, retry_dlq=retry_dlq, max_retries=max_retries, setup_next=setup_next,
        reduce_next=reduce_next, nothing_to_do=finished and not retry_dlq,
        done_cost_usd=state.done_spend.get("usd") if state.done_spend else None,
        conversations=sum(1 for i in in_flight if _in_agent_call(state, i)),
    )


def _in_agent_call(state: JobState, index: int) -> bool:
    progress = state.items[index].progress if index in state.items else None
    parts = (progress or {}).get("parts") or {}
    return any(isinstance(part, dict) and part.get("agent") for part in parts.values())


def _phase(state: JobState) -> str:
    if not state.setup_complete:
        return "setup"
    if not state.map_complete:
        return "map"
    if not state.reduce_complete:
        return "reduce"
    return "done"


def _first_missing(done: dict[int, object], total: int) -> int:
    for index in range(total):
        if index not in done:
            return index
    return total
