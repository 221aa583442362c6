"""Fault injection: every state write of a small MapReduce job is made to fail in turn (disk full, I/O error,
a short write followed by a full disk), then the job is resumed with a healthy disk.

What must hold for every one of them (SQLite's testing is the model):
- the failing run exits 6 with the path and what to do, never 70 (a bug) and never a wrong result;
- nothing recorded as completed before the failure runs again on resume (setup steps, items, reduce steps);
- after the resume everything is done exactly as in a run without faults, and nothing is lost.

The writes are counted through `state/storage.py`, the one module that changes state on disk.
"""

from __future__ import annotations

import errno
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import support
from prodigy.cli import cli
from prodigy.cli.errors import run_cli
from prodigy.state import atomic, storage

WORKFLOW = """
name: faults
mode: mapreduce
setup:
  - shell: "echo setup >> {ledger}"
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "echo item-${{item.n}} >> {ledger}"
  max_parallel: 2
reduce:
  - shell: "echo reduce-${{map.successful}} >> {ledger}"
"""
ITEMS = 3


class Faults:
    """Counts storage operations and makes operation number `at` fail with `kind`."""

    def __init__(self, kind: str | None = None, at: int = 0) -> None:
        self.kind, self.at = kind, at
        self.count = 0
        self.triggered = False
        self._disk_full = False

    def _hit(self, is_write: bool) -> bool:
        if self.kind == "short" and not is_write:
            return False
        self.count += 1
        if self.count == self.at and self.kind is not None:
            self.triggered = True
            return True
        return False

    def error(self) -> OSError:
        code = errno.EIO if self.kind == "eio" else errno.ENOSPC
        return OSError(code, os.strerror(code))

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
        real = {name: getattr(storage, name) for name in ("_open", "_write", "_fsync", "_replace", "_mkdir")}

        def guard(name: str) -> Callable[..., object]:
            def call(*args: object) -> object:
                if self._hit(False):
                    raise self.error()
                return real[name](*args)
            return call

        def write(fd: int, data: memoryview) -> int:
            if self._disk_full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if self._hit(True):
                if self.kind != "short" or len(data) < 2:
                    raise self.error()
                self._disk_full = True  # half the record reaches the disk, then the disk is full
                return real["_write"](fd, data[: len(data) // 2])
            return real["_write"](fd, data)

        with monkeypatch.context() as patch:
            for name in ("_open", "_fsync", "_replace", "_mkdir"):
                patch.setattr(storage, name, guard(name))
            patch.setattr(storage, "_write", write)
            yield self


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(cli, list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _journal_facts(home: Path) -> tuple[set[str], set[int]]:
    """What the journal durably says is done: {"setup", "reduce"} steps and item indexes."""
    steps: set[str] = set()
    items: set[int] = set()
    for journal in home.glob("state/*/mapreduce/jobs/*/journal.jsonl"):
        for record in support.journal_records(journal):
            if record.get("t") in ("setup_step", "reduce_step"):
                steps.add(record["t"].split("_")[0])
            elif record.get("t") == "done" and record.get("s", "succeeded") == "succeeded":
                items.add(record["i"])
    return steps, items


def _ledger(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture
def job(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], tuple[Path, Path, Path]]:
    """job(name) -> (PRODIGY_HOME, run directory, ledger), fresh for each attempt."""
    def make(name: str) -> tuple[Path, Path, Path]:
        base = isolated_home.parent / "faults" / name
        home, work = base / "home", base / "work"
        work.mkdir(parents=True)
        ledger = base / "ledger"
        support.write_workflow(work, WORKFLOW.format(ledger=ledger))
        (work / "items.json").write_text(json.dumps([{"n": n} for n in range(ITEMS)]))
        monkeypatch.setenv("PRODIGY_HOME", str(home))
        monkeypatch.chdir(work)
        return home, work, ledger
    return make


def _count_operations(job: Callable[[str], tuple[Path, Path, Path]], capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch, kind: str) -> int:
    home, work, ledger = job(f"count-{kind}")
    with Faults(kind, at=0).installed(monkeypatch) as faults:
        code, out, err = invoke(capsys, "run", "workflow.yml", "--no-worktree")
    assert code == 0, (out, err)
    return faults.count


def _one_fault(job: Callable[[str], tuple[Path, Path, Path]], capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch, kind: str, at: int) -> None:
    home, work, ledger = job(f"{kind}-{at}")
    with Faults(kind, at).installed(monkeypatch) as faults:
        code, out, err = invoke(capsys, "run", "workflow.yml", "--no-worktree")
    where = f"{kind} at storage operation {at}"
    if not faults.triggered:  # fsyncs shared between threads make the count vary by one or two between runs
        assert code == 0 and at > 20, (where, out, err)
        return
    assert code == 6, f"{where}: exit {code}\n{out}\n{err}"
    assert "prodigy's state file" in err and ("Free space" in err or "fix the disk" in err), (where, err)
    steps, items = _journal_facts(home)
    before = _ledger(ledger)
    sessions = sorted((home / "sessions").glob("session-*.json")) if (home / "sessions").is_dir() else []
    if sessions:
        session = sessions[0].stem
        assert f"prodigy resume {session}" in err, (where, err)
        code, out, err = invoke(capsys, "resume", session, "--yes")
        assert code in (0, 5), f"{where}: resume exit {code}\n{out}\n{err}"
    else:  # the failure came before the session was recorded: nothing ran, nothing to resume
        assert "run the workflow again" in err, (where, err)
        assert not before, where
        code, out, err = invoke(capsys, "run", "workflow.yml", "--no-worktree")
        assert code == 0, f"{where}: second run exit {code}\n{out}\n{err}"
    after = _ledger(ledger)
    assert not list(home.glob("logs/crashes/*")), where
    if "setup" in steps:
        assert after["setup"] == before["setup"] == 1, f"{where}: setup ran again"
    if "reduce" in steps:
        assert after[f"reduce-{ITEMS}"] == before[f"reduce-{ITEMS}"] == 1, f"{where}: reduce ran again"
    for index in items:
        assert after[f"item-{index}"] == before[f"item-{index}"] == 1, f"{where}: item {index} ran again"
    for index in range(ITEMS):
        assert after[f"item-{index}"] >= 1, f"{where}: item {index} never ran"
    assert after["setup"] >= 1 and after[f"reduce-{ITEMS}"] >= 1, f"{where}: {after}"
    _, final_items = _journal_facts(home)
    assert final_items == set(range(ITEMS)), where


@pytest.mark.parametrize("kind", ["enospc", "eio", "short"])
def test_every_state_write_failing_in_turn_then_resume(kind: str, job: Callable[[str], tuple[Path, Path, Path]],
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Durability is not under test here (the failure paths are), and hundreds of runs must stay quick.
    monkeypatch.setattr(storage, "_fsync", lambda fd: None)
    monkeypatch.setattr(atomic, "fsync_dir", lambda path: None)
    total = _count_operations(job, capsys, monkeypatch, kind)
    assert total > 20, total  # the job really writes its state through storage.py
    for at in range(1, total + 1):
        _one_fault(job, capsys, monkeypatch, kind, at)
