"""`prodigy dlq`: the dead-letter queue is a view of the job journal (items whose last attempt failed with
final='dlq'), never a second copy. Purging appends a dlq_purge record; retrying goes through resume_job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prodigy.errors import NotFoundError, StateError, UsageError
from prodigy.resume.resolve import Target
from prodigy.state import sessions
from prodigy.state.jobs import DLQ, PURGED, JobState, JobStore, item_id, item_index
from prodigy.state.locks import ExecutionLock
from prodigy.state.spend import readable, totals
from prodigy.views.common import JobRef, iso_from_epoch, job_ref, load_job
from prodigy.workflow import expr
from prodigy.workflow.items import _filter_scope


@dataclass(frozen=True)
class Failure:
    attempt: int | None
    status: str | None  # failed | errored | timed_out ...
    error: str | None
    exit_code: int | None
    stderr_tail: str | None
    log_path: str | None
    duration: float | None
    time: str | None
    worker: str | None = None  # the cluster worker that ran the attempt (None: the local pool)
    agent: dict[str, Any] | None = None  # what the attempt's agent calls cost (cost_usd, tokens, turns ...)


@dataclass(frozen=True)
class DlqItem:
    item_id: str
    index: int
    status: str  # dlq | purged | succeeded | pending | running | skipped
    attempts: int
    last_error: str | None
    exit_code: int | None
    log_path: str | None
    failed_at: str | None
    failures: tuple[Failure, ...] = ()
    data: Any = None
    spend: dict[str, Any] | None = None  # the agent cost of the failed attempts shown (with history)


@dataclass(frozen=True)
class JobDlq:
    job_id: str
    session_id: str
    workflow: str
    items: tuple[DlqItem, ...]
    dlq_count: int  # items in the job's DLQ (whichever items were asked for)
    purged: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def parse_item(text: str, item_count: int | None) -> int:
    """'item_3' or '3' -> 3, checked against the frozen work list."""
    try:
        index = int(text) if text.isdigit() else item_index(text)
    except ValueError:
        raise UsageError(f"Invalid item id {text!r}: item ids look like item_0, item_1, ...") from None
    if item_count is not None and index >= item_count:
        raise NotFoundError(f"No {item_id(index)} in this job: its work list has {item_count} item(s).")
    return index


def _failure(record: dict[str, Any] | None) -> Failure:
    record = record or {}
    return Failure(attempt=record.get("a", 1), status=record.get("s", "succeeded"), error=record.get("err"),
                   exit_code=record.get("x"), stderr_tail=record.get("se"), log_path=record.get("log"),
                   duration=record.get("d"), time=iso_from_epoch(record.get("ts")), worker=record.get("w"),
                   agent=readable(record.get("ag")))


def _failure_records(store: JobStore, offsets: list[int], index: int) -> list[dict[str, Any]]:
    found = []
    for offset in offsets:
        record = store.record_at(offset)
        if record is not None and record.get("i") == index:  # a damaged journal must not mix items up
            found.append(record)
    return found


def _item(store: JobStore, state: JobState, index: int, *, history: bool, data: Any = None) -> DlqItem:
    item = state.items.get(index)
    offsets = list(item.failures or ()) if item else []
    records = _failure_records(store, offsets if history else offsets[-1:], index)
    last = _failure(records[-1] if records else None)
    return DlqItem(
        item_id=item_id(index), index=index, status=state.status_of(index), attempts=item.attempts if item else 0,
        last_error=last.error, exit_code=last.exit_code, log_path=last.log_path, failed_at=last.time,
        failures=tuple(_failure(r) for r in records) if history else (), data=data,
        spend=readable(totals([r.get("ag") for r in records if "ag" in r])) if history else None,
    )


def job_dlq(ref: JobRef, *, item_ids: tuple[str, ...] = (), history: bool = False) -> JobDlq:
    """The DLQ items of one job (or the named items, whatever their status); `history` adds every failed
    attempt and the item's data from the frozen work list."""
    store, state = load_job(ref)
    warnings = list(state.warnings)
    if item_ids:
        indexes = [parse_item(text, state.item_count) for text in item_ids]
    else:
        indexes = state.indexes(DLQ)
    data: dict[int, Any] = {}
    if history and indexes:
        try:
            data = store.load_items(set(indexes))
        except StateError as exc:
            warnings.append(str(exc).splitlines()[0])
    items = tuple(_item(store, state, i, history=history, data=data.get(i)) for i in indexes)
    return JobDlq(job_id=ref.job_id, session_id=ref.session.id, workflow=ref.session.workflow_name, items=items,
                  dlq_count=state.count(DLQ), purged=tuple(item_id(i) for i in state.indexes(PURGED)), warnings=tuple(warnings))


def all_dlqs() -> tuple[tuple[JobDlq, ...], tuple[str, ...]]:
    """Every job with items in its DLQ, and warnings. Folds each job's snapshot and journal tail, except for
    completed jobs whose session record says their DLQ is empty."""
    from prodigy.legacy.discover import original_session_ids

    records, warnings = sessions.load_all(skip=set(original_session_ids()))  # not the original (Rust) prodigy's
    found: list[JobDlq] = []
    notes = list(warnings)
    for record in records:
        if record.kind != "mapreduce" or not record.job_id:
            continue
        if record.status == "completed" and record.progress.get("dlq") == 0:
            continue  # a finished job's record carries its final DLQ count (purge keeps it current)
        try:
            view = job_dlq(job_ref(Target(record, record.job_id, "session record")))
        except (StateError, NotFoundError) as exc:
            notes.append(f"{record.job_id}: {str(exc).splitlines()[0]}")
            continue
        if view.items:
            found.append(view)
    return tuple(found), tuple(notes)


# ---------------------------------------------------------------- retry and purge


@dataclass(frozen=True)
class RetrySelection:
    job_id: str
    session_id: str
    indexes: tuple[int, ...]
    dlq_total: int
    filter: str | None

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item_id(i) for i in self.indexes)


def select_for_retry(ref: JobRef, filter_text: str | None) -> RetrySelection:
    """The DLQ items whose data matches the filter (the same language and scope as map.filter)."""
    store, state = load_job(ref)
    dlq = state.indexes(DLQ)
    chosen = dlq
    if filter_text:
        try:
            predicate = expr.compile_predicate(filter_text, kind="--filter")
        except expr.ExprError as exc:
            raise UsageError(str(exc)) from None
        data = store.load_items(set(dlq))
        chosen = [i for i in dlq if predicate(_filter_scope(data.get(i)))]
    return RetrySelection(job_id=ref.job_id, session_id=ref.session.id, indexes=tuple(chosen),
                          dlq_total=len(dlq), filter=filter_text)


def dlq_item_ids(ref: JobRef, item_ids: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What `dlq purge` would drop: the named items that are in the DLQ, or all of them."""
    _store, state = load_job(ref)
    return tuple(item_id(i) for i in _purgeable(state, item_ids))


def _purgeable(state: JobState, item_ids: tuple[str, ...]) -> list[int]:
    dlq = state.indexes(DLQ)
    if not item_ids:
        return dlq
    wanted = [parse_item(text, state.item_count) for text in item_ids]
    missing = [item_id(i) for i in wanted if i not in dlq]
    if missing:
        raise UsageError(f"Not in the dead-letter queue: {', '.join(missing)}.",
                         hint="See what is in it with: prodigy dlq list <job_id>")
    return sorted(set(wanted))


def purge(ref: JobRef, item_ids: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Drop items from the DLQ view: a dlq_purge journal record, written under the session's lock."""
    with ExecutionLock(ref.session.id, purpose="dlq purge"):
        return purge_held(ref, item_ids)


def purge_held(ref: JobRef, item_ids: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`purge` for a caller that already holds the session's execution lock."""
    store, state = load_job(ref)  # read under the lock
    indexes = _purgeable(state, item_ids)
    if not indexes:
        return ()
    store.append({"t": "dlq_purge", "items": indexes})
    store.close()  # also writes the snapshot
    _update_progress(ref.session.id, state)
    return tuple(item_id(i) for i in indexes)


def _update_progress(session_id: str, state: JobState) -> None:
    from prodigy.execution.mapreduce.mapvars import counts

    numbers = counts(state)
    try:
        record = sessions.load(session_id)
    except NotFoundError:
        return
    record.progress = {"done": numbers["successful"] + numbers["failed"], "total": numbers["total"],
                       "failed": numbers["failed"], "dlq": numbers["dlq"]}
    sessions.save(record)
