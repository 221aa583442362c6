"""When a job's snapshot and journal disagree: find out, and say which records bring them back together.

The snapshot (checkpoint.json) is the journal folded up to a byte offset. If the journal was cut after the
snapshot was written (a disk problem, a restore from an older copy, a hand edit), that offset points past the
journal's end or into the middle of a different record, and folding "the journal after the offset" would skip
records appended since. So on any mismatch the state is rebuilt from the whole journal; the work the snapshot
knows was completed but the journal no longer records is appended to the journal again (first, before
anything runs), and a fresh snapshot is written. Where the journal has a terminal record, the journal wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodigy.state.job_state import DLQ, PURGED, SKIPPED, SUCCEEDED, TERMINAL, JobState
from prodigy.state.journal import tail_mark

RESTORED = "restored from the checkpoint: the journal had lost this record"


def offset_mismatch(journal: Path, offset: int, size: int, tail: str | None) -> str | None:
    """Why the snapshot's offset does not fit the journal, or None when it does."""
    if offset > size:
        return f"the journal is shorter than its checkpoint records ({size} < {offset} bytes)"
    if offset == 0:
        return None
    try:
        with open(journal, "rb") as handle:
            handle.seek(offset - 1)
            boundary = handle.read(1) == b"\n"
    except OSError:
        boundary = False
    if not boundary:
        return f"the checkpoint's offset {offset} is not a record boundary of the journal"
    if tail is not None and tail_mark(journal, offset) != tail:
        return f"the journal's bytes before offset {offset} are not the ones the checkpoint folded"
    return None


def missing_records(snapshot: JobState, journal: JobState) -> list[dict[str, Any]]:
    """Records that re-create, on top of the journal's fold, the completed work only the snapshot knows."""
    records: list[dict[str, Any]] = []
    for index, variables in sorted(snapshot.setup_steps.items()):
        if index not in journal.setup_steps:
            records.append({"t": "setup_step", "index": index, "vars": variables, "restored": RESTORED})
    if snapshot.setup_complete and not journal.setup_complete:
        records.append({"t": "setup_done", "captures": snapshot.captures, "restored": RESTORED})
    if snapshot.item_count is not None and journal.item_count is None:
        records.append({"t": "items_frozen", "count": snapshot.item_count, "restored": RESTORED})
    purged: list[int] = []
    for index, item in sorted(snapshot.items.items()):
        if item.status not in TERMINAL:
            continue
        known = journal.items.get(index)
        if known is not None and known.status in TERMINAL:
            continue  # the journal wins where it has a record
        done: dict[str, Any] = {"t": "done", "i": index, "a": max(item.attempts, 1), "restored": RESTORED}
        if item.status != SUCCEEDED:
            done.update(s="failed", err=RESTORED, final="skip" if item.status == SKIPPED else "dlq")
        records.append(done)
        if item.status == PURGED:
            purged.append(index)
        assert item.status in (SUCCEEDED, DLQ, SKIPPED, PURGED)
    if purged:
        records.append({"t": "dlq_purge", "items": purged, "restored": RESTORED})
    if snapshot.map_complete and not journal.map_complete:
        records.append({"t": "map_done", "restored": RESTORED})
    for index, variables in sorted(snapshot.reduce_steps.items()):
        if index not in journal.reduce_steps:
            records.append({"t": "reduce_step", "index": index, "vars": variables, "restored": RESTORED})
    if snapshot.reduce_complete and not journal.reduce_complete:
        records.append({"t": "reduce_done", "restored": RESTORED})
    return records
