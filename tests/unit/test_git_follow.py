"""The worktree follows the user, with real git: refreshing a session worktree from the branch it started from,
and explaining a path that is in the checkout but not in a worktree."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.git.command import GitError
from prodigy.git.missing import explain_missing, uncommitted
from prodigy.git.refresh import refresh_session_worktree
from prodigy.git.worktree import SessionWorktree, create_session_worktree, plan_session_worktree
from prodigy.workflow.load import load_workflow
from prodigy.workflow.named_paths import named_paths
from support import git

SID = "session-00000000-0000-0000-0000-000000000002"


def commit(cwd: Path, name: str, text: str, message: str | None = None) -> str:
    path = cwd / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", message or f"write {name}")
    return git(cwd, "rev-parse", "--short", "HEAD")


@pytest.fixture
def session(git_repo: Path) -> SessionWorktree:
    wt, _reason = plan_session_worktree(git_repo, SID)
    assert wt is not None
    create_session_worktree(wt)
    return wt


# ---------------------------------------------------------------- refresh


def test_nothing_new_is_up_to_date(session: SessionWorktree) -> None:
    assert refresh_session_worktree(session).status == "up_to_date"


def test_new_commits_are_brought_in_newest_first(session: SessionWorktree) -> None:
    first = commit(session.repo_root, "a.txt", "a", "first fix")
    second = commit(session.repo_root, "b.txt", "b", "second fix")
    result = refresh_session_worktree(session)
    assert result.status == "brought_in" and result.commits == ((second, "second fix"), (first, "first fix"))
    assert (session.path / "a.txt").read_text() == "a" and (session.path / "b.txt").read_text() == "b"
    assert refresh_session_worktree(session).status == "up_to_date"


def test_the_session_keeps_its_own_commits_and_gets_a_merge(session: SessionWorktree) -> None:
    commit(session.path, "mine.txt", "session work")
    commit(session.repo_root, "theirs.txt", "user fix")
    result = refresh_session_worktree(session)
    assert result.status == "brought_in"
    assert git(session.path, "log", "-1", "--format=%s") == "prodigy: bring in 1 new commit(s) from main"
    assert (session.path / "mine.txt").exists() and (session.path / "theirs.txt").exists()


def test_no_refresh_reports_the_commits_it_leaves_out(session: SessionWorktree) -> None:
    sha = commit(session.repo_root, "a.txt", "a", "a fix")
    result = refresh_session_worktree(session, enabled=False)
    assert result.status == "kept" and result.commits == ((sha, "a fix"),)
    assert not (session.path / "a.txt").exists()


def test_a_conflict_is_aborted_and_names_the_file_and_the_commands(session: SessionWorktree) -> None:
    commit(session.path, "README.md", "session version\n")
    before = git(session.path, "rev-parse", "HEAD")
    commit(session.repo_root, "README.md", "user version\n")
    with pytest.raises(GitError) as info:
        refresh_session_worktree(session)
    assert "conflict with the session's own changes in README.md" in info.value.message
    assert "git merge main" in info.value.hint and f"prodigy resume {SID} --no-refresh" in info.value.hint
    assert git(session.path, "rev-parse", "HEAD") == before and git(session.path, "status", "--porcelain") == ""


def test_uncommitted_session_files_in_the_way_stop_it_without_a_change(session: SessionWorktree) -> None:
    (session.path / "new.txt").write_text("untracked in the session")
    commit(session.repo_root, "new.txt", "committed by the user")
    with pytest.raises(GitError) as info:
        refresh_session_worktree(session)
    assert "git merge refused" in info.value.message and "status" in info.value.hint
    assert (session.path / "new.txt").read_text() == "untracked in the session"


def test_a_detached_start_or_a_deleted_branch_keeps_the_base(session: SessionWorktree) -> None:
    detached = SessionWorktree(**{**session.__dict__, "original_branch": None})
    assert refresh_session_worktree(detached).status == "detached"
    gone = SessionWorktree(**{**session.__dict__, "original_branch": "no-such-branch"})
    assert refresh_session_worktree(gone).status == "branch_gone"


# ---------------------------------------------------------------- missing paths


def test_an_untracked_file_of_the_checkout_is_explained(session: SessionWorktree) -> None:
    (session.repo_root / "items.json").write_text("[]")
    found = explain_missing(session, session.path, path="items.json")
    assert found is not None and found.name == "items.json"
    assert found.text == ("items.json exists in your checkout but is not committed; the run uses a git worktree of "
                          "the last commit. Commit it, or run with --no-worktree")


def test_ignored_and_staged_files_say_so(session: SessionWorktree) -> None:
    repo = session.repo_root
    (repo / ".gitignore").write_text("secret.env\n")
    (repo / "secret.env").write_text("x")
    (repo / "staged.txt").write_text("x")
    git(repo, "add", "staged.txt")
    assert "git ignores it" in explain_missing(session, session.path, path="secret.env").reason
    assert "is staged but not committed" in explain_missing(session, session.path, path="staged.txt").reason


def test_paths_in_stderr_and_missing_parent_folders(session: SessionWorktree) -> None:
    (session.repo_root / "data").mkdir()
    (session.repo_root / "data" / "in.csv").write_text("1")
    found = explain_missing(session, session.path, stderr="cat: data/in.csv: No such file or directory\n")
    assert found is not None and found.name == "data/in.csv"
    dash = "sh: 1: cannot create data/out.txt: Directory nonexistent"  # the folder is what is missing
    assert explain_missing(session, session.path, stderr=dash).name == "data"
    assert explain_missing(session, session.path, stderr="cat: nowhere.txt: No such file or directory") is None
    assert explain_missing(session, session.path, stderr="exit 1") is None


def test_an_agent_worktree_missing_what_setup_left_uncommitted(session: SessionWorktree) -> None:
    (session.path / "out").mkdir()
    (session.path / "out" / "items.json").write_text("[]")
    agent = session.agents_dir / "item_0"
    agent.mkdir(parents=True)
    found = explain_missing(session, agent, stderr="cat: out/items.json: No such file or directory")
    assert found is not None and found.name == "out/items.json"
    assert "exists in the session worktree but is not committed" in found.reason
    assert "git add -A && git commit" in found.advice


def test_a_file_committed_after_the_session_started(session: SessionWorktree) -> None:
    commit(session.repo_root, "late.txt", "late")
    found = explain_missing(session, session.path, path="late.txt")
    assert found is not None and "was committed in your checkout after" in found.reason
    assert "--no-refresh" in found.advice


# ---------------------------------------------------------------- validate


def test_named_paths_and_which_are_not_committed(git_repo: Path) -> None:
    (git_repo / "wf.yml").write_text("""
name: v
mode: mapreduce
setup:
  - shell: python3 gen.py --out "${OUT}" > made.json && cat README.md
map:
  input: items.json
  agent_template:
    - shell: ./check.sh ${item}
      working_dir: tools
reduce:
  - shell: echo done >> result.txt
""")
    workflow = load_workflow(git_repo / "wf.yml")
    assert named_paths(workflow) == ["items.json", "gen.py", "README.md", "tools", "tools/check.sh"]
    for name in ("items.json", "gen.py", "result.txt", "made.json"):
        (git_repo / name).write_text("x")
    (git_repo / ".gitignore").write_text("tools/\n")
    (git_repo / "tools").mkdir()
    (git_repo / "tools" / "check.sh").write_text("x")
    assert uncommitted(git_repo, named_paths(workflow)) == [("items.json", "untracked"), ("gen.py", "untracked"),
                                                            ("tools", "ignored"), ("tools/check.sh", "ignored")]


def test_outside_a_repository_nothing_is_reported(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("[]")
    assert uncommitted(tmp_path, ["items.json"]) == []
