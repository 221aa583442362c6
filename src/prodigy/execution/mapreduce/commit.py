"""What the map coordinator waits on, and the fsync it no longer waits for.

`Events` is the one queue the coordinator sleeps on: a future that completes puts itself there (its done
callback), and the committer puts what it made durable. So a completion costs one wake-up, however many items
are running (waiting on every future again after each completion cost O(running) futex calls).

`Committer` is a thread that fsyncs the journal for the coordinator (group commit). The coordinator appends
an attempt's `done` record, hands over what to do once it is durable (report it: progress, the summary), and
goes on dispatching and collecting while the disk works; the committer fsyncs everything appended so far in
one call and sends the batch back, and the coordinator reports it. Invariant 1 holds as before: nothing is
reported complete before its record is on disk. The fsync was 40% of the coordinator's time at 2 in parallel.
The committer syncs at most once per COMMIT_INTERVAL, so a burst of completions shares one fsync.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

Notice = Callable[[], None]
DURABLE = "durable"  # ("durable", [notices]): their records are on disk
# At most one fsync per this many seconds: the completions of the next few ms share it. At 2 in parallel nearly
# every completion had an fsync (and two thread wake-ups) of its own; 5 ms saves ~10% of the run's wall time
# there, and reporting an item 5 ms later changes nothing a user sees (nothing waits on it to dispatch).
COMMIT_INTERVAL = 0.005
FAILED = "failed"  # ("failed", exception): the fsync failed; nothing after it is durable


class Events:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def put(self, event: Any) -> None:
        self._queue.put(event)

    def get(self, timeout: float | None) -> list[Any]:
        """Every event there is, waiting up to `timeout` for the first (an empty list when none came)."""
        try:
            found = [self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else
                     self._queue.get_nowait()]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self._queue.get_nowait())
            except queue.Empty:
                return found


class Committer:
    """Fsyncs the journal in its own thread, in batches, and posts each batch to `events` once durable."""

    def __init__(self, sync: Callable[[], None], events: Events) -> None:
        self._sync = sync
        self._events = events
        self._pending: list[Notice] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prodigy-commit", daemon=True)
        self._thread.start()

    def add(self, notices: list[Notice]) -> None:
        """Notices of records already appended: post them back once an fsync after now has completed."""
        with self._lock:
            self._pending += notices
        self._wake.set()

    def _run(self) -> None:
        last = 0.0
        while True:
            self._wake.wait()
            wait = last + COMMIT_INTERVAL - time.monotonic()
            if wait > 0 and not self._closing:
                self._closed.wait(wait)  # gather the completions of the next few ms into the same fsync
            self._wake.clear()
            last = time.monotonic()
            with self._lock:
                batch, self._pending = self._pending, []
                closing = self._closing
            if batch:
                try:
                    self._sync()  # covers every record appended before the batch was taken
                except BaseException as exc:  # noqa: BLE001 - StateWriteError: the coordinator raises it
                    self._events.put((FAILED, exc))
                    return
                self._events.put((DURABLE, batch))
            if closing:
                return

    def close(self) -> list[Notice]:
        """Stop the thread; the notices it had not made durable yet (the caller syncs and reports them)."""
        with self._lock:
            self._closing = True
        self._closed.set()
        self._wake.set()
        self._thread.join()
        with self._lock:
            left, self._pending = self._pending, []
        return left
