"""The original's MapReduce event logs: events/{repo}/{job_id}/events-{ts}.jsonl, rotated at 100 MB to
events-{ts}.{ts2}.jsonl.gz. The original's rotation only renames (its gzip step was never written), so a
`.gz` file may hold plain text: the format is told by the first two bytes, not the name.

A crashed run can leave a torn last line (its logger buffered up to 1,000 events): unreadable lines are
skipped and counted, never fatal."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from prodigy.legacy.shapes import epoch

# The event types a recovery needs; everything else (claude_*, queue_depth_changed ...) is skipped unparsed.
WANTED = ("job_started", "job_completed", "job_failed", "agent_started", "agent_completed", "agent_failed",
          "worktree_merged", "dlq_item_added")
_NEEDLES = tuple(f'"{name}"'.encode() for name in WANTED)


@dataclass(frozen=True)
class Event:
    time: float
    order: int  # position in the files as read (ties in time keep file order)
    type: str
    fields: dict[str, Any]
    file: str


@dataclass
class EventRead:
    events: list[Event] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lines: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # file -> unreadable lines
    warnings: list[str] = field(default_factory=list)


def event_files(folder: Path) -> list[Path]:
    """A job's event files, oldest first (a rotated file sorts before the file it was rotated from)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith("events")
                  and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz")))


def _open(path: Path) -> IO[bytes]:
    handle = open(path, "rb")
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    return handle


def _lines(path: Path, read: EventRead) -> Iterator[bytes]:
    try:
        with _open(path) as handle:
            yield from handle
    except (EOFError, OSError, zlib.error) as exc:  # a gzip file cut short: keep what was read before the cut
        read.warnings.append(f"{path}: could not read to the end ({exc}); later events in it are lost")


def read_events(paths: list[Path]) -> EventRead:
    read = EventRead()
    order = 0
    for path in paths:
        read.files.append(str(path))
        for line in _lines(path, read):
            read.lines += 1
            if not any(needle in line for needle in _NEEDLES):
                continue
            try:
                record = json.loads(line)
                event = record["event"]
                kind = event["event_type"]
            except (ValueError, KeyError, TypeError):
                read.skipped[str(path)] = read.skipped.get(str(path), 0) + 1
                continue
            if kind not in WANTED or not isinstance(event, dict):
                continue
            stamp = epoch(record.get("timestamp")) if isinstance(record.get("timestamp"), str) else None
            read.events.append(Event(time=stamp if stamp is not None else float("-inf"), order=order, type=kind,
                                     fields=event, file=path.name))
            order += 1
    for name, count in read.skipped.items():
        read.warnings.append(f"{name}: {count} unreadable line(s) skipped (a crash can tear the last line)")
    read.events.sort(key=lambda e: (e.time, e.order))
    return read
