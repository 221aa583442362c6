"""The item table, one item's attempts and the full progress report (`--export`), from a JobWatch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prodigy.errors import StateError, UsageError
from prodigy.state.jobs import RUNNING, item_id
from prodigy.state.journal import read_record_at
from prodigy.state.spend import readable
from prodigy.views.common import iso_from_epoch
from prodigy.views.dlq import parse_item
from prodigy.views.progress import FAILED_FOR_GOOD, JobWatch
from prodigy.views.progress_logs import AgentLogIndex, ItemLog

# Filters of the item table: a status of the fold, or `failed` for every item that failed for good.
STATUS_FILTERS = ("all", "running", "pending", "succeeded", "failed", "dlq", "skipped", "purged")
DEFAULT_LIMIT = 500
OUTPUT_KEEP = 4000  # characters of an attempt's output tails shown in its details


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    index: int
    status: str  # pending | running | succeeded | dlq | skipped | purged
    attempts: int
    duration: float | None  # of the last attempt that ended
    worker: str | None  # the cluster worker; None for the local pool
    cost_usd: float | None  # its agent calls over all its attempts; None when no agent ran
    error: str | None  # the last failure's error, then its stderr tail
    log_path: str | None  # the agent log its last ended attempt recorded
    logs: int  # agent logs of the item on disk (every claude step of every attempt)
    started_at: str | None
    finished_at: str | None
    running_seconds: float | None


@dataclass(frozen=True)
class ItemPage:
    rows: tuple[ItemRow, ...]
    matched: int  # rows matching the filters, before the limit
    total: int  # items in the work list
    status: str
    query: str


@dataclass(frozen=True)
class Attempt:
    attempt: int
    status: str
    exit_code: int | None
    duration: float | None
    error: str | None
    stdout_tail: str | None
    stderr_tail: str | None
    log_path: str | None
    worker: str | None
    finished_at: str | None
    agent: dict[str, Any] | None  # what its agent calls cost: cost, tokens, turns, model (readable keys)


@dataclass(frozen=True)
class ItemDetail:
    row: ItemRow
    attempts: tuple[Attempt, ...]
    data: Any  # the item as frozen in the work list
    logs: tuple[ItemLog, ...] = ()
    warnings: tuple[str, ...] = ()


def row(watch: JobWatch, index: int, now: float, logs: AgentLogIndex | None = None) -> ItemRow:
    state = watch.state
    status = state.status_of(index)
    track = watch.items.get(index)
    item = state.items.get(index)
    error = None
    if track and (track.error or track.stderr) and status != "succeeded":
        error = " | ".join(part for part in (track.error, _last_lines(track.stderr)) if part)
    running = status == RUNNING and track is not None and track.started is not None
    return ItemRow(
        item_id=item_id(index), index=index, status=status, attempts=item.attempts if item else 0,
        duration=track.duration if track else None, worker=track.worker if track else None,
        cost_usd=track.cost if track else None, error=error,
        log_path=track.log if track else None, logs=logs.count(index) if logs else 0, started_at=iso_from_epoch(track.started) if track else None,
        finished_at=iso_from_epoch(track.finished) if track and status != RUNNING else None,
        running_seconds=round(max(0.0, now - track.started), 1) if running else None,
    )


def item_page(watch: JobWatch, *, status: str = "all", query: str = "", offset: int = 0,
              limit: int = DEFAULT_LIMIT, now: float, logs: AgentLogIndex | None = None) -> ItemPage:
    """Rows of the item table in item order, filtered by status and by text in the item id or error."""
    if status not in STATUS_FILTERS:
        raise UsageError(f"Unknown status filter {status!r}; choose one of: {', '.join(STATUS_FILTERS)}.")
    state = watch.state
    total = state.item_count or 0
    if status == "all":
        indexes = range(total)
    elif status == "failed":
        indexes = state.indexes(*FAILED_FOR_GOOD)
    else:
        indexes = state.indexes(status)
    needle = query.strip().lower()
    if not needle:  # only the rows shown are built: a 100,000-item job's table costs one page
        chosen = list(indexes)[offset:offset + limit] if not isinstance(indexes, range) else indexes[offset:offset + limit]
        return ItemPage(rows=tuple(row(watch, i, now, logs) for i in chosen), matched=len(indexes), total=total,
                        status=status, query=query)
    rows = []
    matched = 0
    for index in indexes:
        candidate = row(watch, index, now, logs)
        if needle and needle not in candidate.item_id and needle not in (candidate.error or "").lower():
            continue
        matched += 1
        if offset <= matched - 1 < offset + limit:
            rows.append(candidate)
    return ItemPage(rows=tuple(rows), matched=matched, total=total, status=status, query=query)


def item_detail(watch: JobWatch, text: str, now: float, logs: AgentLogIndex | None = None) -> ItemDetail:
    """One item: its row, every ended attempt (from the journal) and its data from the work list."""
    index = parse_item(text, watch.state.item_count)
    track = watch.items.get(index)
    attempts = []
    for offset in track.done_offsets if track else ():
        record = read_record_at(watch.journal_path, offset)
        if record is None or record.get("i") != index:
            continue  # a damaged journal must not mix items up
        attempts.append(_attempt(record))
    warnings: list[str] = []
    data = None
    try:
        from prodigy.state.jobs import JobStore

        data = JobStore(watch.ref.folder).load_items({index}).get(index)
    except StateError as exc:
        warnings.append(str(exc).splitlines()[0])
    return ItemDetail(row=row(watch, index, now, logs), attempts=tuple(attempts), data=data,
                      logs=logs.listing(watch, index) if logs else (), warnings=tuple(warnings))


def _attempt(record: dict[str, Any]) -> Attempt:
    status = record.get("s", "succeeded")
    return Attempt(attempt=int(record.get("a", 1)), status=status,
                   exit_code=record.get("x", 0 if status == "succeeded" else None), duration=record.get("d"),
                   error=record.get("err"), stdout_tail=_keep(record.get("out")),
                   stderr_tail=_keep(record.get("se")), log_path=record.get("log"), worker=record.get("w"),
                   finished_at=iso_from_epoch(record.get("ts")), agent=readable(record.get("ag")))


def report(watch: JobWatch, now: float) -> dict[str, Any]:
    """Everything `--export` writes: the snapshot, the timeline and every item's row."""
    snapshot = watch.snapshot(now)
    page = item_page(watch, limit=max(watch.state.item_count or 0, 1), now=now,
                     logs=AgentLogIndex(watch.ref.session.id))
    return {"snapshot": asdict(snapshot), "timeline": watch.timeline(),
            "items": [asdict(r) for r in page.rows]}


def _keep(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    return text if len(text) <= OUTPUT_KEEP else "…" + text[-OUTPUT_KEEP:]


def _last_lines(text: str | None, lines: int = 2) -> str | None:
    if not text:
        return None
    rows = [r for r in text.strip().splitlines() if r.strip()]
    return " / ".join(rows[-lines:]) if rows else None
