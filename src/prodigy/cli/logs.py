"""`prodigy logs`: the agent logs prodigy kept, readable."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option

EPILOG = """\b
Examples:
  prodigy logs                                 the newest agent logs of every session
  prodigy logs session-93c8                    a session's logs (shown, when there is one)
  prodigy logs mapreduce-20261127 --item 3     the log(s) of map item_3
  prodigy logs session-93c8 --step 2 --summary
  prodigy logs --latest --tail                 follow the newest log as the agent writes it
  prodigy logs session-93c8 --latest --raw     the stream-json lines as stored
\b
Shows the agent's text, its tool calls (→) and their results (←), API retries and the
final result, then a summary: turns, duration, cost, tokens, tools used. Long tool
results are shortened (--full shows them whole). Logs are kept under
PRODIGY_HOME/logs/claude/<session>/ with secrets masked.
"""

_PREFIX = {"text": "agent: ", "user": "user: ", "tool": "→ ", "tool_result": "  ← ", "tool_error": "  ✖ ",
           "retry": "! ", "error": "✖ ", "init": "[init] ", "result": "", "raw": "? "}


@click.command(epilog=EPILOG)
@click.argument("session_id", required=False, metavar="[ID]", shell_complete=complete.session_or_job_ids)
@click.option("--latest", is_flag=True, help="The newest log (of the session, or of all sessions).")
@click.option("--item", "--step", "selector", metavar="N", help="The log(s) of one map item (3, item_3) or step (2, setup1).")
@click.option("--tail", is_flag=True, help="Follow the log as it is written, until the agent's result.")
@click.option("--summary", is_flag=True, help="Only the summary: result, turns, duration, cost, tokens, tools.")
@click.option("--raw", is_flag=True, help="The stream-json lines as stored, not made readable.")
@click.option("--full", is_flag=True, help="Do not shorten long tool results.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, metavar="N",
              help="Logs listed without an ID.")
@json_option
def logs(session_id: str | None, latest: bool, selector: str | None, tail: bool, summary: bool, raw: bool,
         full: bool, limit: int, json_output: bool) -> int:
    """Show the agent (claude) logs of a session, or list the newest ones."""
    from prodigy.cli.render import emit_json
    from prodigy.errors import UsageError
    from prodigy.resume.resolve import resolve
    from prodigy.views import logs as views

    if selector and not session_id:
        raise UsageError("--item/--step needs a session or job id.", hint="Example: prodigy logs mapreduce-2026 --item 3")
    found = views.session_logs(resolve(session_id)) if session_id else views.recent_logs(limit if not latest else 1)
    chosen = views.pick(found, selector) if selector else found[-1:] if latest and session_id else \
        found[:1] if latest else found if session_id and len(found) == 1 else []
    if not chosen:
        if json_output:
            emit_json({"logs": [dataclasses.asdict(log) for log in found]})
            return 0
        _list(found, session_id)
        return 0
    if json_output and not tail:
        emit_json({"logs": [_log_json(log, full=full, raw=raw) for log in chosen]})
        return 0
    for number, log in enumerate(chosen):
        _show(log, number=number, tail=tail, summary_only=summary, raw=raw, full=full)
    return 0


def _list(found: list[Any], session_id: str | None) -> None:
    from prodigy.cli.render import console, table
    from prodigy.views.logs import size_text

    out = console()
    if not found:
        where = f"for {session_id}" if session_id else "yet"
        out.print(f"No agent logs {where}: they are written by claude: steps (kept under PRODIGY_HOME/logs/claude/).",
                  markup=False)
        return
    title = f"Agent logs of {found[0].session_id}" if session_id else f"The {len(found)} newest agent logs"
    out.print(title + ":", markup=False)
    columns = ["step/item", "attempt", "status", "size", "modified", "path"]
    rows = [[log.label, log.attempt or "", log.status or "no result", size_text(log.size),
             (log.modified or "")[:19].replace("T", " "), log.path] for log in found]
    if not session_id:
        columns.insert(0, "session")
        rows = [[log.session_id, *row] for log, row in zip(found, rows, strict=True)]
    table(columns, rows, out=out)
    hint = (f"prodigy logs {session_id} --item N (or --step N, --latest)" if session_id else
            "prodigy logs <session-id>, or prodigy logs --latest")
    out.print(f"Show one with: {hint}", markup=False)


def _log_json(log: Any, *, full: bool, raw: bool) -> dict[str, Any]:
    from pathlib import Path

    from prodigy.views.agent_log import lines_of, readable

    data: dict[str, Any] = {"log": dataclasses.asdict(log)}
    if raw:
        data["raw"] = list(lines_of(Path(log.path)))
        return data
    lines, summary = readable(lines_of(Path(log.path)), full=full)
    data.update(lines=[dataclasses.asdict(line) for line in lines], summary=dataclasses.asdict(summary))
    return data


def _show(log: Any, *, number: int, tail: bool, summary_only: bool, raw: bool, full: bool) -> None:
    from pathlib import Path

    from prodigy.cli.render import console
    from prodigy.views.agent_log import lines_of, readable
    from prodigy.views.logs import follow, session_active

    out = console()
    if number:
        out.print()
    attempt = f" (attempt {log.attempt})" if log.attempt else ""
    out.print(f"── {log.label}{attempt} of {log.session_id}: {log.path}", markup=False, highlight=False)
    source = (follow(Path(log.path), lambda: session_active(log.session_id)) if tail else lines_of(Path(log.path)))
    if raw:
        for line in source:
            out.print(line, markup=False, highlight=False, emoji=False)
        return
    if tail:
        summary = None
        for line in source:  # one event at a time, as it arrives
            shown, summary = readable([line], full=full)
            _print_lines(out, shown)
        if summary is not None:
            _, summary = readable(lines_of(Path(log.path)), full=full)
            _print_summary(out, summary)
        return
    lines, summary = readable(source, full=full)
    if not summary_only:
        _print_lines(out, lines)
    _print_summary(out, summary)


def _print_lines(out: Any, lines: list[Any]) -> None:
    for line in lines:
        prefix = _PREFIX.get(line.kind, "")
        rows = line.text.splitlines() or [""]
        pad = " " * len(prefix)
        out.print(prefix + rows[0], markup=False, highlight=False, emoji=False)
        for row in rows[1:]:
            out.print(pad + row, markup=False, highlight=False, emoji=False)


def _print_summary(out: Any, summary: Any) -> None:
    from prodigy.cli.render import fmt_duration
    from prodigy.views.agent_log import tool_counts

    status = ("no result (the agent was stopped, or is still running)" if summary.status is None else
              f"{summary.status}{' (is_error)' if summary.is_error else ''}")
    parts = [status]
    if summary.turns is not None:
        parts.append(f"{summary.turns} turn(s)")
    if summary.duration_ms is not None:
        parts.append(fmt_duration(summary.duration_ms / 1000))
    if summary.cost_usd is not None:
        parts.append(f"${summary.cost_usd:.4f}")
    if summary.tokens:
        parts.append(f"tokens in {summary.tokens.get('input_tokens', 0)} / out {summary.tokens.get('output_tokens', 0)}")
    tools = ", ".join(f"{name} {n}" for name, n in tool_counts(summary))
    out.print("Summary: " + ", ".join(parts) + (f"; tools: {tools}" if tools else "") +
              (f"; {summary.retries} API retr{'y' if summary.retries == 1 else 'ies'}" if summary.retries else "") +
              (f"; {summary.unreadable} line(s) not JSON" if summary.unreadable else ""),
              markup=False, highlight=False, emoji=False)
