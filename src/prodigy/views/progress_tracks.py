"""What a live view knows about each item beyond its status in the fold (`JobWatch.items`), compact.

Every item of a big job has a start time, an end time, a duration and the offset of its last `done` record;
those live in four flat arrays indexed by item (32 bytes an item, against ~300 for an object per item: a
watch of a 1,000,000-item job would otherwise hold 300 MB). What only some items have (a worker, an error
and its stderr tail, an agent log, a cost, the records of earlier attempts) is kept for those items alone.

Reading is by item: `get(index)` builds the item's `ItemTrack` (None when nothing is known of it). Only
indexes below the job's item count go into the arrays (a damaged index cannot make them huge); any other
index is kept aside, item by item.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

_NONE = math.nan  # an unknown time or duration in the arrays
_NO_OFFSET = -1


@dataclass(slots=True)
class ItemTrack:
    """One item as the live views show it."""

    started: float | None = None  # when the running (or last) attempt started
    worker: str | None = None
    duration: float | None = None  # of the last attempt that ended
    error: str | None = None  # of the last failed attempt
    stderr: str | None = None  # its stderr tail
    log: str | None = None  # the last attempt's agent log
    finished: float | None = None  # when its last attempt ended
    cost: float | None = None  # what its agent calls cost, over all its attempts (the journal's `ag`)
    done_offsets: list[int] = field(default_factory=list)  # every ended attempt's record


@dataclass(slots=True)
class _Rare:
    """The fields few items have."""

    worker: str | None = None
    error: str | None = None
    stderr: str | None = None
    log: str | None = None
    cost: float | None = None
    earlier_done: list[int] = field(default_factory=list)  # offsets of ended attempts before the last one


class Tracks:
    """Item index -> ItemTrack (see the module docstring)."""

    __slots__ = ("limit", "_started", "_finished", "_duration", "_done", "_rare", "_aside")

    def __init__(self) -> None:
        self.limit = 0  # indexes below it live in the arrays: the frozen item count
        self._started = array("d")
        self._finished = array("d")
        self._duration = array("d")
        self._done = array("q")  # offset of the last ended attempt's record
        self._rare: dict[int, _Rare] = {}
        self._aside: dict[int, ItemTrack] = {}  # indexes at or above the limit

    def get(self, index: int) -> ItemTrack | None:
        aside = self._aside.get(index)
        if aside is not None:
            return aside
        if not 0 <= index < len(self._started):
            return None
        started, finished, duration, done = (self._started[index], self._finished[index],
                                             self._duration[index], self._done[index])
        rare = self._rare.get(index)
        if math.isnan(started) and math.isnan(finished) and done == _NO_OFFSET and rare is None:
            return None
        track = ItemTrack(started=_value(started), duration=_value(duration), finished=_value(finished),
                          done_offsets=[] if done == _NO_OFFSET else [done])
        if rare is not None:
            track.worker, track.error, track.stderr, track.log, track.cost = (rare.worker, rare.error, rare.stderr,
                                                                              rare.log, rare.cost)
            track.done_offsets[:0] = rare.earlier_done
        return track

    def start(self, index: int, at: float | None, worker: str | None) -> None:
        """An attempt started (at `at`, on `worker` when a cluster's)."""
        aside = self._aside_track(index)
        if aside is not None:
            aside.started, aside.worker = at, worker or aside.worker
            return
        self._started[index] = _NONE if at is None else at
        if worker:
            self._rare_of(index).worker = worker

    def end(self, index: int, offset: int, *, duration: float | None, at: float | None, log: str | None,
            worker: str | None, cost: float | None, failure: tuple[str | None, str | None] | None) -> None:
        """An attempt ended: its record's offset, duration, time, agent log, worker and cost (added to the
        item's), and for a failure its (error, stderr tail)."""
        aside = self._aside_track(index)
        if aside is not None:
            aside.done_offsets.append(offset)
            aside.duration, aside.finished = duration, at
            _note_end(aside, log, worker, cost, failure)
            return
        previous = self._done[index]
        if previous != _NO_OFFSET or log or worker or cost is not None or failure is not None:
            rare = self._rare_of(index)
            if previous != _NO_OFFSET:
                rare.earlier_done.append(previous)
            _note_end(rare, log, worker, cost, failure)
        self._done[index] = offset
        self._duration[index] = _NONE if duration is None else duration
        self._finished[index] = _NONE if at is None else at

    def _aside_track(self, index: int) -> ItemTrack | None:
        """The object of an index outside the arrays (made on first use); None for an index in them (which
        are grown to cover it)."""
        if index in self._aside or index < 0 or index >= self.limit:
            track = self._aside.get(index)
            if track is None:
                track = self._aside[index] = ItemTrack()
            return track
        if index >= len(self._started):
            grow = max(index + 1, min(self.limit, 2 * len(self._started) + 1024)) - len(self._started)
            for column in (self._started, self._finished, self._duration):
                column.extend(array("d", [_NONE]) * grow)
            self._done.extend(array("q", [_NO_OFFSET]) * grow)
        return None

    def _rare_of(self, index: int) -> _Rare:
        rare = self._rare.get(index)
        if rare is None:
            rare = self._rare[index] = _Rare()
        return rare


def _note_end(holder: ItemTrack | _Rare, log: str | None, worker: str | None, cost: float | None,
              failure: tuple[str | None, str | None] | None) -> None:
    """What an ended attempt changes of the fields few items have: its log and worker (when it names them), its
    cost (added), its (error, stderr tail) when it failed."""
    holder.log, holder.worker = log or holder.log, worker or holder.worker
    if cost is not None:
        holder.cost = round((holder.cost or 0.0) + cost, 6)
    if failure is not None:
        holder.error, holder.stderr = failure


def _value(number: float) -> float | None:
    return None if math.isnan(number) else number
