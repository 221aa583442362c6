"""SIGINT/SIGTERM become a stop request (invariant 9): stop dispatching, end running commands, record, exit 130."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopRequest:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install handlers for the duration of an execution; restore the previous ones afterwards."""
    request = StopRequest()

    def handle(signum: int, _frame: object) -> None:
        request.signal_name = signal.Signals(signum).name
        request.event.set()

    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be installed from the main thread
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
