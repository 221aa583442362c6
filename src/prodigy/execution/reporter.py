"""Core code never prints: it tells a reporter what happened, and the CLI decides how to show it."""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


class RecordingReporter:
    """Keeps every event; used by tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))
