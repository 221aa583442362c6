"""`sessions export` / `sessions import` in process: arguments, messages, exit codes, a session outside git."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import support


def test_unknown_ids_and_files(invoke, tmp_path: Path) -> None:
    code, _out, err = invoke("sessions", "export", "session-nope", "-o", str(tmp_path / "x.tar.gz"))
    assert code == 2 and "not found" in err.lower()
    code, _out, err = invoke("sessions", "import", str(tmp_path / "missing.tar.gz"))
    assert code == 2 and "Archive not found" in err
    code, _out, err = invoke("sessions", "import", str(tmp_path / "x"), "-p", str(tmp_path / "nodir"))
    assert code == 2 and "Directory not found" in err
    code, out, _err = invoke("sessions", "--help")
    assert "export" in out and "import" in out


@pytest.mark.parametrize("command", ["export", "import"])
def test_help_has_examples(invoke, command: str) -> None:
    code, out, _ = invoke("sessions", command, "--help")
    assert code == 0 and "Examples:" in out and f"prodigy sessions {command}" in out


def test_a_session_outside_git_moves_to_another_directory_and_home(invoke, tmp_path: Path, prodigy_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, ledger = tmp_path / "first", tmp_path / "second", tmp_path / "ledger.txt"
    first.mkdir()
    second.mkdir()
    support.write_workflow(first, f"""
        commands:
          - shell: echo one >> "{ledger}" && echo made > made.txt
          - shell: test -e ready && cat made.txt >> "{ledger}"
    """)
    code, out, _err = invoke("run", str(first / "workflow.yml"), "-p", str(first))
    assert code == 1
    session_id = support.session_id_from(out)
    archive = tmp_path / "a.tar.gz"
    code, out, err = invoke("sessions", "export", session_id[:12], "-o", str(archive), "--json")
    assert code == 0, err
    assert json.loads(out)["branch"] is None and json.loads(out)["status"] == "failed"

    second_home = prodigy_home.parent / "home-2"  # the autouse fixture's folder, as every test home must be
    monkeypatch.setenv("PRODIGY_HOME", str(second_home))
    code, out, err = invoke("sessions", "import", str(archive), "-p", str(second))
    assert code == 0, err
    assert f"Run dir: {second}" in out and f"Resume with: prodigy resume {session_id}" in out
    # The workflow was not in the new directory: the copy the session ran with is used.
    assert "the copy the session ran with is used" in out
    (second / "made.txt").write_text("made here\n")
    (second / "ready").touch()
    code, out, err = invoke("resume", session_id)
    assert code == 0, out + err
    assert support.ledger_lines(ledger) == ["one", "made here"]
    code, out, err = invoke("sessions", "import", str(archive), "-p", str(second))
    assert code == 2 and "already here" in err
    assert os.listdir(second_home / "generated") == [f"imported-{session_id}.yml"]


def test_a_failure_half_way_through_an_import_takes_back_what_it_did(invoke, git_repo: Path, tmp_path: Path,
                                                                     prodigy_home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from prodigy.state import carry

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=git_repo, check=True, capture_output=True, text=True).stdout

    support.write_workflow(tmp_path, """
        commands:
          - shell: echo a > a.txt && git add a.txt && git commit -qm a
          - shell: exit 1
    """)
    code, out, _err = invoke("run", str(tmp_path / "workflow.yml"), "-p", str(git_repo))
    assert code == 1
    session_id = support.session_id_from(out)
    archive = tmp_path / "a.tar.gz"
    assert invoke("sessions", "export", session_id, "-o", str(archive))[0] == 0
    # The same repository seen from a second home: drop the session's worktree and branch here first.
    worktree = prodigy_home / "worktrees" / git_repo.name / session_id
    git("worktree", "remove", "--force", str(worktree))
    git("branch", "-D", f"prodigy-{session_id}")
    refs_before = git("for-each-ref")
    second_home = prodigy_home.parent / "home-2"
    monkeypatch.setenv("PRODIGY_HOME", str(second_home))
    real_install = carry.install

    def failing_install(record, **kwargs) -> None:
        real_install(record, **{**kwargs, "checkpoint": None})  # everything but the checkpoint and the record...
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(carry, "install", failing_install)
    code, _out, err = invoke("sessions", "import", str(archive), "-p", str(git_repo))
    assert code != 0 and "No space left" in err
    assert git("for-each-ref") == refs_before and git("worktree", "list").count("\n") == 1
    # No session record is left (the session index may remain, with the session removed from it).
    assert not list((second_home / "sessions").glob("*.json")) if (second_home / "sessions").exists() else True
    assert not any(p.is_file() for p in (second_home / "state").rglob("*")) if (second_home / "state").exists() else True
    monkeypatch.setattr(carry, "install", real_install)
    code, out, err = invoke("sessions", "import", str(archive), "-p", str(git_repo))
    assert code == 0, err
    assert f"prodigy-{session_id}" in git("branch")


def test_a_session_branch_without_commits_but_with_uncommitted_files_imports(invoke, git_repo: Path, tmp_path: Path,
                                                                            prodigy_home: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle then holds only the uncommitted changes (as for examples/mapreduce.yml interrupted in a
    checkout: setup writes its work list without committing it); the import used to fetch the branch from it."""
    import subprocess

    ledger, go = tmp_path / "ledger.txt", tmp_path / "go"
    support.write_workflow(tmp_path, f"""
        commands:
          - shell: echo wip > wip.txt
          - shell: test -e "{go}"
          - shell: cat wip.txt >> "{ledger}"
    """)
    code, out, _err = invoke("run", str(tmp_path / "workflow.yml"), "-p", str(git_repo))
    assert code == 1
    session_id = support.session_id_from(out)
    archive = tmp_path / "a.tar.gz"
    code, out, err = invoke("sessions", "export", session_id, "-o", str(archive), "--json")
    assert code == 0, err
    assert json.loads(out)["commits"] == 0 and json.loads(out)["uncommitted"] == 1
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo), str(clone)], check=True)
    monkeypatch.setenv("PRODIGY_HOME", str(prodigy_home.parent / "home-2"))
    code, out, err = invoke("sessions", "import", str(archive), "-p", str(clone), "--json")
    assert code == 0, err
    imported = json.loads(out)
    assert imported["commits"] == 0 and Path(imported["worktree"], "wip.txt").read_text() == "wip\n"
    go.touch()
    code, out, err = invoke("resume", session_id)
    assert code == 0, out + err
    assert support.ledger_lines(ledger) == ["wip"]
