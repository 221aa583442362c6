"""`prodigy worktree merge [NAME] [--all]`: the end-of-run merge on demand."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy.state import sessions
from prodigy.state.locks import ExecutionLock
from support import git

COMMIT = '- shell: echo "$ARG" > "f$ARG" && git add "f$ARG" && git commit -qm "add $ARG"\n'


def _run(invoke, repo: Path, *args: str) -> list[str]:
    code, _, err = invoke("run", str(repo / "workflow.yml"), "-p", str(repo), *args)
    assert code in (0, 1), err
    return [r.id for r in sessions.load_all()[0]]


def test_merge_one_session_then_nothing_left(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow(COMMIT)
    (session_id,) = _run(invoke, git_repo, "--args", "1")  # no terminal, no -y: not merged at the end
    assert "add 1" not in git(git_repo, "log", "--format=%s")
    code, out, err = invoke("worktree", "merge", session_id[:16], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["merged"][0]["worktree"]["outcome"] in ("merged", "fast_forward")
    assert "add 1" in git(git_repo, "log", "--format=%s")
    assert sessions.load(session_id).extra["worktree"].get("removed_at")
    code, _, err = invoke("worktree", "merge", session_id)
    assert code == 2 and "no worktree any more" in err


def test_merge_all_dry_run_then_merge(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow(COMMIT)
    ids = _run(invoke, git_repo, "--args", "1", "--args", "2")
    code, out, _ = invoke("worktree", "merge", "--all", "--dry-run")
    assert code == 0 and out.count("Would merge") == 2
    assert invoke("worktree", "merge", "--all")[0] == 2  # no terminal to confirm on
    code, out, err = invoke("worktree", "merge", "--all", "-y", "--json")
    assert code == 0, err
    assert sorted(m["session_id"] for m in json.loads(out)["merged"]) == sorted(ids)
    assert {"add 1", "add 2"} <= set(git(git_repo, "log", "--format=%s").splitlines())


def test_an_unfinished_or_running_session_is_not_merged(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow(COMMIT + "- shell: exit 1\n")
    (session_id,) = _run(invoke, git_repo, "--args", "1")
    code, _, err = invoke("worktree", "merge", session_id)
    assert code == 2 and "it is failed: its work is unfinished" in err
    with ExecutionLock(session_id, purpose="test"):
        assert invoke("worktree", "merge", session_id, "--force")[0] == 4
    code, _, err = invoke("worktree", "merge", session_id, "--force")
    assert code == 0, err
    assert "add 1" in git(git_repo, "log", "--format=%s")


def test_a_conflict_leaves_the_branch_alone_and_exits_1(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow('- shell: echo session > README.md && git commit -qam session\n')
    (session_id,) = _run(invoke, git_repo)
    (git_repo / "README.md").write_text("mine\n")
    git(git_repo, "commit", "-qam", "mine")
    code, out, _ = invoke("worktree", "merge", session_id)
    assert code == 1 and "conflicts" in out
    assert (git_repo / "README.md").read_text() == "mine\n"


def test_the_workflows_merge_steps_are_used(invoke, git_repo: Path, write_workflow) -> None:
    write_workflow("""
        commands:
          - shell: echo x > x.txt && git add x.txt && git commit -qm x
        merge:
          - shell: echo "merge ${merge.source_branch} into ${merge.target_branch}" >> "${merge.worktree}/../merge-ledger"
          - shell: git -C "$(git rev-parse --path-format=absolute --git-common-dir)/.." merge -q ${merge.source_branch}
    """)
    (session_id,) = _run(invoke, git_repo)
    code, out, err = invoke("worktree", "merge", session_id)
    assert code == 0, err + out
    ledger = (Path(sessions.load(session_id).extra["worktree"]["path"]).parent / "merge-ledger").read_text()
    assert f"merge prodigy-{session_id} into main" in ledger
    assert "merged by the workflow's merge: steps" in out or "Merged" in out


def test_usage_errors(invoke) -> None:
    assert invoke("worktree", "merge")[0] == 2
    assert invoke("worktree", "merge", "session-x", "--all")[0] == 2
    assert invoke("worktree", "merge", "session-nope")[0] == 2
