"""What the web page asks for, as JSON-ready dicts, computed by the views (never by reading state here).

One JobWatch per job is shared by every request and event stream of that job, refreshed at most every
REFRESH seconds under its lock, so ten open tabs read the journal as often as one."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from prodigy.errors import NotFoundError, UsageError
from prodigy.ids import IdType, detect_id_type
from prodigy.resume.plan import retry_command
from prodigy.views.agent_log import lines_of, readable
from prodigy.views.common import find_job
from prodigy.views.dlq import job_dlq, parse_item
from prodigy.views.progress import JobWatch
from prodigy.views.progress_items import DEFAULT_LIMIT, item_detail, item_page
from prodigy.views.progress_logs import AgentLogIndex
from prodigy.views.sessions import list_sessions

REFRESH = 0.25  # seconds: how stale a shared watch may be
MAX_WATCHES = 16  # jobs followed at once by one server (the least recently used is dropped)
SESSIONS_SHOWN = 200
LOG_LINES = 3000  # the last lines of an agent log shown on its page (the summary covers all of it)


class Hub:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._watches: OrderedDict[str, tuple[threading.Lock, JobWatch, list[float]]] = OrderedDict()
        self._logs: dict[str, AgentLogIndex] = {}

    @contextmanager
    def watch(self, job_id: str) -> Iterator[JobWatch]:
        """The job's shared watch, refreshed if stale, held under its lock while the caller reads it."""
        entry = self._entry(job_id)
        lock, watch, last = entry
        with lock:
            if self._clock() - last[0] >= REFRESH:
                watch.refresh(outcomes=False)
                last[0] = self._clock()
            yield watch

    def _entry(self, job_id: str) -> tuple[threading.Lock, JobWatch, list[float]]:
        if detect_id_type(job_id) is not IdType.JOB:
            raise NotFoundError(f"Not a job id: {job_id!r}.", hint="Job pages are /job/mapreduce-...")
        with self._lock:
            entry = self._watches.get(job_id)
            if entry is not None:
                self._watches.move_to_end(job_id)
                return entry
        ref = find_job(job_id)  # outside the hub lock: it reads session records
        if ref.job_id != job_id:
            raise NotFoundError(f"No job {job_id!r} (did you mean {ref.job_id}?).")
        with self._lock:
            entry = self._watches.get(job_id)
            if entry is None:
                entry = self._watches[job_id] = (threading.Lock(), JobWatch(ref, clock=self._clock), [float("-inf")])
                self._logs[job_id] = AgentLogIndex(ref.session.id)
                while len(self._watches) > MAX_WATCHES:
                    dropped, _entry = self._watches.popitem(last=False)
                    self._logs.pop(dropped, None)
            return entry

    # ---------------------------------------------------------------- answers

    def snapshot(self, job_id: str) -> dict[str, Any]:
        with self.watch(job_id) as watch:
            return {"snapshot": asdict(watch.snapshot()), "timeline": watch.timeline()}

    def seq(self, job_id: str) -> tuple[int, bool]:
        with self.watch(job_id) as watch:
            return watch.seq, watch.live

    def items(self, job_id: str, query: dict[str, str]) -> dict[str, Any]:
        offset = _int(query.get("offset"), 0, "offset")
        limit = min(_int(query.get("limit"), DEFAULT_LIMIT, "limit"), 5000)
        with self.watch(job_id) as watch:
            page = item_page(watch, status=query.get("status") or "all", query=query.get("q") or "",
                             offset=offset, limit=limit, now=self._clock(), logs=self._logs.get(job_id))
        return {"rows": [asdict(r) for r in page.rows], "matched": page.matched, "total": page.total,
                "status": page.status, "q": page.query, "offset": offset, "limit": limit}

    def item(self, job_id: str, item: str) -> dict[str, Any]:
        with self.watch(job_id) as watch:
            return asdict(item_detail(watch, item, self._clock(), self._logs.get(job_id)))

    def dlq(self, job_id: str) -> dict[str, Any]:
        with self.watch(job_id) as watch:
            ref = watch.ref
        view = job_dlq(ref, history=True)
        return {"job_id": view.job_id, "count": view.dlq_count, "items": [asdict(i) for i in view.items],
                "purged": list(view.purged), "warnings": list(view.warnings),
                "retry_command": retry_command(view.job_id) if view.items else None}

    def log(self, job_id: str, item: str, n: str | None) -> dict[str, Any]:
        """Log `n` of the item (oldest first; the latest by default), rendered as `prodigy logs` renders it."""
        number = _int(n, 0, "n") if n else None
        with self.watch(job_id) as watch:
            index = parse_item(item, watch.state.item_count)
            logs = self._logs.get(job_id) or AgentLogIndex(watch.ref.session.id)
            path = logs.path(watch, index, number)
        try:
            lines, summary = readable(lines_of(path), tail=LOG_LINES)  # the one rendering (`prodigy logs`)
            size = path.stat().st_size
        except OSError as exc:
            raise NotFoundError(f"Cannot read the agent log {path}: {exc.strerror or exc}.") from None
        return {"item_id": f"item_{index}", "n": number, "path": str(path), "size": size,
                "lines": [asdict(line) for line in lines], "cut": len(lines) >= LOG_LINES,
                "summary": asdict(summary)}

    def sessions(self) -> dict[str, Any]:
        listing = list_sessions(limit=SESSIONS_SHOWN)
        return {"rows": [asdict(r) for r in listing.rows], "total": listing.total,
                "warnings": list(listing.warnings)}


def _int(text: str | None, default: int, name: str) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise UsageError(f"Invalid {name} {text!r}: expected a whole number.")
    return int(text)
