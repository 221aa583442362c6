"""Ids of the original's sessions and jobs in our commands: a converted original resolves to the session it
became; one not converted yet is an error that says how to convert it (resume converts it on the way)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError, NothingToResumeError, UsageError
from prodigy.legacy.find import find, find_exact
from prodigy.legacy.model import ConversionReport, Original
from prodigy.resume.resolve import Target
from prodigy.state import conversions, sessions


class NotConvertedError(UsageError):
    """An id of the original prodigy's that has not been converted into our records yet (exit 2)."""


@dataclass(frozen=True)
class Prepared:
    target: Target
    report: ConversionReport | None  # the conversion made now; None when it was converted before
    notes: tuple[str, ...] = ()


def not_converted(original: Original, text: str) -> NotConvertedError:
    return NotConvertedError(
        f"{text} is a {'session' if original.session or not original.job_ids else 'job'} of the original (Rust) "
        "prodigy, not converted into this prodigy's records yet.",
        hint=f"Resume it with: prodigy resume {text} (converts it first), or convert every original session with: "
             "prodigy migrate")


def _converted_session(marker: dict[str, Any], text: str):
    session_id = marker.get("session_id")
    original = marker.get("original_id", text)
    if not isinstance(session_id, str) or not sessions.exists(session_id):
        raise NotFoundError(
            f"{text} (of the original prodigy) was converted into {session_id} on {marker.get('converted_at', '?')}, "
            "which no longer exists.",
            hint=f"It was removed (prodigy sessions clean?). Convert it again from the original's untouched files "
                 f"with: prodigy migrate --redo {original}")
    return sessions.load(session_id)


def converted_target(text: str) -> Target | None:
    marker = conversions.lookup(text)
    if marker is None:
        return None
    record = _converted_session(marker, text)
    return Target(record, record.job_id, f"converted from the original prodigy's {marker.get('original_id', text)}")


def lookup(text: str) -> Target | None:
    """The hook of resume/resolve.py: None unless `text` is an id the original prodigy wrote."""
    target = converted_target(text)
    if target is not None:
        return target
    original = find_exact(text)
    if original is not None:
        raise not_converted(original, text)
    return None


def _refuse(report: ConversionReport) -> None:
    what = f"Session {report.original_id} (of the original prodigy)"
    if report.action == "nothing_to_resume":
        raise NothingToResumeError(f"{what} already completed, nothing to resume.",
                                   hint="Run the workflow again to start a new session: prodigy run <workflow>")
    if report.action == "cancelled":
        raise NothingToResumeError(f"{what} was cancelled and cannot be resumed.")


def prepare_resume(text: str, *, path: Path | None = None, workflow: str | None = None) -> Prepared | None:
    """For resume and resume-job: None when `text` is not the original's; else convert it (once) and return
    the Target to resume. A conversion whose originals changed since, and that has not run yet, is redone."""
    from prodigy.legacy.convert import convert, discard, originals_changed

    marker = conversions.lookup(text)
    original = None
    if marker is None:
        original = find(text)
        if original is None:
            return None
        marker = conversions.load(original.key)
    notes: list[str] = []
    if marker is not None:
        record = _converted_session(marker, text)
        changed = originals_changed(marker)
        if not changed:
            return Prepared(Target(record, record.job_id, "converted before"), None)
        if record.resumes or record.status != marker.get("status", record.status):
            return Prepared(Target(record, record.job_id, "converted before"), None, (
                f"the original's files changed since {marker['original_id']} was converted "
                f"({', '.join(changed[:3])}); {record.id} has run since, so it is kept as it is",))
        original = original or find_exact(marker["original_id"])
        if original is None:
            return Prepared(Target(record, record.job_id, "converted before"), None)
        discard(marker)
        notes.append(f"the original's files changed since the conversion ({', '.join(changed[:3])}): converted again")
    assert original is not None
    report = convert(original, path=path, workflow_override=workflow)
    _refuse(report)
    record = sessions.load(report.session_id or "")
    return Prepared(Target(record, record.job_id, f"converted from {original.key}"), report, tuple(notes))
