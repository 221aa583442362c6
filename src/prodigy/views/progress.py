"""Live progress of a MapReduce job, read from its journal alone: no lock is taken and nothing is written, so
watching never disturbs the run (`prodigy progress`, `--web` and `prodigy dashboard` share this).

`JobWatch.refresh()` reads only the complete records appended since the last call (an incomplete last line
is a write in progress and waits for the next call) and folds them with the executors' own `apply`, so the
counts are the ones `run` and `resume` see. Beside the fold it keeps what a live view needs and the fold
does not: when each running attempt started, each item's last duration, error, log and worker, and how the
counts moved over time (the timeline). A resume appends to the same journal, so one watch follows a job
across any number of runs.
"""

from __future__ import annotations

import json
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError, StateError
from prodigy.state import sessions
from prodigy.state.item_events import number, started_at
from prodigy.state.jobs import DLQ, PENDING, PURGED, RUNNING, SKIPPED, SUCCEEDED, JobState, apply, item_id
from prodigy.state.journal import read_journal
from prodigy.state.sessions import SessionRecord
from prodigy.state.spend import job_spend
from prodigy.views.common import JobRef, iso_from_epoch
from prodigy.views.events import ACTIVE, ENDED, job_activity
from prodigy.views.progress_snapshot import Counts, ItemOutcome, PhaseSteps, ProgressSnapshot, RunningItem
from prodigy.views.progress_tracks import Tracks
from prodigy.views.sessions import next_command

FAILED_FOR_GOOD = (DLQ, SKIPPED, PURGED)
_ZEROS = (0,) * len(FAILED_FOR_GOOD)
RATE_WINDOW = 60.0  # seconds of recent completions behind the rate and the ETA
ENDED_GRACE = 2.0  # a record that says running with no live executor for this long: the run is gone
SLOWEST_SHOWN = 5
TEXT_KEEP = 400  # characters of an error or stderr tail kept per item in memory
WARNINGS_KEPT = 20  # of a damaged journal: the first ones (the rest are more of the same)
READ_SLICE = 1 << 20  # bytes of journal decoded at a time: a first read of a big job holds a slice, not all


class JobWatch:
    """Follows one job read-only. Not thread-safe: callers that share one (the web server) hold a lock."""

    def __init__(self, ref: JobRef, *, clock: Callable[[], float] = time.time,
                 activity: Callable[[str], str] = job_activity) -> None:
        self.ref = ref
        self._clock = clock
        self._activity_of = activity
        self._reset()
        self.session: SessionRecord = ref.session
        self.activity = ENDED
        self._unknown_since: float | None = None
        self._events_offset = 0
        self._events_partial = b""
        self.phase_totals: dict[str, int] = {}
        self.seq = 0

    def _reset(self) -> None:
        self.state = JobState(job_id=self.ref.job_id)
        self.items = Tracks()
        self.offset = 0
        self.first_ts: float | None = None
        self._start_offset = 0.0  # the run's `sto` (state/item_events.py::started_at)
        self.last_ts: float | None = None
        self.run_starts: list[float] = []
        self.succeeded_before_run = 0  # items that had succeeded when the current run or resume began
        self.retried = 0
        # The timeline: after every change of the finished counts, (time, succeeded, failed for good). Counts
        # fit in 32 bits (records.MAX_ITEMS).
        self.times = array("d")
        self.succeeded_series = array("i")
        self.failed_series = array("i")
        self.warnings: list[str] = []

    @property
    def journal_path(self) -> Path:
        return self.ref.journal_path

    # ---------------------------------------------------------------- reading

    def refresh(self, *, outcomes: bool = True) -> list[ItemOutcome]:
        """Fold what was appended since the last call; returns the attempts that ended meanwhile (with
        `outcomes=False`, nothing: a caller that only wants the state need not hold an object per attempt)."""
        ended: list[ItemOutcome] | None = [] if outcomes else None
        changed = self._read_journal(ended)
        changed = self._read_session() or changed
        self._read_events()
        if changed:
            self.seq += 1
        return ended or []

    def _read_journal(self, outcomes: list[ItemOutcome] | None) -> bool:
        try:
            size = self.journal_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < self.offset:  # rewritten from scratch (cleaned up and recreated): start over
            self._reset()
            if outcomes is not None:
                outcomes.clear()
        if size == self.offset:
            return False
        began = self.offset
        while self.offset < size:
            read = read_journal(self.journal_path, self.offset, limit=READ_SLICE)
            # An incomplete last line is a record being written: it is read whole by the next refresh.
            room = max(0, WARNINGS_KEPT - len(self.warnings))
            self.warnings += [w for w in read.warnings if "incomplete last record" not in w][:room]
            for record, offset in zip(read.records, read.offsets, strict=True):
                self._fold(record, offset, outcomes)
            if read.end_offset == self.offset:
                break
            self.offset = read.end_offset
        return self.offset != began

    def _fold(self, record: dict[str, Any], offset: int, outcomes: list[ItemOutcome] | None) -> None:
        if record.get("t") in ("run", "resume"):
            self._start_offset = number(record.get("sto"))
        ts = started_at(record, self._start_offset) if record.get("t") == "start" else record.get("ts")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            self.first_ts = ts if self.first_ts is None else self.first_ts
            self.last_ts = ts
        kind = record.get("t")
        before = self._finished_counts()
        try:
            apply(self.state, record, offset)
        except (KeyError, TypeError, ValueError):
            self.warnings.append(f"{self.journal_path}: skipped a malformed {kind!r} record at byte {offset}")
            return
        if kind in ("run", "resume"):
            self.run_starts.append(self.last_ts or 0.0)
            self.succeeded_before_run = self.state.count(SUCCEEDED)
        elif kind == "start":
            self.items.limit = self.state.item_count or 0
            self.items.start(int(record["i"]), self.last_ts, record.get("w"))
        elif kind == "done":
            outcome = self._done(record, offset, outcomes is not None)
            if outcome is not None and outcomes is not None:
                outcomes.append(outcome)
        after = self._finished_counts()
        if after != before:
            self.times.append(self.last_ts or 0.0)
            self.succeeded_series.append(after[0])
            self.failed_series.append(after[1])

    def _done(self, record: dict[str, Any], offset: int, want: bool) -> ItemOutcome | None:
        """Track an ended attempt; its outcome when `want`."""
        status = record.get("s", "succeeded")
        failed = status != "succeeded" and status != "interrupted"
        index, duration = int(record["i"]), _number(record.get("d"))
        self.items.limit = self.state.item_count or 0
        self.items.end(index, offset, duration=duration, at=self.last_ts, log=record.get("log"),
                       worker=record.get("w"), cost=record_cost(record),
                       failure=(_tail(record.get("err")), _tail(record.get("se"))) if failed else None)
        if failed and record.get("final") is None:
            self.retried += 1
        if not want:
            return None
        final = status == "succeeded" or record.get("final") is not None
        track = self.items.get(index) if status != "succeeded" else None  # its error: this or an earlier one
        return ItemOutcome(index=index, attempt=int(record.get("a", 1)), status=status,
                           final=final and status != "interrupted", duration=duration,
                           error=track.error if track else None, stderr=track.stderr if track else None)

    def _finished_counts(self) -> tuple[int, int]:
        """state.count(SUCCEEDED) and state.count(*FAILED_FOR_GOOD), read straight from the tally: this runs
        twice for every record of the journal (a third of a big first read went to the general count)."""
        tally = self.state.tally
        return tally.get(SUCCEEDED, 0), sum(map(tally.get, FAILED_FOR_GOOD, _ZEROS))

    def _read_session(self) -> bool:
        before = (self.session.status, self.session.updated_at, self.activity)
        try:
            self.session = sessions.load(self.ref.session.id)
        except (NotFoundError, StateError) as exc:
            note = f"the session record is unreadable: {str(exc).splitlines()[0]}"
            if note not in self.warnings:
                self.warnings.append(note)
        self.activity = self._activity_of(self.ref.session.id)
        if self.activity == ACTIVE or self.activity == ENDED:
            self._unknown_since = None
        elif self._unknown_since is None:
            self._unknown_since = self._clock()
        return before != (self.session.status, self.session.updated_at, self.activity)

    def _read_events(self) -> None:
        """Setup and reduce step totals: the run announces them in its phase_started events."""
        path = self.ref.events_path
        try:
            with open(path, "rb") as handle:
                handle.seek(self._events_offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self._events_offset += len(chunk)
        lines = (self._events_partial + chunk).split(b"\n")
        self._events_partial = lines.pop()
        for raw in lines:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "phase_started" and isinstance(event.get("total"), int):
                self.phase_totals[str(event.get("phase"))] = event["total"]

    # ---------------------------------------------------------------- answers

    @property
    def live(self) -> bool:
        return self.activity == ACTIVE

    @property
    def ended(self) -> bool:
        """Nothing executes the job: its record is not `running`, or says so with no live process for a while
        (the run was killed)."""
        if self.activity == ENDED:
            return True
        return self._unknown_since is not None and self._clock() - self._unknown_since >= ENDED_GRACE

    def counts(self) -> Counts:
        state = self.state
        total = state.item_count
        succeeded, failed = state.count(SUCCEEDED), state.count(*FAILED_FOR_GOOD)
        return Counts(total=total, succeeded=succeeded, failed=failed, dlq=state.count(DLQ),
                      skipped=state.count(SKIPPED), running=state.count(RUNNING),
                      pending=state.count(PENDING) if total is not None else 0, retried=self.retried,
                      # a plain success is never retrying: only the items kept as objects can be
                      retrying=sum(1 for item in state.items.tracked().values()
                                   if item.status == PENDING and item.failures and not item.interrupted),
                      finished=succeeded + failed)

    def slowest_running(self, now: float, limit: int = SLOWEST_SHOWN) -> tuple[RunningItem, ...]:
        running = [(self.items.get(i), i) for i in self.state.indexes(RUNNING)]
        running.sort(key=lambda pair: (pair[0].started if pair[0] and pair[0].started else now, pair[1]))
        result = []
        for track, index in running[:limit]:
            started = track.started if track else None
            result.append(RunningItem(item_id=item_id(index), attempt=self.state.items[index].attempts,
                                      started_at=iso_from_epoch(started),
                                      seconds=round(max(0.0, now - started), 1) if started else None,
                                      worker=track.worker if track else None))
        return tuple(result)

    def rate_per_minute(self, now: float) -> float | None:
        """Items finished per minute over the last RATE_WINDOW seconds of the current run."""
        if not self.times:
            return None
        end = now if self.live else self.times[-1]
        start = max(end - RATE_WINDOW, self.run_starts[-1] if self.run_starts else self.times[0])
        span = end - start
        if span <= 0:
            return None
        first = bisect_left(self.times, start)
        finished_before = (self.succeeded_series[first - 1] + self.failed_series[first - 1]) if first else 0
        finished_now = self.succeeded_series[-1] + self.failed_series[-1]
        moved = finished_now - finished_before
        return round(moved / span * 60.0, 2) if moved > 0 else None

    def snapshot(self, now: float | None = None) -> ProgressSnapshot:
        now = self._clock() if now is None else now
        counts = self.counts()
        rate = self.rate_per_minute(now)
        left = (counts.pending + counts.running) if counts.total is not None else None
        eta = round(left / rate * 60.0, 1) if self.live and rate and left is not None else None
        record = self.session
        end = now if self.live or not self.ended else (self.last_ts or now)
        state = self.state
        return ProgressSnapshot(
            job_id=self.ref.job_id, session_id=record.id, workflow=record.workflow_name,
            workflow_path=record.workflow_path, status=record.status, live=self.live, ended=self.ended,
            phase=state.phase, counts=counts,
            setup=PhaseSteps(done=len(state.setup_steps), total=self.phase_totals.get("setup")),
            reduce=PhaseSteps(done=len(state.reduce_steps), total=self.phase_totals.get("reduce")),
            started_at=iso_from_epoch(self.first_ts), updated_at=iso_from_epoch(self.last_ts),
            elapsed_seconds=round(end - self.first_ts, 1) if self.first_ts is not None else None,
            rate_per_minute=rate, eta_seconds=eta,
            cost_usd=_number(state.spend.get("usd")) if state.spend else None, agents=job_spend(state),
            slowest_running=self.slowest_running(now), runs=len(self.run_starts),
            succeeded_before_run=self.succeeded_before_run,
            error=state.error or record.error, exit_code=record.exit_code,
            next_command=None if self.live else next_command(record, live=False, dlq=counts.dlq),
            resume_command=None if record.status in ("completed", "cancelled") else f"prodigy resume {record.id}",
            journal_bytes=self.offset, seq=self.seq,
            generated_at=iso_from_epoch(now) or "", warnings=tuple(self.warnings),
        )

    def timeline(self, max_points: int = 400) -> dict[str, Any]:
        """How the finished counts moved: at most max_points [seconds since the job started, succeeded,
        failed] points (evenly thinned, the last one always kept), and when each run began."""
        origin = self.first_ts or 0.0
        count = len(self.times)
        step = max(1, -(-count // max_points))
        picks = list(range(0, count, step))
        if count and picks[-1] != count - 1:
            picks.append(count - 1)
        points = [[round(self.times[i] - origin, 3), self.succeeded_series[i], self.failed_series[i]] for i in picks]
        return {"started_at": iso_from_epoch(self.first_ts), "points": points,
                "runs": [round(ts - origin, 3) for ts in self.run_starts], "total": self.state.item_count}


def record_cost(record: dict[str, Any]) -> float | None:
    """The USD an ended attempt's agent calls cost (its `ag` record), if it recorded any."""
    agent = record.get("ag")
    return _number(agent.get("usd")) if isinstance(agent, dict) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _tail(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    text = text.rstrip()
    return text if len(text) <= TEXT_KEEP else "…" + text[-TEXT_KEEP:]
