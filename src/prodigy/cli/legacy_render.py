"""How a conversion from the original (Rust) prodigy is shown: by `resume` before it runs, and by `migrate`."""

from __future__ import annotations

from typing import Any

from prodigy.cli.render import escape

_ACTIONS = {
    "converted": "Converted", "would_convert": "Would convert", "already_converted": "Already converted",
    "nothing_to_resume": "Not converted (completed: nothing to resume)",
    "cancelled": "Not converted (cancelled: nothing to resume)", "failed": "Could not convert",
}


def conversion_lines(report: Any) -> list[str]:
    """Plain text lines (markup-free) describing one conversion report."""
    head = f"{_ACTIONS.get(report.action, report.action)} {report.original_id} ({report.kind}, {report.original_status}"
    head += f" in the original prodigy; found by {report.named_by})" if report.named_by != "session id" else \
        " in the original prodigy)"
    if report.session_id and report.action in ("converted", "would_convert", "already_converted"):
        head += f" -> {report.session_id}"
        if report.job_id:
            head += f", job {report.job_id}"
    lines = [head]
    if report.files:
        lines.append("  read: " + ", ".join(report.files))
    lines += [f"  recovered: {line}" for line in report.recovered]
    lines += [f"  not recovered: {line}" for line in report.not_recovered]
    lines += [f"  warning: {line}" for line in report.warnings]
    if report.error:
        first, *rest = report.error.splitlines()
        lines.append(f"  error: {first}")
        lines += [f"    {line}" for line in rest]
    if report.action == "converted":
        lines.append(f"  The original's files were not changed; the conversion is recorded in {report.marker}")
    return lines


def render_conversion(reporter: Any, report: Any, notes: tuple[str, ...] = ()) -> None:
    for note in notes:
        reporter.print(f"Note: {escape(note)}")
    if report is None:
        return
    for line in conversion_lines(report):
        reporter.print(escape(line))
