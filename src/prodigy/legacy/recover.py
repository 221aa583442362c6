"""Which map items of an original job finished, from what the original recorded.

Sources, best first: the job state file (checkpoint-v{N}.json: the whole work list and every agent result),
else the events (agent_started / agent_completed / agent_failed / worktree_merged / dlq_item_added) plus the
DLQ item files. An item's last terminal record decides. An item that started and has no terminal record ran
when the original stopped: it runs again. A DLQ entry for an item that completed later is ignored (the
original never cleared DLQ entries on success)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prodigy.errors import StateError
from prodigy.legacy import job_shapes
from prodigy.legacy.discover import JobFiles, newest_readable_job_state
from prodigy.legacy.events import read_events
from prodigy.legacy.shapes import duration_seconds

_ITEM_RE = re.compile(r"^item_(\d+)$")
_AGENT_RE = re.compile(r"_agent_(\d+)$")


@dataclass(frozen=True)
class Attempt:
    status: str  # succeeded | failed | timed_out
    attempt: int
    error: str | None = None
    exit_code: int | None = None
    output: str | None = None
    duration: float | None = None
    log: str | None = None
    time: float | None = None
    source: str = ""  # the file it came from
    merged_only: bool = False  # no agent_completed, but its worktree was merged


@dataclass
class Recovery:
    job_id: str
    source: str  # "job state" | "events" | "nothing"
    files: list[str] = field(default_factory=list)
    work_items: list[Any] | None = None  # the job state's frozen list
    total_items: int | None = None  # as recorded by the original (job_started / job state)
    recorded_input: str | None = None
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)  # item index -> attempts in order
    started_unfinished: list[int] = field(default_factory=list)
    dlq_data: dict[int, Any] = field(default_factory=dict)  # item data in DLQ items (to check the work list)
    variables: dict[str, Any] | None = None  # setup variables (job state only)
    setup_completed: bool | None = None
    reduce_started: bool = False
    reduce_completed: bool = False
    job_completed: bool = False
    parent_worktree: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def progressed(self) -> bool:
        return bool(self.attempts or self.started_unfinished or self.work_items is not None)

    def final(self, index: int) -> Attempt | None:
        attempts = self.attempts.get(index)
        return attempts[-1] if attempts else None

    def indexes(self, *statuses: str) -> list[int]:
        return sorted(i for i, a in self.attempts.items() if a and a[-1].status in statuses)


def _index(item_id: Any) -> int | None:
    match = _ITEM_RE.match(item_id) if isinstance(item_id, str) else None
    return int(match.group(1)) if match else None


def recover(files: JobFiles) -> Recovery:
    recovery = Recovery(job_id=files.job_id, source="nothing")
    dlq = _read_dlq(files, recovery)
    for folder in files.state_dirs:
        state, warnings = newest_readable_job_state(folder)
        recovery.warnings += warnings
        if state is not None:
            _from_state(state, recovery)
            break
    if recovery.source == "nothing" and files.event_files:
        _from_events(files, recovery)
    _merge_dlq(dlq, recovery)
    return recovery


def _read_dlq(files: JobFiles, recovery: Recovery) -> dict[int, job_shapes.RustDlqItem]:
    items: dict[int, job_shapes.RustDlqItem] = {}
    for path in files.dlq_files:
        try:
            item = job_shapes.read_dlq_item(path)
        except StateError as exc:
            recovery.warnings.append(str(exc).splitlines()[0])
            continue
        index = _index(item.item_id)
        if index is None:
            recovery.warnings.append(f"{path}: item id {item.item_id!r} is not item_<n>; this DLQ entry was skipped")
            continue
        items[index] = item
        recovery.dlq_data[index] = item.item_data
        recovery.files.append(str(path))
    return items


def _from_state(state: job_shapes.RustJobState, recovery: Recovery) -> None:
    recovery.source = "job state"
    recovery.files.insert(0, str(state.path))
    recovery.work_items = list(state.work_items)
    recovery.total_items = len(state.work_items)
    recovery.recorded_input = state.input
    recovery.variables = state.variables
    recovery.setup_completed = state.setup_completed
    recovery.reduce_started, recovery.reduce_completed = state.reduce_started, state.reduce_completed
    recovery.job_completed = state.is_complete
    recovery.parent_worktree = state.parent_worktree
    for key, result in state.results.items():
        index = _index(result.item_id) if _index(result.item_id) is not None else _index(key)
        if index is None or index >= len(state.work_items):
            recovery.warnings.append(f"{state.path}: agent result {key!r} names no item of the work list; skipped")
            continue
        if result.outcome == "pending":  # a result entry exists once its agent started: it was running
            recovery.started_unfinished.append(index)
            continue
        attempts, last_error = state.failed_attempts.get(result.item_id, (1, None))
        attempt = Attempt(status=result.outcome, attempt=max(attempts, 1), output=result.output,
                          error=result.error or last_error, duration=result.duration, log=result.log,
                          source=state.path.name)
        recovery.attempts[index] = [attempt]
    recovery.started_unfinished.sort()


def _from_events(files: JobFiles, recovery: Recovery) -> None:
    read = read_events(list(files.event_files))
    recovery.source = "events"
    recovery.files[:0] = read.files
    recovery.warnings += read.warnings
    agents: dict[str, int] = {}
    started: dict[int, int] = {}  # index -> attempt of the last start
    merged: set[int] = set()
    for event in read.events:
        f = event.fields
        if event.type == "job_started":
            config = f.get("config") if isinstance(f.get("config"), dict) else {}
            recovery.recorded_input = config.get("input") if isinstance(config.get("input"), str) else None
            if isinstance(f.get("total_items"), int):
                recovery.total_items = f["total_items"]
            continue
        if event.type == "job_completed":
            recovery.job_completed = True
            continue
        if event.type in ("job_failed", "dlq_item_added"):
            continue  # the DLQ item files carry the detail
        agent = f.get("agent_id") if isinstance(f.get("agent_id"), str) else None
        index = _index(f.get("item_id"))
        if index is None and agent is not None:
            index = agents.get(agent)
            if index is None:
                match = _AGENT_RE.search(agent)
                index = int(match.group(1)) if match else None
        if index is None:
            recovery.warnings.append(f"{event.file}: a {event.type} event names no item ({agent or 'no agent id'}); "
                                     "skipped")
            continue
        if event.type == "agent_started":
            if agent:
                agents[agent] = index
            started[index] = f.get("attempt") if isinstance(f.get("attempt"), int) else started.get(index, 0) + 1
        elif event.type == "agent_completed":
            recovery.attempts.setdefault(index, []).append(Attempt(
                status="succeeded", attempt=started.get(index, 1), duration=duration_seconds(f.get("duration")),
                log=f.get("json_log_location") if isinstance(f.get("json_log_location"), str) else None,
                time=event.time if event.time > float("-inf") else None, source=event.file))
            started.pop(index, None)
            merged.discard(index)
        elif event.type == "agent_failed":
            recovery.attempts.setdefault(index, []).append(Attempt(
                status="failed", attempt=started.get(index, 1),
                error=f.get("error") if isinstance(f.get("error"), str) else None,
                time=event.time if event.time > float("-inf") else None, source=event.file))
            started.pop(index, None)
            merged.discard(index)
        elif event.type == "worktree_merged" and index in started:
            merged.add(index)
    for index in sorted(started):
        if index in merged:
            recovery.attempts.setdefault(index, []).append(Attempt(
                status="succeeded", attempt=started[index], source="worktree_merged event", merged_only=True))
            recovery.notes.append(f"item_{index}: no agent_completed event, but its worktree was merged "
                                  "(worktree_merged): counted as done")
        else:
            recovery.started_unfinished.append(index)


def _merge_dlq(dlq: dict[int, job_shapes.RustDlqItem], recovery: Recovery) -> None:
    """A DLQ item is the item's failure record, unless the item completed after it."""
    for index, item in sorted(dlq.items()):
        final = recovery.final(index)
        if final is not None and final.status == "succeeded":
            if final.time is None or item.last_attempt is None or final.time >= item.last_attempt:
                recovery.notes.append(f"item_{index}: its DLQ entry ({item.path.name}) is ignored: the item "
                                      "completed after it failed")
                continue
        history = [Attempt(status=h.status, attempt=h.attempt, error=h.error, exit_code=h.exit_code, log=h.log,
                           duration=h.duration, time=h.time, source=item.path.name) for h in item.history]
        if not history:
            history = [Attempt(status="failed", attempt=max(item.failure_count, 1), source=item.path.name,
                               time=item.last_attempt)]
        recovery.attempts[index] = history
        if index in recovery.started_unfinished:
            recovery.started_unfinished.remove(index)
