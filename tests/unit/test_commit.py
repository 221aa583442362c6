"""The committer (mapreduce/commit.py): completions are reported only after an fsync that followed their append,
a burst shares one fsync, and close hands back what was not yet made durable."""

from __future__ import annotations

import threading
import time

from prodigy.execution.mapreduce.commit import DURABLE, FAILED, Committer, Events


class Disk:
    def __init__(self, fail: bool = False) -> None:
        self.syncs = 0
        self.appended = 0
        self.durable = 0  # records covered by the last sync
        self.fail = fail
        self.lock = threading.Lock()

    def sync(self) -> None:
        if self.fail:
            raise OSError("disk full")
        with self.lock:
            self.syncs += 1
            self.durable = self.appended


def wait_for(events: Events, count: int, within: float = 5.0) -> list[object]:
    found: list[object] = []
    deadline = time.monotonic() + within
    while sum(len(e[1]) for e in found if isinstance(e, tuple) and e[0] == DURABLE) < count:
        assert time.monotonic() < deadline, f"only {found} of {count} reported"
        found += events.get(0.1)
    return found


def test_each_notice_is_posted_after_a_sync_that_covers_its_record() -> None:
    disk, events = Disk(), Events()
    committer = Committer(disk.sync, events)
    seen: list[tuple[int, int]] = []  # (record number, records durable when reported)
    for n in range(1, 41):
        disk.appended = n
        committer.add([lambda n=n: seen.append((n, disk.durable))])
        time.sleep(0.0005)
    for event in wait_for(events, 40):
        for notice in event[1]:  # type: ignore[index]
            notice()
    assert committer.close() == []
    assert sorted(n for n, _ in seen) == list(range(1, 41))
    assert all(durable >= n for n, durable in seen)
    assert disk.syncs < 40  # a burst shares an fsync (one at most every COMMIT_INTERVAL)


def test_close_returns_what_was_not_made_durable_and_a_failed_sync_is_posted() -> None:
    disk, events = Disk(fail=True), Events()
    committer = Committer(disk.sync, events)
    committer.add([lambda: None])
    deadline = time.monotonic() + 5
    found: list[object] = []
    while not found:
        assert time.monotonic() < deadline
        found = events.get(0.1)
    assert found[0][0] == FAILED and isinstance(found[0][1], OSError)  # type: ignore[index]
    committer.close()
