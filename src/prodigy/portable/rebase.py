"""Pure rewriting of a session's records for a new checkout and home: old path prefixes become new ones.

A string value is rewritten when it *is* a path under one of the old prefixes (the old checkout, the old
PRODIGY_HOME); the longest prefix wins. Captured command output (`out`, `se`, `err`, `stderr_tail`, `error`)
is history and stays as it was. Process records (pid, process group, start time) name processes of the
machine the session ran on: on another machine they are dropped, so a resume there never signals a process
that merely has the same number."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from prodigy.state import records

TEXT_KEYS = frozenset({"out", "se", "err", "error", "stderr_tail", "stdout_tail", "text", "message"})
PROCESS_KEYS = ("pid", "pg", "st", "w")


@dataclass(frozen=True)
class Prefixes:
    pairs: tuple[tuple[str, str], ...]  # (old, new), longest old first

    @classmethod
    def of(cls, mapping: dict[str, str]) -> Prefixes:
        cleaned: dict[str, str] = {}
        for old, new in mapping.items():
            old, new = old.rstrip("/"), new.rstrip("/")
            if old and old != new and os.path.isabs(old):
                cleaned.setdefault(old, new or "/")
        return cls(tuple(sorted(cleaned.items(), key=lambda pair: len(pair[0]), reverse=True)))

    def path(self, value: str) -> str:
        for old, new in self.pairs:
            if value == old:
                return new
            if value.startswith(old + "/"):
                return new + value[len(old):]
        return value

    def value(self, data: Any, key: str | None = None) -> Any:
        """data with every path under an old prefix rebased (recursively); text fields are left alone."""
        if isinstance(data, str):
            return data if key in TEXT_KEYS else self.path(data)
        if isinstance(data, dict):
            return {k: self.value(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self.value(v, key) for v in data]
        return data


def rebase_journal(data: bytes, prefixes: Prefixes, *, drop_processes: bool) -> bytes:
    """A job journal for the new place. Lines that are not JSON objects are kept byte for byte (the reader
    skips them with a warning, as before); `proc` records are dropped with the processes they name."""
    out: list[bytes] = []
    for line in data.splitlines(keepends=True):
        record = _record(line) if line.endswith(b"\n") else None
        if record is None:
            out.append(line)
            continue
        changed = False
        if drop_processes and record.get("t") in ("start", "proc"):
            if record.get("t") == "proc":
                continue
            record, changed = {k: v for k, v in record.items() if k not in PROCESS_KEYS}, True
        rebased = prefixes.value(record)
        out.append(_line(rebased) if changed or rebased != record else line)
    return b"".join(out)


def rebase_lines(data: bytes, prefixes: Prefixes) -> bytes:
    """A JSON-lines log (events) with its paths rebased; other lines kept as they are."""
    out: list[bytes] = []
    for line in data.splitlines(keepends=True):
        record = _record(line) if line.endswith(b"\n") else None
        rebased = prefixes.value(record) if record is not None else None
        out.append(line if rebased is None or rebased == record else _line(rebased))
    return b"".join(out)


def rebase_checkpoint(data: dict[str, Any], prefixes: Prefixes, *, drop_processes: bool) -> dict[str, Any]:
    """A standard checkpoint: paths rebased; the in-flight step keeps its index but not its process."""
    result = prefixes.value(data)
    flight = result.get("in_flight")
    if drop_processes and isinstance(flight, dict):
        result["in_flight"] = {k: v for k, v in flight.items() if k not in ("pid", "pgid", "start_time")}
    return result


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return records.as_record(value)  # a journal's compact start row is its start record


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
