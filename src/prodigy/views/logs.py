"""`prodigy logs`: the agent logs prodigy kept, found per session. A session's logs are the files in its folder
under logs/claude/ and every log path its journal (`done` records) or checkpoint names; each is labelled
with the step or item it belongs to."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.errors import NotFoundError, StateError
from prodigy.resume.resolve import Target
from prodigy.state import checkpoints, sessions
from prodigy.state.jobs import JobStore, find_job_folder
from prodigy.state.journal import read_journal
from prodigy.views.common import iso_from_epoch

_NAME = re.compile(r"^(?P<label>.+?)-\d{8}_\d{6}-[0-9a-f]+$")
TAIL_BYTES = 65536


@dataclass(frozen=True)
class LogFile:
    path: str
    session_id: str
    label: str  # step2, setup1, item_3, reduce1, merge ...
    attempt: int | None
    modified: str | None
    size: int
    status: str | None  # success | error | error_max_turns ... from the final result event; None: none yet

    @property
    def exists(self) -> bool:
        return Path(self.path).is_file()


def _status(path: Path) -> str | None:
    """The final result's status, read from the end of the file only (logs can be large)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if '"result"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "result":
            return "error" if event.get("is_error") else str(event.get("subtype") or "success")
    return None


def _entry(path: Path, session_id: str, label: str | None = None, attempt: int | None = None) -> LogFile:
    match = _NAME.match(path.stem)
    try:
        stat = path.stat()
        modified, size = iso_from_epoch(stat.st_mtime), stat.st_size
    except OSError:
        modified, size = None, 0
    return LogFile(path=str(path), session_id=session_id, label=label or (match.group("label") if match else path.stem),
                   attempt=attempt, modified=modified, size=size, status=_status(path))


def _recorded(session: sessions.SessionRecord) -> dict[str, tuple[str, int | None]]:
    """Log paths named by the job journal or the standard checkpoint: path -> (label, attempt)."""
    found: dict[str, tuple[str, int | None]] = {}
    if session.kind == "mapreduce" and session.job_id:
        try:
            folder = find_job_folder(session.job_id, session.repo)
        except NotFoundError:
            folder = None
        for record in read_journal(JobStore(folder).journal_path).records if folder else []:
            if record.get("t") == "done" and record.get("log") and "i" in record:
                found[str(record["log"])] = (f"item_{record['i']}", int(record.get("a", 1)))
    else:
        try:
            checkpoint = checkpoints.load(session.id)
        except StateError:
            checkpoint = None
        if checkpoint is not None:
            for index, done in checkpoint.completed.items():
                for key in ("log", "log_path"):
                    if isinstance(done, dict) and done.get(key):
                        found[str(done[key])] = (f"step{int(index) + 1}", done.get("attempts"))
            failure = checkpoint.failure or {}
            if failure.get("log_path"):
                found[str(failure["log_path"])] = (f"step{int(failure.get('index', 0)) + 1}", None)
    return found


def session_logs(target: Target) -> list[LogFile]:
    """Every agent log of the session, oldest first."""
    session = target.session
    recorded = _recorded(session)
    folder = paths.claude_logs_dir() / session.id
    files = {str(p): p for p in folder.glob("*.jsonl")} if folder.is_dir() else {}
    for path in recorded:
        files.setdefault(path, Path(path))
    logs = [_entry(p, session.id, *recorded.get(key, (None, None))) for key, p in files.items() if p.is_file()]
    return sorted(logs, key=lambda log: (log.modified or "", log.path))


def recent_logs(limit: int = 20) -> list[LogFile]:
    """The newest agent logs of every session, newest first."""
    root = paths.claude_logs_dir()
    found = sorted(root.glob("session-*/*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if root.is_dir() else []
    return [_entry(p, p.parent.name) for p in found[:limit]]


def pick(logs: list[LogFile], selector: str) -> list[LogFile]:
    """Logs of one step or item: `3`, `step3`, `item_3`, `setup1` ..."""
    wanted = selector.strip()
    chosen = [log for log in logs if log.label == wanted or log.label == f"item_{wanted}" or
              (wanted.isdigit() and log.label == f"step{wanted}")]
    if not chosen:
        labels = ", ".join(sorted({log.label for log in logs})) or "none"
        raise NotFoundError(f"No agent log for {selector!r} in this session.", hint=f"Logs exist for: {labels}")
    return chosen


def follow(path: Path, active: Callable[[], bool], *, poll: float = 0.2, idle: float = 2.0,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    """Lines of a log as they are written (like tail -f), until its result event is written, or the session is no
    longer executing and the file has not grown for `idle` seconds."""
    offset, partial = 0, ""
    quiet_since = time.monotonic()
    while True:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset = handle.tell()
        except FileNotFoundError:
            chunk = ""
        if chunk:
            quiet_since = time.monotonic()
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            for line in lines:
                yield line
                if _is_result(line):
                    return
        elif not active() and time.monotonic() - quiet_since >= idle:
            if partial:
                yield partial
            return
        sleep(poll)


def _is_result(line: str) -> bool:
    if '"result"' not in line:
        return False
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("type") == "result"


def session_active(session_id: str) -> bool:
    from prodigy.views.events import ACTIVE, job_activity

    return job_activity(session_id) == ACTIVE


def size_text(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


