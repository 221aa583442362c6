"""Worktree isolation end to end (issue 6): the installed CLI against real temp git repositories.

Workflow files live outside the repository, so the user's checkout holds only what the test put there. Every
prodigy subprocess gets stdin from /dev/null: without -y there is never a terminal to prompt on."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import mr_support as mr
import pytest

import support
from support import git
from support import run_prodigy as prodigy

pytestmark = pytest.mark.e2e

MINIMAL = Path("/work/shared/prodigy-workflows/minimal-mapreduce.yml")


def workflow(tmp_path: Path, text: str, name: str = "workflow.yml") -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)
    return support.write_workflow(folder, text, name)


def session_worktree(home: Path, repo: Path, session_id: str) -> Path:
    return home / "worktrees" / repo.name / session_id


def merge_subjects(repo: Path, ref: str) -> Counter[str]:
    return Counter(git(repo, "log", "--merges", "--format=%s", ref).splitlines())


def snapshot(repo: Path) -> dict[str, str]:
    """Every file of the checkout (outside .git) with its content, plus git's view of it."""
    files = {str(p.relative_to(repo)): p.read_text() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    return {**files, "<status>": git(repo, "status", "--porcelain"), "<head>": git(repo, "rev-parse", "HEAD")}


def test_twenty_agents_merge_into_the_session_branch_then_into_main(git_repo: Path, tmp_path: Path,
                                                                    prodigy_home: Path) -> None:
    repo, outside = git_repo, tmp_path / "seen"
    outside.mkdir()
    initial = git(repo, "rev-parse", "main")
    path = workflow(tmp_path, f"""
        name: twenty
        mode: mapreduce
        map:
          input: seq 0 19
          max_parallel: 5
          agent_template:
            - shell: echo "item ${{item}}" > "file_${{item}}.txt" && git add "file_${{item}}.txt" && git commit -qm "file ${{item}}"
              commit_required: true
        reduce:
          - shell: |
              git -C "{repo}" rev-parse main > "{outside}/main.txt"
              git -C "{repo}" status --porcelain > "{outside}/status.txt"
              ls "{repo}" > "{outside}/listing.txt"
              ls file_*.txt | wc -l | tr -d ' ' > "{outside}/count.txt"
              git log --merges --format=%s | grep -c "prodigy: merge item_" > "{outside}/merges.txt"
    """)
    code, out, err = prodigy("run", str(path), "-y", cwd=repo)
    assert code == 0, out + err
    session_id = support.session_id_from(out)
    # The reduce ran on the session branch before the final merge: 20 merges there, main and checkout untouched.
    assert (outside / "merges.txt").read_text().strip() == "20"
    assert (outside / "count.txt").read_text().strip() == "20"
    assert (outside / "main.txt").read_text().strip() == initial
    assert (outside / "status.txt").read_text() == "" and (outside / "listing.txt").read_text() == "README.md\n"
    # After -y: everything is on main, each item merged exactly once, the worktree and branches are gone.
    assert f"Merged prodigy-{session_id} into main" in out
    assert sorted(p.name for p in repo.glob("file_*.txt")) == sorted(f"file_{i}.txt" for i in range(20))
    assert (repo / "file_7.txt").read_text() == "item 7\n"
    job_id = mr.job_id_from(out)
    assert merge_subjects(repo, "main") == Counter(f"prodigy: merge item_{i} of {job_id}" for i in range(20))
    assert git(repo, "worktree", "list").count("\n") == 0
    assert git(repo, "branch", "--list", "prodigy-*") == "" and git(repo, "status", "--porcelain") == ""


def test_two_agents_changing_the_same_line(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    repo, sync = git_repo, tmp_path / "sync"
    sync.mkdir()
    initial = git(repo, "rev-parse", "main")
    path = workflow(tmp_path, f"""
        name: same-line
        mode: mapreduce
        map:
          input: printf 'alpha\\nbeta\\n'
          max_parallel: 2
          agent_template:
            - shell: |
                touch "{sync}/${{item}}"
                while [ "$(ls "{sync}" | wc -l)" -lt 2 ]; do sleep 0.02; done
                echo "${{item}}" > README.md && git commit -qam "README from ${{item}}"
    """)
    code, out, err = prodigy("run", str(path), cwd=repo)
    assert code == 3, out + err
    job_id, session_id = mr.job_id_from(out), support.session_id_from(out)
    done = [r for r in mr.journal(job_id) if r.get("t") == "done"]
    assert sorted(r.get("s", "succeeded") for r in done) == ["failed", "succeeded"]
    failed = next(r for r in done if r.get("s", "succeeded") == "failed")
    assert failed["final"] == "dlq" and "merge conflict" in failed["err"] and "README.md" in failed["err"]
    assert "merge conflict" in out
    wt = session_worktree(prodigy_home, repo, session_id)
    assert git(wt, "status", "--porcelain") == ""
    assert subprocess.run(["git", "rev-parse", "-q", "--verify", "MERGE_HEAD"], cwd=wt).returncode != 0
    assert len(merge_subjects(wt, "HEAD")) == 1
    assert (wt / "README.md").read_text() in ("alpha\n", "beta\n")
    assert git(repo, "rev-parse", "main") == initial and (repo / "README.md").read_text() == "test repo\n"
    assert ".agents" not in git(repo, "worktree", "list")


def test_sigkill_in_the_map_phase_then_resume_merges_each_item_once(git_repo: Path, tmp_path: Path,
                                                                    prodigy_home: Path, spawn_prodigy) -> None:
    repo, ledger, go = git_repo, tmp_path / "ledger.txt", tmp_path / "go"
    marker = mr.new_marker()
    path = workflow(tmp_path, f"""
        name: killed
        mode: mapreduce
        map:
          input: seq 0 5
          max_parallel: 3
          agent_template:
            - shell: echo "${{item}}" > "f_${{item}}.txt" && git add "f_${{item}}.txt" && git commit -qm "f ${{item}}"
            - shell: |
                : {marker}
                echo "start ${{item}}" >> "{ledger}"
                if [ ${{item}} -ge 3 ]; then while [ ! -e "{go}" ]; do sleep 0.05; done; fi
                echo "end ${{item}}" >> "{ledger}"
    """)
    try:
        run = spawn_prodigy("run", str(path), cwd=repo, env={"PYTHONUNBUFFERED": "1"})
        job_id = mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 3)
        support.wait_for(lambda: {"start 3", "start 4", "start 5"} <= set(support.ledger_lines(ledger)),
                         what="items 3-5 running")
        run.send_signal(signal.SIGKILL)
        _code, out, _err = support.finish(run)
        session_id = support.session_id_from(out)
        wt = session_worktree(prodigy_home, repo, session_id)
        # The crash came just after item_4's merge landed and before its journal record: simulate that merge.
        git(wt, "merge", "--no-ff", "-q", "-m", f"prodigy: merge item_4 of {job_id}", f"prodigy-{session_id}-item_4")
        resume = spawn_prodigy("resume", session_id, "-y", cwd=repo, env={"PYTHONUNBUFFERED": "1"})
        support.wait_for(lambda: Counter(support.ledger_lines(ledger))["start 5"] == 2, what="item 5 re-run")
        go.touch()
        code, out, err = support.finish(resume)
    finally:
        mr.kill_marker_processes(marker)
    assert code == 0, out + err
    assert "already merged" in out and "item_4" in out
    starts = Counter(line for line in support.ledger_lines(ledger) if line.startswith("start"))
    assert starts == Counter({"start 0": 1, "start 1": 1, "start 2": 1, "start 3": 2, "start 4": 1, "start 5": 2})
    assert merge_subjects(repo, "main") == Counter(f"prodigy: merge item_{i} of {job_id}" for i in range(6))
    assert {p.name: p.read_text() for p in repo.glob("f_*.txt")} == {f"f_{i}.txt": f"{i}\n" for i in range(6)}
    assert git(repo, "worktree", "list").count("\n") == 0 and git(repo, "branch", "--list", "prodigy-*") == ""
    assert not (prodigy_home / "worktrees" / repo.name / f"{session_id}.agents").exists() or not any(
        (prodigy_home / "worktrees" / repo.name / f"{session_id}.agents").iterdir())


def test_commit_required_with_and_without_a_commit(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    path = workflow(tmp_path, """
        name: commits
        mode: mapreduce
        map:
          input: printf 'yes\\nno\\n'
          agent_template:
            - shell: |
                echo "${item}" > "c_${item}.txt"
                if [ "${item}" = yes ]; then git add "c_${item}.txt" && git commit -qm "c ${item}"; fi
              commit_required: true
    """)
    code, out, err = prodigy("run", str(path), cwd=git_repo)
    assert code == 3, out + err
    job_id, session_id = mr.job_id_from(out), support.session_id_from(out)
    records = {r["i"]: r for r in mr.journal(job_id) if r.get("t") == "done"}
    assert records[0].get("s", "succeeded") == "succeeded"
    assert records[1]["final"] == "dlq" and "commit_required" in records[1]["err"]
    wt = session_worktree(prodigy_home, git_repo, session_id)
    assert (wt / "c_yes.txt").exists() and not (wt / "c_no.txt").exists()
    standard = workflow(tmp_path, "- shell: echo no commit\n  commit_required: true\n", "standard.yml")
    code, out, err = prodigy("run", str(standard), cwd=git_repo)
    assert code == 1 and "commit_required: the step finished without creating a commit" in out, out + err


def test_a_dirty_checkout_neither_blocks_the_run_nor_is_modified(git_repo: Path, tmp_path: Path,
                                                                 prodigy_home: Path) -> None:
    repo, seen = git_repo, tmp_path / "seen.txt"
    (repo / "README.md").write_text("my edit\n")
    (repo / "notes.txt").write_text("mine\n")
    before = snapshot(repo)
    path = workflow(tmp_path, f"""
        - shell: echo new > new.txt && git add new.txt && git commit -qm new
        - shell: cat README.md > "{seen}"
    """)
    code, out, err = prodigy("run", str(path), cwd=repo)
    assert code == 0, out + err
    session_id = support.session_id_from(out)
    assert snapshot(repo) == before
    assert seen.read_text() == "test repo\n"  # the run worked from the last commit
    assert "2 uncommitted change(s)" in out and "1 commit(s) not merged into main" in out
    merge_line = next(line for line in out.splitlines() if "Merge it:" in line)
    assert merge_line.split("Merge it:", 1)[1].strip() == f"git -C {repo} merge prodigy-{session_id}"
    assert f"git -C {repo} branch -D prodigy-{session_id}" in out
    # The printed command merges without touching the dirty files.
    subprocess.run(merge_line.split("Merge it:", 1)[1].strip(), shell=True, check=True, capture_output=True)
    assert (repo / "new.txt").read_text() == "new\n"
    assert (repo / "README.md").read_text() == "my edit\n" and (repo / "notes.txt").read_text() == "mine\n"


def test_the_final_merge_never_touches_a_dirty_file(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    repo = git_repo
    (repo / "README.md").write_text("my edit\n")
    before = snapshot(repo)
    path = workflow(tmp_path, "- shell: echo theirs > README.md && git commit -qam readme\n")
    code, out, err = prodigy("run", str(path), "-y", cwd=repo)
    assert code == 0, out + err
    assert "Not merged" in out and "README.md" in out and "uncommitted changes" in out
    assert snapshot(repo) == before


def test_a_merge_block_replaces_the_default_merge(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    repo, seen = git_repo, tmp_path / "merge-vars.txt"
    path = workflow(tmp_path, f"""
        commands:
          - shell: echo block > block.txt && git add block.txt && git commit -qm block
        merge:
          commands:
            - shell: echo "${{merge.source_branch}} ${{merge.target_branch}} ${{merge.session_id}} ${{merge.worktree}}" > "{seen}"
            - shell: git -C "{repo}" merge --no-edit ${{merge.source_branch}}
    """)
    code, out, err = prodigy("run", str(path), "-y", cwd=repo)
    assert code == 0, out + err
    session_id = support.session_id_from(out)
    wt = session_worktree(prodigy_home, repo, session_id)
    assert seen.read_text().split() == [f"prodigy-{session_id}", "main", session_id, str(wt)]
    assert (repo / "block.txt").exists() and f"Merged prodigy-{session_id} into main" in out


def test_no_worktree_flag_and_a_plain_directory(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    path = workflow(tmp_path, "- shell: echo here > out.txt\n")
    code, out, err = prodigy("run", str(path), "--no-worktree", cwd=git_repo)
    assert code == 0 and "Worktree: none (--no-worktree)" in out, out + err
    assert (git_repo / "out.txt").read_text() == "here\n"
    plain = tmp_path / "plain"
    plain.mkdir()
    code, out, err = prodigy("run", str(path), cwd=plain)
    assert code == 0 and "Worktree: none (not inside a git repository)" in out, out + err
    assert (plain / "out.txt").read_text() == "here\n"
    assert not (prodigy_home / "worktrees").exists() or not any((prodigy_home / "worktrees").rglob("session-*"))


def test_minimal_mapreduce_workflow_merges_three_files(git_repo: Path, prodigy_home: Path) -> None:
    code, out, err = prodigy("run", str(MINIMAL), "-y", cwd=git_repo)
    assert code == 0, out + err
    assert "Reduce ✔ 2/2" in out and "Merged prodigy-" in out
    names = ["item-one", "item-two", "item-three"]
    assert sorted(p.name for p in git_repo.glob("output-*.txt")) == sorted(f"output-{n}.txt" for n in names)
    assert len(merge_subjects(git_repo, "main")) == 3
    assert "test-items.json" in out  # setup's uncommitted file: the worktree is kept, and the summary says so


def test_resume_without_its_worktree_and_worktree_clean(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    path = workflow(tmp_path, """
        - shell: echo one > one.txt && git add one.txt && git commit -qm one
        - shell: exit 1
    """)
    code, out, err = prodigy("run", str(path), cwd=git_repo)
    assert code == 1, out + err
    session_id = support.session_id_from(out)
    wt = session_worktree(prodigy_home, git_repo, session_id)
    assert "kept for the resume" in out
    code, out, err = prodigy("worktree", "ls", "--json", cwd=git_repo)
    entries = json.loads(out)["worktrees"]
    assert [(e["session_id"], e["kind"], e["status"], e["unmerged"]) for e in entries] == [
        (session_id, "session", "failed", 1)]
    code, out, err = prodigy("worktree", "clean", "-y", cwd=git_repo)
    assert code == 0 and "Nothing to remove" in out and "resumable" in out and wt.is_dir(), out + err
    shutil.rmtree(wt)
    code, out, err = prodigy("resume", session_id, cwd=git_repo)
    assert code == 2, out + err
    assert str(wt) in err and f"prodigy-{session_id}" in err and "worktree add" in err
    code, out, err = prodigy("worktree", "clean", session_id[:16], "--force", "-y", cwd=git_repo)
    assert code == 0, out + err
    assert git(git_repo, "branch", "--list", "prodigy-*") == ""
    assert json.loads(prodigy("worktree", "ls", "--json", cwd=git_repo)[1])["worktrees"] == []


def test_worktree_clean_orphaned(git_repo: Path, tmp_path: Path, prodigy_home: Path) -> None:
    path = workflow(tmp_path, "- shell: echo x > x.txt && git add x.txt && git commit -qm x\n")
    code, out, err = prodigy("run", str(path), cwd=git_repo)
    assert code == 0, out + err
    session_id = support.session_id_from(out)
    (prodigy_home / "sessions" / f"{session_id}.json").unlink()
    code, out, err = prodigy("worktree", "clean", "--orphaned", "--dry-run", cwd=git_repo)
    assert code == 0 and "Would remove 1 worktree(s)" in out and "1 unmerged" not in out, out + err
    assert session_worktree(prodigy_home, git_repo, session_id).is_dir()
    code, out, err = prodigy("worktree", "clean", "--orphaned", cwd=git_repo)
    assert code == 2 and "-y" in err, out + err  # no terminal to confirm on
    code, out, err = prodigy("worktree", "clean", "--orphaned", "-y", cwd=git_repo)
    assert code == 0 and re.search(r"Removed 1 worktree", out), out + err
    assert git(git_repo, "worktree", "list").count("\n") == 0
    assert git(git_repo, "branch", "--list", "prodigy-*") == ""
