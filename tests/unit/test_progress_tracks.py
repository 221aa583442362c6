"""The live views' per-item tracks (views/progress_tracks.py): compact arrays that answer exactly what an
object per item answered, and a first read of a journal in bounded slices that folds to the same view."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from progress_job import JOB, T0, Clock, add, make_job

from prodigy.state.journal import read_journal
from prodigy.views import progress
from prodigy.views.common import find_job
from prodigy.views.events import ENDED
from prodigy.views.progress import JobWatch
from prodigy.views.progress_items import item_detail, item_page
from prodigy.views.progress_tracks import ItemTrack, Tracks


def _reference_start(tracks: dict[int, ItemTrack], index: int, at: float | None, worker: str | None) -> None:
    """What the view did with an object per item (before the arrays)."""
    track = tracks.setdefault(index, ItemTrack())
    track.started, track.worker = at, worker or track.worker


def _reference_end(tracks: dict[int, ItemTrack], index: int, offset: int, **kw: object) -> None:
    track = tracks.setdefault(index, ItemTrack())
    track.done_offsets.append(offset)
    track.duration, track.finished = kw["duration"], kw["at"]  # type: ignore[assignment]
    track.log = kw["log"] or track.log  # type: ignore[assignment]
    track.worker = kw["worker"] or track.worker  # type: ignore[assignment]
    if kw["cost"] is not None:
        track.cost = round((track.cost or 0.0) + kw["cost"], 6)  # type: ignore[operator]
    if kw["failure"] is not None:
        track.error, track.stderr = kw["failure"]  # type: ignore[misc]


@pytest.mark.parametrize("seed", range(20))
def test_tracks_answer_what_an_object_per_item_answered(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([0, 5, 50])
    tracks, reference = Tracks(), {}
    tracks.limit = limit
    offset = 0
    for _ in range(300):
        index = rng.choice([rng.randrange(60), rng.randrange(60), 10**9, -1])  # damaged indexes too
        offset += rng.randrange(1, 500)
        if rng.random() < 0.45:
            at = rng.choice([None, T0 + rng.random() * 100])
            worker = rng.choice([None, None, "tcp://10.0.0.1:1"])
            tracks.start(index, at, worker)
            _reference_start(reference, index, at, worker)
        else:
            kw = {"duration": rng.choice([None, round(rng.random() * 9, 3)]), "at": T0 + rng.random() * 100,
                  "log": rng.choice([None, None, f"/logs/{index}.json"]), "worker": rng.choice([None, "w2"]),
                  "cost": rng.choice([None, None, 0.125]),
                  "failure": rng.choice([None, None, ("exit 1", "boom"), (None, None)])}
            tracks.end(index, offset, **kw)  # type: ignore[arg-type]
            _reference_end(reference, index, offset, **kw)
            assert tracks.get(index) == reference[index]
    for index in [*range(-2, 62), 10**9]:
        assert _shown(tracks.get(index)) == _shown(reference.get(index)), index


def _shown(track: ItemTrack | None) -> ItemTrack | None:
    """An empty track (a start with no time) shows what no track shows."""
    return None if track is None or track == ItemTrack() else track


def test_an_index_beyond_the_item_count_does_not_grow_the_arrays() -> None:
    tracks = Tracks()
    tracks.limit = 4
    tracks.start(2**40, T0, None)
    tracks.end(3, 10, duration=1.0, at=T0, log=None, worker=None, cost=None, failure=None)
    assert len(tracks._started) == 4  # noqa: SLF001 - the point of the test
    assert tracks.get(2**40) == ItemTrack(started=T0)
    assert tracks.get(1) is None and tracks.get(3) == ItemTrack(duration=1.0, finished=T0, done_offsets=[10])


def test_read_journal_stops_at_the_first_boundary_past_its_limit(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    lines = [b'{"t":"done","i":%d,"d":1.0,"ts":1.0}\n' % i for i in range(10)]
    journal.write_bytes(b"".join(lines))
    first = read_journal(journal, 0, limit=len(lines[0]) + 1)
    assert [r["i"] for r in first.records] == [0, 1] and first.end_offset == len(lines[0]) + len(lines[1])
    rest = read_journal(journal, first.end_offset)
    assert [r["i"] for r in rest.records] == list(range(2, 10))


def _busy_job_watch(monkeypatch: pytest.MonkeyPatch, slice_bytes: int) -> JobWatch:
    monkeypatch.setattr(progress, "READ_SLICE", slice_bytes)
    watch = JobWatch(find_job(JOB), clock=Clock(T0 + 100), activity=lambda _sid: ENDED)
    watch.refresh(outcomes=False)
    return watch


def test_a_first_read_in_small_slices_folds_to_the_same_view(prodigy_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    job = make_job()
    add(job, T0, t="run", cid="c1")
    for attempt, t in ((1, 1), (2, 3)):
        for i in range(4):
            add(job, T0 + t, t="start", i=i, pid=10 + i, st=T0 + t, **({"a": attempt} if attempt > 1 else {}))
    add(job, T0 + 2, t="done", i=1, d=1.0, x=3, s="failed", err="exit 3", se="oops\n", final=None)
    for i in range(4):
        extra = {"a": 2} if i == 1 else {}
        add(job, T0 + 4 + i, t="done", i=i, d=0.5 + i, log=f"/l/{i}.json" if i == 2 else None, **extra)
    whole = _busy_job_watch(monkeypatch, 1 << 30)
    sliced = _busy_job_watch(monkeypatch, 1)  # one record a slice
    now = T0 + 100
    assert sliced.offset == whole.offset == job.journal_path.stat().st_size
    assert sliced.snapshot(now) == whole.snapshot(now)
    assert sliced.timeline() == whole.timeline()
    assert item_page(sliced, now=now) == item_page(whole, now=now)
    assert item_detail(sliced, "item_1", now) == item_detail(whole, "item_1", now)
    detail = item_detail(sliced, "item_1", now)
    assert [a.status for a in detail.attempts] == ["failed", "succeeded"]
    assert detail.attempts[0].error == "exit 3"


def test_refresh_without_outcomes_keeps_none_but_folds_the_same(prodigy_home: Path) -> None:
    job = make_job()
    add(job, T0, t="run", cid="c1")
    add(job, T0 + 1, t="start", i=0, pid=1, st=T0)
    add(job, T0 + 2, t="done", i=0, d=1.0)
    counting = JobWatch(find_job(JOB), clock=Clock(T0 + 3), activity=lambda _sid: ENDED)
    quiet = JobWatch(find_job(JOB), clock=Clock(T0 + 3), activity=lambda _sid: ENDED)
    assert [o.index for o in counting.refresh()] == [0]
    assert quiet.refresh(outcomes=False) == []
    assert quiet.snapshot(T0 + 3) == counting.snapshot(T0 + 3)
