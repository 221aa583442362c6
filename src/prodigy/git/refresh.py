"""A resume follows the user: new commits on the branch the session started from are merged into the session
branch before anything runs, so a fix committed in the checkout reaches the resumed steps and items."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from prodigy.git.command import GIT_LOCK, GitError, git
from prodigy.git.repo import abort_merge, branch_exists, head_of, merge
from prodigy.git.worktree import SessionWorktree


@dataclass(frozen=True)
class Refresh:
    """What bringing in new commits did. status: brought_in | up_to_date | kept (--no-refresh) | detached |
    branch_gone."""

    status: str
    branch: str | None
    commits: tuple[tuple[str, str], ...] = ()  # (short sha, subject) of the new commits, newest first
    head: str | None = None  # the session branch's commit afterwards

    @property
    def count(self) -> int:
        return len(self.commits)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "branch": self.branch, "head": self.head,
                "commits": [{"sha": sha, "subject": subject} for sha, subject in self.commits]}


def new_commits(wt: SessionWorktree) -> tuple[tuple[str, str], ...]:
    """Commits on the branch the session started from that the session branch lacks, newest first."""
    assert wt.original_branch is not None
    result = git(["log", "--format=%h%x00%s", f"{wt.branch}..{wt.original_branch}", "--"], wt.path)
    rows = [line.split("\0", 1) for line in result.out.splitlines() if "\0" in line] if result.ok else []
    return tuple((sha, subject) for sha, subject in rows)


def refresh_session_worktree(wt: SessionWorktree, *, enabled: bool = True) -> Refresh:
    """Merge the new commits of the session's original branch into the session branch. A conflict (or a merge
    git refuses, e.g. over uncommitted files) is aborted, leaves the worktree as it was and raises a GitError
    that names the files and the commands to settle it."""
    branch = wt.original_branch
    if branch is None:
        return Refresh("detached", None)
    if not branch_exists(wt.path, branch):
        return Refresh("branch_gone", branch)
    commits = new_commits(wt)
    if not commits:
        return Refresh("up_to_date", branch, head=head_of(wt.path))
    if not enabled:
        return Refresh("kept", branch, commits, head=head_of(wt.path))
    message = f"prodigy: bring in {len(commits)} new commit(s) from {branch}"
    with GIT_LOCK:
        result = merge(wt.path, branch, "--no-edit", "-q", "-m", message)
        conflicts = [] if result.ok else abort_merge(wt.path)
    if not result.ok:
        raise _refresh_error(wt, branch, commits, conflicts, result.message)
    return Refresh("brought_in", branch, commits, head=head_of(wt.path))


def _refresh_error(wt: SessionWorktree, branch: str, commits: tuple[tuple[str, str], ...], conflicts: list[str],
                   git_message: str) -> GitError:
    where = shlex.quote(str(wt.path))
    resume = f"prodigy resume {wt.session_id}"
    n = f"{len(commits)} new commit(s)"
    if conflicts:
        message = (f"Cannot bring the {n} on {branch} into the worktree of session {wt.session_id}: they conflict "
                   f"with the session's own changes in {', '.join(conflicts[:10])}"
                   f"{' ...' if len(conflicts) > 10 else ''}. Nothing ran; the merge was aborted and the worktree "
                   "is as it was.")
        settle = (f"Settle it in the session worktree, then resume again:\n"
                  f"  cd {where} && git merge {branch}\n"
                  f"  (resolve the conflicts, git add the files, git commit)\n"
                  f"  {resume}")
    else:
        message = (f"Cannot bring the {n} on {branch} into the worktree of session {wt.session_id}: git merge "
                   f"refused: {git_message}. Nothing ran.")
        settle = (f"Commit or discard the session worktree's own changes (git -C {where} status), then resume "
                  f"again: {resume}")
    return GitError(message, hint=f"{settle}\nOr keep the old base: {resume} --no-refresh")
