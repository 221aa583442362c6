"""Worktree isolation with real git in temp repositories: the session worktree, agent worktrees and their merges,
the merge back into the user's branch, and recovery after a crash."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from prodigy.errors import ExitCode
from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask, run_item
from prodigy.git.agents import AgentWorkspaces
from prodigy.git.command import GitError
from prodigy.git.merge import merge_into_original
from prodigy.git.repo import dirty_paths, head_of, merge_in_progress
from prodigy.git.worktree import (
    SessionWorktree,
    create_session_worktree,
    merged_items,
    plan_session_worktree,
    remove_session_worktree,
    reopen_session_worktree,
)
from prodigy.workflow.model import Step
from support import git

JOB = "mapreduce-20260101_000000_session-00000000-0000-0000-0000-000000000001"
SID = "session-00000000-0000-0000-0000-000000000001"


def commit(cwd: Path, name: str, text: str, message: str | None = None) -> None:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", message or f"write {name}")


@pytest.fixture
def session(git_repo: Path) -> SessionWorktree:
    wt, reason = plan_session_worktree(git_repo, SID)
    assert wt is not None and reason is None
    create_session_worktree(wt)
    return wt


def task(index: int) -> ItemTask:
    return ItemTask(index=index, attempt=1, item=index, total=2, steps=(), variables={}, timeout=None)


def ok(index: int) -> ItemOutcome:
    return ItemOutcome(index=index, attempt=1, status=o.SUCCEEDED, exit_code=0, duration=0.1, error=None,
                       output="", stderr="", log_path=None)


def merges_on(path: Path, branch: str) -> list[str]:
    return git(path, "log", "--merges", "--format=%s", branch).splitlines()


# ---------------------------------------------------------------- the session worktree


def test_no_worktree_outside_git_or_without_commits(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert plan_session_worktree(plain, SID) == (None, "not inside a git repository")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert plan_session_worktree(empty, SID) == (None, "the git repository has no commits yet")


def test_session_worktree_branches_from_head_and_maps_the_run_dir(git_repo: Path) -> None:
    (git_repo / "sub" / "dir").mkdir(parents=True)
    commit(git_repo, "sub/dir/x.txt", "x")
    wt, _ = plan_session_worktree(git_repo / "sub" / "dir", SID)
    assert wt is not None
    create_session_worktree(wt)
    assert wt.subdir == "sub/dir" and wt.run_dir == wt.path / "sub" / "dir"
    assert (wt.run_dir / "x.txt").read_text() == "x"
    assert wt.original_branch == "main" and wt.branch == f"prodigy-{SID}"
    assert git(wt.path, "rev-parse", "HEAD") == git(git_repo, "rev-parse", "HEAD")
    assert SessionWorktree.from_json(SID, wt.to_json()) == wt


def test_reopen_a_deleted_worktree_names_path_and_branch(session: SessionWorktree) -> None:
    subprocess.run(["rm", "-rf", str(session.path)], check=True)
    with pytest.raises(GitError) as caught:
        reopen_session_worktree(session)
    assert str(session.path) in caught.value.message and session.branch in caught.value.message
    assert "worktree add" in (caught.value.hint or "")  # the branch survives: say how to recreate it
    assert caught.value.exit_code == ExitCode.USAGE


def test_reopen_aborts_a_half_done_merge(session: SessionWorktree) -> None:
    git(session.path, "checkout", "-q", "-b", "side")
    commit(session.path, "README.md", "side\n")
    git(session.path, "checkout", "-q", session.branch)
    commit(session.path, "README.md", "ours\n")
    subprocess.run(["git", "merge", "side"], cwd=session.path, capture_output=True)
    assert merge_in_progress(session.path)
    notes = reopen_session_worktree(session)
    assert not merge_in_progress(session.path) and any("aborted a merge" in n for n in notes)


# ---------------------------------------------------------------- agents


def test_agent_commits_are_merged_once_with_a_findable_message(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    run_dir = spaces.enter(task(3))
    commit(run_dir, "three.txt", "3")
    assert spaces.leave(task(3), ok(3)).status == o.SUCCEEDED
    assert merges_on(session.path, session.branch) == [f"prodigy: merge item_3 of {JOB}"]
    assert (session.path / "three.txt").read_text() == "3"
    assert not spaces.path_for(3).exists()
    assert git(session.path, "branch", "--list", spaces.branch_for(3)) == ""
    assert merged_items(session, JOB) == {3: [git(session.path, "rev-parse", "HEAD")]}
    assert merged_items(session, JOB.replace("000001", "000002")) == {}


def test_an_item_without_commits_merges_nothing(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    before = head_of(session.path)
    run_dir = spaces.enter(task(0))
    (run_dir / "scratch.txt").write_text("not committed")
    assert spaces.leave(task(0), ok(0)).status == o.SUCCEEDED
    assert head_of(session.path) == before
    assert "uncommitted" in spaces.drain_warnings()[0]


def test_a_failed_item_is_not_merged_and_its_worktree_is_removed(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    before = head_of(session.path)
    run_dir = spaces.enter(task(1))
    commit(run_dir, "one.txt", "1")
    failed = ItemOutcome(1, 1, o.FAILED, 1, 0.1, "exit 1", "", "", None)
    assert spaces.leave(task(1), failed) is failed
    assert head_of(session.path) == before and not spaces.path_for(1).exists()


def test_a_conflict_fails_the_item_names_the_file_and_leaves_the_branch_clean(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    first, second = spaces.enter(task(0)), spaces.enter(task(1))  # both from the same session HEAD
    commit(first, "README.md", "first\n")
    commit(second, "README.md", "second\n")
    assert spaces.leave(task(0), ok(0)).status == o.SUCCEEDED
    merged = head_of(session.path)
    result = spaces.leave(task(1), ok(1))
    assert result.status == o.FAILED and "merge conflict" in result.error and "README.md" in result.error
    assert head_of(session.path) == merged
    assert not merge_in_progress(session.path) and dirty_paths(session.path) == []
    assert (session.path / "README.md").read_text() == "first\n"


def test_sweep_removes_leftovers_of_a_killed_run(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    spaces.enter(task(4))
    spaces.enter(task(5))
    fresh = AgentWorkspaces(session, JOB)
    assert fresh.sweep() == 2
    assert "item_" not in git(session.repo_root, "worktree", "list")
    assert git(session.repo_root, "branch", "--list", f"{session.branch}-item_*") == ""


def test_run_item_goes_through_the_hook(session: SessionWorktree) -> None:
    spaces = AgentWorkspaces(session, JOB)
    step = Step(kind="shell", command="echo hi > hi.txt && git add hi.txt && git commit -qm hi",
                commit_required=True)
    ctx = StepContext(run_dir=session.repo_root, process_env=dict(__import__("os").environ), session_id=SID,
                      stop_event=threading.Event())
    item = ItemTask(index=7, attempt=1, item="x", total=8, steps=(step,), variables={}, timeout=None)
    outcome = run_item(item, ctx, JOB, spaces)
    assert outcome.status == o.SUCCEEDED, outcome.error
    assert (session.path / "hi.txt").exists() and not (session.repo_root / "hi.txt").exists()
    no_commit = ItemTask(index=8, attempt=1, item="y", total=9, variables={}, timeout=None,
                         steps=(Step(kind="shell", command="true", commit_required=True),))
    failed = run_item(no_commit, ctx, JOB, spaces)
    assert failed.status == o.FAILED and "commit_required" in failed.error


# ---------------------------------------------------------------- the merge back


def test_merge_back_fast_forwards_and_keeps_unrelated_dirty_files(session: SessionWorktree) -> None:
    repo = session.repo_root
    commit(session.path, "new.txt", "new")
    (repo / "README.md").write_text("my edit\n")
    (repo / "notes.txt").write_text("mine")
    back = merge_into_original(session)
    assert back.status == "fast_forward", back.detail
    assert (repo / "new.txt").read_text() == "new"
    assert (repo / "README.md").read_text() == "my edit\n" and (repo / "notes.txt").read_text() == "mine"
    assert remove_session_worktree(session, force_branch=False) == []
    assert not session.path.exists() and git(repo, "branch", "--list", session.branch) == ""


def test_merge_back_refuses_to_touch_dirty_files(session: SessionWorktree) -> None:
    repo = session.repo_root
    commit(session.path, "README.md", "from the run\n")
    (repo / "README.md").write_text("my edit\n")
    before = head_of(repo)
    back = merge_into_original(session)
    assert back.status == "refused" and "README.md" in back.detail
    assert head_of(repo) == before and (repo / "README.md").read_text() == "my edit\n"


def test_merge_back_refuses_another_branch(session: SessionWorktree) -> None:
    commit(session.path, "new.txt", "new")
    git(session.repo_root, "checkout", "-q", "-b", "elsewhere")
    back = merge_into_original(session)
    assert back.status == "refused" and "elsewhere" in back.detail and "main" in back.detail


def test_merge_back_conflict_is_aborted_and_the_branch_untouched(session: SessionWorktree) -> None:
    repo = session.repo_root
    commit(session.path, "README.md", "run\n")
    commit(repo, "README.md", "user\n")
    before = head_of(repo)
    back = merge_into_original(session)
    assert back.status == "conflict" and back.conflicts == ("README.md",)
    assert head_of(repo) == before and not merge_in_progress(repo) and dirty_paths(repo) == []


def test_dirty_paths_reports_both_names_of_a_rename(git_repo: Path) -> None:
    git(git_repo, "mv", "README.md", "READ ME.md")
    (git_repo / "untracked.txt").write_text("u")
    assert sorted(dirty_paths(git_repo)) == ["READ ME.md", "README.md", "untracked.txt"]


def test_without_git_installed_runs_are_not_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    assert plan_session_worktree(tmp_path, SID) == (None, "git is not installed")
