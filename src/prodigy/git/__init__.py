"""Git isolation: everything prodigy does with git, and the only package that runs it.

The runners (execution/session.py, execution/mapreduce/job.py, resume/) call the interface below; the CLI's
`prodigy worktree` calls admin.py. Inside the package, each module builds on the ones before it:

    command.py    git(): the one place git is started (own session, output to files, timeouts), GIT_LOCK
    repo.py       queries (HEAD, branches, dirty files, commits between two refs) and small changes
    worktree.py   SessionWorktree: plan, create, reopen, remove; the item merge commits on its branch
    merge.py      merge the session branch back into the branch the run started from
    refresh.py    on resume, merge the new commits of the branch the session started from into the session
    missing.py    why a path a step needs is not in its worktree (not committed, ignored ...); validate's check
    agents.py     AgentWorkspaces: one worktree per map item, merged into the session branch as it ends
    admin.py      `prodigy worktree ls / clean`
    isolation.py  the interface: start, announce, reopen, recover_merged, agent_workspaces, conclude
    bundle.py     git bundles: create, heads, verify, fetch (for machines that share no filesystem)
    carry.py      a session's branch and uncommitted changes carried to another clone of the repository

The package imports nothing from the executors (their details come in as values and callables), only paths,
errors, state records and execution.outcome's status values."""

from __future__ import annotations

from prodigy.git.command import GitError
from prodigy.git.isolation import (
    MergeSteps,
    Reopened,
    WorktreeReport,
    agent_workspaces,
    announce,
    conclude,
    missing_explainer,
    recover_merged,
    reopen,
    start,
)
from prodigy.git.repo import head

__all__ = ["GitError", "MergeSteps", "Reopened", "WorktreeReport", "agent_workspaces", "announce", "conclude", "head",
           "missing_explainer", "recover_merged", "reopen", "start"]
