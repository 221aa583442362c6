"""The worktree follows the user (issue 17): fix the cause, commit it, resume; with the installed CLI and real git.

The workflow files live outside the repository; the repository holds the data and scripts the steps use, so a
fix is a commit in the user's checkout. Ledgers outside the repository record every run of every item."""

from __future__ import annotations

import json
from pathlib import Path

import mr_support as mr
import pytest

import support
from support import git
from support import run_prodigy as prodigy

pytestmark = pytest.mark.e2e


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "--short", "HEAD")


def workflow(tmp_path: Path, text: str, name: str = "workflow.yml") -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)
    return support.write_workflow(folder, text, name)


# check.sh <n>: records the run in the ledger; the buggy version fails on even numbers. Each item commits its
# result (the VERSION it saw) in its own worktree, so the result shows which base the item ran on.
BUGGY = """#!/bin/sh
echo "run $1 $(cat VERSION)" >> "$LEDGER"
if [ $(( $1 % 2 )) -eq 0 ]; then echo "bad data in item $1" >&2; exit 1; fi
mkdir -p results && cat VERSION > results/$1.txt && git add results && git commit -qm "result $1"
"""
FIXED = BUGGY.replace('if [ $(( $1 % 2 )) -eq 0 ]; then echo "bad data in item $1" >&2; exit 1; fi\n', "")


def map_workflow(tmp_path: Path, ledger: Path, *, setup: str = "") -> Path:
    return workflow(tmp_path, f"""
        name: follow
        mode: mapreduce
        env:
          LEDGER: "{ledger}"
        {setup}
        map:
          input: items.json
          max_parallel: 2
          agent_template:
            - shell: ./check.sh ${{item}}
        reduce:
          - shell: echo "reduce ${{map.successful}}/${{map.total}}" >> "$LEDGER"
        """)


def runs(ledger: Path) -> list[str]:
    return sorted(line for line in ledger.read_text().splitlines() if line.startswith("run "))


def test_a_fix_committed_in_the_checkout_reaches_the_resume(git_repo: Path, tmp_path: Path,
                                                          prodigy_home: Path) -> None:
    repo, ledger = git_repo, tmp_path / "ledger.txt"
    commit(repo, {"items.json": json.dumps([1, 2, 3, 4, 5, 6]), "check.sh": BUGGY, "VERSION": "v1\n"}, "data")
    wf = map_workflow(tmp_path, ledger)
    code, out, err = prodigy("run", str(wf), "-y", cwd=repo)
    assert code == 3, out + err  # items 2, 4, 6 in the dead-letter queue
    job_id = mr.job_id_from(out)
    assert runs(ledger) == ["run 1 v1", "run 2 v1", "run 3 v1", "run 4 v1", "run 5 v1", "run 6 v1"]

    sha = commit(repo, {"check.sh": FIXED, "VERSION": "v2\n"}, "fix the data")
    code, out, err = prodigy("resume-job", job_id, "--force", "-y", "--json", cwd=repo)
    assert code == 0, out + err
    assert f"Brought in 1 new commit from main: fix the data ({sha})" in err
    data = json.loads(out)
    assert data["status"] == "completed" and data["items"]["successful"] == 6
    assert data["worktree"]["refresh"]["status"] == "brought_in"
    assert data["worktree"]["refresh"]["commits"] == [{"sha": sha, "subject": "fix the data"}]
    # Done items did not run again because the base moved; the retried ones ran on the fixed tree.
    assert runs(ledger) == ["run 1 v1", "run 2 v1", "run 2 v2", "run 3 v1", "run 4 v1", "run 4 v2", "run 5 v1",
                            "run 6 v1", "run 6 v2"]
    # Agent worktrees made after the refresh started from it, and everything was merged into main.
    assert {p.name: p.read_text() for p in (repo / "results").iterdir()} == {
        "1.txt": "v1\n", "3.txt": "v1\n", "5.txt": "v1\n", "2.txt": "v2\n", "4.txt": "v2\n", "6.txt": "v2\n"}
    assert git(repo, "status", "--porcelain") == ""


def test_a_conflicting_commit_stops_the_resume_before_anything_runs(git_repo: Path, tmp_path: Path,
                                                                     prodigy_home: Path) -> None:
    repo, ledger = git_repo, tmp_path / "ledger.txt"
    commit(repo, {"items.json": json.dumps([2, 4]), "check.sh": BUGGY, "VERSION": "v1\n",
                  "config.txt": "original\n"}, "data")
    setup = "setup:\n          - shell: echo session > config.txt && git commit -qam 'session config'"
    wf = map_workflow(tmp_path, ledger, setup=setup)
    code, out, err = prodigy("run", str(wf), "-y", cwd=repo)
    assert code == 3, out + err
    job_id, session_id = mr.job_id_from(out), support.session_id_from(out)
    session_wt = prodigy_home / "worktrees" / repo.name / session_id
    before = git(session_wt, "rev-parse", "HEAD")
    ran = runs(ledger)

    commit(repo, {"check.sh": FIXED, "config.txt": "user\n"}, "fix, and change the config")
    code, out, err = prodigy("resume-job", job_id, "--force", "-y", cwd=repo)
    assert code == 2, out + err
    assert "conflict with the session's own changes in config.txt" in err and "Nothing ran" in err
    assert f"cd {session_wt} && git merge main" in err
    assert f"prodigy resume {session_id} --no-refresh" in err
    assert runs(ledger) == ran  # nothing ran
    assert git(session_wt, "rev-parse", "HEAD") == before
    assert git(session_wt, "status", "--porcelain") == ""
    assert git(session_wt, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False) == ""

    code, out, err = prodigy("resume-job", job_id, "--force", "--max-retries", "1", "--no-refresh", "-y", cwd=repo)
    assert code == 3, out + err  # the old base still has the bug
    assert "Kept the old base (--no-refresh): 1 new commit on main not brought in" in out
    assert runs(ledger) == sorted([*ran, "run 2 v1", "run 4 v1"])


def test_a_standard_session_resumes_with_the_fix(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    repo, ledger = git_repo, tmp_path / "ledger.txt"
    commit(repo, {"build.sh": "#!/bin/sh\necho 'syntax error' >&2; exit 1\n"}, "build script")
    wf = workflow(tmp_path, f"""
        name: build
        commands:
          - shell: echo step1 >> "{ledger}"
          - shell: ./build.sh && echo built >> "{ledger}"
        """)
    code, out, err = prodigy("run", str(wf), "-y", cwd=repo)
    assert code == 1, out + err
    session_id = support.session_id_from(out)
    sha = commit(repo, {"build.sh": "#!/bin/sh\nexit 0\n"}, "fix the build")
    code, out, err = prodigy("resume", session_id, "-y", cwd=repo)
    assert code == 0, out + err
    assert f"Brought in 1 new commit from main: fix the build ({sha})" in out
    assert ledger.read_text().splitlines() == ["step1", "built"]


def test_an_uncommitted_map_input_says_so_and_the_session_resumes_once_committed(
        git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    repo, ledger = git_repo, tmp_path / "ledger.txt"
    commit(repo, {"check.sh": FIXED, "VERSION": "v1\n"}, "scripts")
    (repo / "items.json").write_text("[1, 3]")  # not committed
    wf = map_workflow(tmp_path, ledger)

    code, out, err = prodigy("run", str(wf), "-y", cwd=repo)
    assert code == 2, out + err
    assert ("items.json exists in your checkout but is not committed; the run uses a git worktree of the last "
            "commit") in out
    assert "Commit it, or run with --no-worktree." in out
    session_id = support.session_id_from(out)
    assert "kept" in out and str(prodigy_home / "worktrees") in out  # the worktree is kept, and it says so
    assert out.rstrip().splitlines()[-1] == f"Resume with: prodigy resume {session_id}"
    assert mr.no_traceback(out + err)

    code, out, err = prodigy("run", str(wf), "-y", "--json", cwd=repo)
    data = json.loads(out)
    assert code == 2 and data["session_id"].startswith("session-") and data["status"] == "failed"
    assert "is not committed" in data["error"] and data["worktree"]["outcome"] == "kept"
    assert data["next_command"] == f"prodigy resume {data['session_id']}"

    git(repo, "add", "items.json")
    git(repo, "commit", "-q", "-m", "add the work list")
    code, out, err = prodigy("resume", session_id, "-y", cwd=repo)
    assert code == 0, out + err
    assert "Brought in 1 new commit from main: add the work list" in out
    assert runs(ledger) == ["run 1 v1", "run 3 v1"]


def test_files_setup_did_not_commit_are_explained_in_the_item_error(git_repo: Path, tmp_path: Path,
                                                                    prodigy_home: Path) -> None:
    wf = workflow(tmp_path, """
        name: setup-files
        mode: mapreduce
        setup:
          - shell: mkdir -p out && echo '[1]' > out/items.json
        map:
          input: out/items.json
          agent_template:
            - shell: echo ${item} > out/result.txt
        """)
    code, out, err = prodigy("run", str(wf), "-y", cwd=git_repo)
    assert code == 3, out + err
    assert "out exists in the session worktree but is not committed; each map item runs in its own git " \
           "worktree of the session branch's last commit" in out
    job_id = mr.job_id_from(out)
    code, out, err = prodigy("dlq", "show", job_id, "item_0", cwd=git_repo)
    assert code == 0 and "out exists in the session worktree but is not committed" in out
