"""How worktree isolation shows up in `run` and `resume`: the reporter's worktree events, the merge prompt, and
the worktree part of the end-of-run summary (git.WorktreeReport)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from prodigy.cli.markup import escape

FILES_SHOWN = 10
SUBJECTS_SHOWN = 5


class WorktreeView:
    """Mixed into ConsoleReporter: handlers for the worktree events."""

    def print(self, text: str = "", style: str | None = None) -> None:  # provided by ConsoleReporter
        raise NotImplementedError

    def on_worktree_created(self, path: str, branch: str, base: str, run_dir: str, dirty: int) -> None:
        self.print(f"Worktree: {escape(path)} (branch {escape(branch)}, from {escape(base)})")
        if dirty:
            self.print(f"  Note: your checkout has {dirty} uncommitted change(s); the run works from the last "
                       "commit and does not touch them.")

    def on_worktree_disabled(self, reason: str, run_dir: str) -> None:
        self.print(f"Worktree: none ({escape(reason)}); steps run in {escape(run_dir)}")

    def on_worktree_reused(self, path: str, branch: str, run_dir: str) -> None:
        self.print(f"Worktree: {escape(path)} (branch {escape(branch)}, reused)")

    def on_worktree_refreshed(self, status: str, branch: str, commits: list[tuple[str, str]],
                              session_id: str) -> None:
        n = len(commits)
        if status == "branch_gone":
            self.print(f"  Note: the branch {escape(branch)} the session started from is gone; the worktree keeps "
                       "its base.")
            return
        shown = ", ".join(f"{escape(subject)} ({sha})" for sha, subject in commits[:SUBJECTS_SHOWN])
        more = f", and {n - SUBJECTS_SHOWN} more" if n > SUBJECTS_SHOWN else ""
        noun = "commit" if n == 1 else "commits"
        if status == "kept":
            self.print(f"  Kept the old base (--no-refresh): {n} new {noun} on {escape(branch)} not brought in: "
                       f"{shown}{more}")
        else:
            self.print(f"Brought in {n} new {noun} from {escape(branch)}: {shown}{more}")


def merge_prompt(reporter: Any, *, yes: bool, json_output: bool) -> Callable[[str], bool] | None:
    """A yes/no question at the end of a run, only on a terminal (never in JSON mode or with -y)."""
    if yes or json_output or not sys.stdin.isatty():
        return None
    import click

    def ask(question: str) -> bool:
        reporter.close()  # stop any live display before prompting
        return click.confirm(question, default=False)

    return ask


def worktree_json(summary: Any) -> dict[str, Any]:
    report = getattr(summary, "worktree", None)
    return {"worktree": report.to_json() if report is not None else None}


def render_worktree(out: Any, report: Any) -> None:
    if report is None:
        return
    if not report.isolated:
        out.print(f"Worktree: none ({escape(report.reason or '')}); steps ran in {escape(report.run_dir)}")
        return
    where = f"{escape(report.path)} (branch {escape(report.branch)})"
    outcome = report.outcome
    if outcome in ("kept", "kept_with_dlq"):
        out.print(f"Worktree: {where} kept: {escape(report.detail or '')}")
        if outcome == "kept_with_dlq":
            _commands(out, report)
    elif outcome == "nothing_to_merge":
        gone = "removed" if report.removed else "kept"
        out.print(f"Worktree: no commits to merge; {gone} {where}.")
    elif outcome == "uncommitted":
        out.print(f"Worktree: {where}: {escape(report.detail or '')}")
        _files(out, report.uncommitted)
    elif outcome in ("merged", "fast_forward"):
        how = " (fast-forward)" if outcome == "fast_forward" else ""
        out.print(f"[green]Merged[/green] {escape(report.branch)} into {escape(report.target)}{how} in "
                  f"{escape(report.repo)}.")
        if report.removed:
            out.print(f"  Removed the worktree {escape(report.path)} and its branch.")
        elif report.uncommitted:
            out.print(f"  The worktree {escape(report.path)} has uncommitted changes that were not merged; it is "
                      f"kept. Remove it with: prodigy worktree clean {_session(report)}")
            _files(out, report.uncommitted)
    elif outcome == "not_merged":
        out.print(f"Worktree: {where} has {report.commits} commit(s) not merged into {escape(report.target)} "
                  "(no terminal to ask; -y merges automatically).")
        _commands(out, report)
    else:
        _not_merged(out, report)
    for problem in report.problems:
        out.print(f"[yellow]Warning:[/yellow] {escape(problem)}")


def _not_merged(out: Any, report: Any) -> None:
    if report.outcome == "conflict":
        out.print(f"[red]Not merged[/red]: {escape(report.branch)} conflicts with {escape(report.target)} in "
                  f"{escape(', '.join(report.conflicts))}; the merge was aborted and {escape(report.target)} is "
                  "unchanged.")
        out.print("  To finish by hand: "
                  f"cd {escape(report.repo)} && git merge {escape(report.branch)}, resolve the conflicts, "
                  "git add the files and git commit. Then remove the worktree:")
        for command in report.discard_commands:
            out.print(f"    {escape(command)}")
        return
    out.print(f"[yellow]Not merged[/yellow]: {escape(report.detail or report.outcome)}.")
    _commands(out, report)


def _commands(out: Any, report: Any) -> None:
    out.print("  Merge it:   " + escape("; ".join(report.merge_commands)))
    out.print("  Or discard: " + escape("; ".join(report.discard_commands)))


def _files(out: Any, files: tuple[str, ...]) -> None:
    shown = ", ".join(files[:FILES_SHOWN]) + (f" (+{len(files) - FILES_SHOWN} more)" if len(files) > FILES_SHOWN else "")
    if shown:
        out.print(f"  Uncommitted: {escape(shown)}")


def _session(report: Any) -> str:
    return report.path.rstrip("/").rsplit("/", 1)[-1] if report.path else ""
