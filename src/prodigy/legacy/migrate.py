"""`prodigy migrate`: convert every original session (and job without a session) at once, with a report.

Already converted originals are left alone (--redo converts them again, if their converted session has not
run since); completed and cancelled ones are listed and not converted: there is nothing to resume."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.errors import NotFoundError, ProdigyError
from prodigy.legacy.convert import convert, discard
from prodigy.legacy.discover import (
    checkpoint_only_session_ids,
    jobs_of_session,
    original_job_ids,
    original_session_ids,
    session_of_job,
    session_path,
)
from prodigy.legacy.find import find
from prodigy.legacy.model import ConversionReport, Original
from prodigy.legacy.shapes import STATUS_MAP, read_session
from prodigy.state import conversions, sessions


@dataclass(frozen=True)
class MigrationResult:
    dry_run: bool
    redo: bool
    reports: tuple[ConversionReport, ...]

    def count(self, *actions: str) -> int:
        return sum(1 for r in self.reports if r.action in actions)

    @property
    def exit_code(self) -> int:
        """0 unless an original could not be converted; then the highest exit code among those failures."""
        return max((r.exit_code or 0 for r in self.reports if r.action == "failed"), default=0)


def all_originals() -> tuple[list[Original], list[ConversionReport]]:
    found: list[Original] = []
    unreadable: list[ConversionReport] = []
    for session_id in original_session_ids() + checkpoint_only_session_ids():
        path = session_path(session_id)
        try:
            found.append(Original(key=session_id, session=read_session(path) if path else None))
        except ProdigyError as exc:
            unreadable.append(_failed(session_id, exc))
    for job_id in original_job_ids():
        owner, _how = session_of_job(job_id)
        if owner is None:
            found.append(Original(key=job_id, session=None, job_ids=(job_id,), named_by="job id (no session record)"))
    return found, unreadable


def _failed(original_id: str, exc: ProdigyError, original: Original | None = None) -> ConversionReport:
    session = original.session if original else None
    kind = "mapreduce" if original and (original.job_ids or (session and (session.job_id or jobs_of_session(
        session)))) else "workflow" if session else "?"
    return ConversionReport(original_id=original_id, kind=kind, original_status=session.status if session else "?",
                            status=STATUS_MAP.get(session.status, "?") if session else "?", action="failed",
                            named_by=original.named_by if original else "session id",
                            error=exc.message + (f"\n{exc.hint}" if exc.hint else ""), exit_code=int(exc.exit_code))


def _already(original: Original, marker: dict) -> ConversionReport:
    return ConversionReport(original_id=original.key, kind=marker.get("kind", "?"),
                            original_status=marker.get("original_status", "?"), status=marker.get("status", "?"),
                            action="already_converted", session_id=marker.get("session_id"),
                            job_id=marker.get("job_id"), marker=str(paths.conversion_file(original.key)))


def _one(original: Original, *, dry_run: bool, redo: bool, path: Path | None, workflow: str | None) -> ConversionReport:
    marker = conversions.load(original.key)
    if marker is not None and not redo:
        return _already(original, marker)
    if marker is not None:
        session_id = marker.get("session_id")
        if isinstance(session_id, str) and sessions.exists(session_id):
            record = sessions.load(session_id)
            if record.resumes or record.status != marker.get("status", record.status):
                return ConversionReport(
                    original_id=original.key, kind=record.kind, original_status=marker.get("original_status", "?"),
                    status=record.status, action="failed", session_id=session_id, exit_code=2,
                    error=f"{session_id} has run since the conversion (status {record.status}, {record.resumes} "
                          "resume(s)); converting again would run its completed work again. Remove it first "
                          f"(prodigy sessions clean --status {record.status} --older-than 0) if that is what you want.")
        if not dry_run:
            discard(marker)
    try:
        return convert(original, path=path, workflow_override=workflow, dry_run=dry_run)
    except ProdigyError as exc:
        return _failed(original.key, exc, original)


def migrate(ids: list[str], *, dry_run: bool, redo: bool, path: Path | None = None,
            workflow: str | None = None) -> MigrationResult:
    reports: list[ConversionReport] = []
    if ids:
        originals = []
        for text in ids:
            original = find(text)
            if original is None:
                marker = conversions.lookup(text)
                if marker is None:
                    raise NotFoundError(f"No session or job of the original prodigy matches {text!r}.",
                                        hint="List them with: prodigy sessions list (they are marked 'original')")
                original = Original(key=marker["original_id"], session=None)
            originals.append(original)
    else:
        originals, reports = all_originals()
    seen: set[str] = set()
    for original in originals:
        if original.key in seen:
            continue
        seen.add(original.key)
        reports.append(_one(original, dry_run=dry_run, redo=redo, path=path, workflow=workflow))
    return MigrationResult(dry_run=dry_run, redo=redo, reports=tuple(reports))
