"""`sessions list` from the session index (state/session_index.py): newest first, a page at a time, reading
only the records of the rows shown. With 100,000 sessions the default page costs a read of the index (a few
MB) and of 20 records, cold or warm, instead of every record (13 s warm, 217 s cold before).

Our records, the original (Rust) prodigy's sessions not converted yet and its checkpoint-only sessions are
all in the index, ordered by creation time (unknown times last). A status filter uses the status the index
keeps, except that a "running" session whose lock is free is interrupted (views/sessions.py::true_status),
so for `running` and `interrupted` the candidates' locks are checked. Rows are built as before (the record's
status and progress, a running MapReduce job's progress from its journal)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError, ProdigyError, StateError
from prodigy.state import locks, session_index, sessions
from prodigy.state.session_index import CHECKPOINT_ONLY, ORIGINAL, Entry

DEFAULT_LIMIT = 20


@dataclass
class Listing:
    """The entries to show (newest first) and how many match; rows are read as they are iterated."""

    entries: list[Entry]
    total: int
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[Any]:
        from prodigy.legacy.listing import checkpoint_only_row, original_row
        from prodigy.views.sessions import _original_row, _row

        now = time.time()
        for entry in self.entries:
            if entry.origin == ORIGINAL:
                original = original_row(entry.id, self.warnings)
                if original is not None:
                    yield _original_row(original, now)
                continue
            if entry.origin == CHECKPOINT_ONLY:
                original = checkpoint_only_row(entry.id)
                if original is not None:
                    yield _original_row(original, now)
                continue
            try:
                record = sessions.load(entry.id)
            except NotFoundError:
                continue  # removed since the index was read
            except ProdigyError as exc:  # a damaged record (StateError), or a damaged index line's id
                self.warnings.append(str(exc).splitlines()[0])
                continue
            yield _row(record, now)


def select(status: tuple[str, ...] = (), *, limit: int | None = DEFAULT_LIMIT, page: int = 1) -> Listing:
    """The sessions of one page (`limit` None: all of them), newest first, matching `status`."""
    index = session_index.current(_describe, extra=_checkpoint_only)
    order = [sid for _key, sid in index.newest_first()]
    if status:
        order = [sid for sid in order if _matches(index.entry(sid), status)]
    total = len(order)
    if limit is not None:
        order = order[(page - 1) * limit: page * limit]
    return Listing(entries=[index.entry(sid) for sid in order], total=total)


def _matches(entry: Entry, wanted: tuple[str, ...]) -> bool:
    if entry.status != "running" or entry.origin:
        return entry.status in wanted
    if "running" not in wanted and "interrupted" not in wanted:
        return False
    return ("running" if locks.is_locked(entry.id) else "interrupted") in wanted


def _describe(path: Path) -> Entry | None:
    """A file of the sessions folder as an index entry: ours, an original session, or None."""
    session_id = path.stem
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return None
    if b'"schema_version"' in head:  # ours (write_json puts it first)
        try:
            return session_index.entry_of(sessions.load(session_id))
        except NotFoundError:
            return None
        except StateError:
            return Entry(-1, session_id, "damaged")  # listed with its warning when its page is shown
        except ProdigyError:
            return None  # not a name prodigy gives a session
    from prodigy.legacy.listing import original_row

    original = original_row(session_id, [])
    if original is None:
        return None
    return Entry(session_index.created_ms(original.created_at), session_id, original.status, ORIGINAL)


def _checkpoint_only() -> list[Entry]:
    from prodigy.legacy.discover import checkpoint_only_session_ids

    return [Entry(-1, sid, "interrupted", CHECKPOINT_ONLY) for sid in checkpoint_only_session_ids()]
