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
