"""A fuzzer for state files: the journal, the job snapshot, job.json, session records and standard checkpoints
of real runs are mutated byte-wise and field-wise, then read by every command that reads them (resume,
checkpoints validate/show, dlq list, sessions list/show, events). Whatever the damage, prodigy answers with a
clear error or recovers; it never exits 70 (a bug) and never leaves a crash log.

Examples are derandomized and few, so the suite is quick and the same every run; set PRODIGY_FUZZ_EXAMPLES
to run many more when changing the state code.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from prodigy.cli import cli
from prodigy.cli.errors import run_cli
from prodigy.state import atomic, storage

EXAMPLES = int(os.environ.get("PRODIGY_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

MAPREDUCE = """
name: fuzzed
mode: mapreduce
setup:
  - shell: "echo ready"
    capture: ready
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "test ${item.ok} = true"
  max_parallel: 2
reduce:
  - shell: "echo ${map.successful}"
"""
STANDARD = """
name: standard
commands:
  - shell: "echo one"
  - shell: "exit 3"
"""


@dataclass(frozen=True)
class Pristine:
    home: Path
    work: Path
    session: str
    job: str
    standard: str


def invoke(*args: str) -> int:
    return run_cli(cli, list(args))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    base = tmp_path_factory.mktemp("fuzz")
    home, work = base / "home", base / "work"
    work.mkdir()
    support.write_workflow(work, MAPREDUCE)
    support.write_workflow(work, STANDARD, "standard.yml")
    (work / "items.json").write_text(json.dumps([{"ok": True}, {"ok": False}, {"ok": True}, {"ok": True}]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRODIGY_HOME", str(home))
        patch.chdir(work)
        assert invoke("run", "workflow.yml", "--no-worktree") == 3  # one item in the DLQ
        assert invoke("run", "standard.yml", "--no-worktree") == 1
    sessions = {json.loads(p.read_text())["kind"]: p.stem for p in (home / "sessions").glob("*.json")}
    job = json.loads((home / "sessions" / f"{sessions['mapreduce']}.json").read_text())["job_id"]
    return Pristine(home, work, sessions["mapreduce"], job, sessions["workflow"])


@pytest.fixture
def damaged(pristine: Pristine, isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Callable[[Callable[[Path], None]], None]:
    """damaged(mutate): a fresh copy of the pristine state, mutated, then read by every command."""
    monkeypatch.setattr(storage, "_fsync", lambda fd: None)  # durability is not under test; keep it quick
    monkeypatch.setattr(atomic, "fsync_dir", lambda path: None)
    counter = iter(range(10**6))

    def check(mutate: Callable[[Path], None]) -> None:
        home = isolated_home.parent / f"fuzzed-{next(counter)}"
        shutil.copytree(pristine.home, home, symlinks=True)
        mutate(home)
        monkeypatch.setenv("PRODIGY_HOME", str(home))
        monkeypatch.chdir(pristine.work)
        commands = [
            ("checkpoints", "validate", pristine.job), ("checkpoints", "show", pristine.job),
            ("checkpoints", "validate", pristine.standard), ("dlq", "list", pristine.job),
            ("dlq", "show", pristine.job), ("events", pristine.job), ("sessions", "list"),
            ("sessions", "show", pristine.session), ("resume", pristine.session),
            ("resume", pristine.standard), ("checkpoints", "validate", pristine.job, "--repair"),
        ]
        for command in commands:
            code = invoke(*command)
            out, err = capsys.readouterr()
            assert code != 70, f"{' '.join(command)} crashed:\n{out}\n{err}"
            assert "Internal error" not in err, err
        assert not list(home.glob("logs/crashes/*"))
        shutil.rmtree(home, ignore_errors=True)

    return check


# ---------------------------------------------------------------- mutations

DELETE = object()
# Values of the wrong type or range are what a damaged record holds; a few of them reach every code path.
WRONG = [None, "many", "", -1, 0, 1.5, 2**70, -(2**70), True, [], {}, [1, 2], {"a": 1}, float("nan"), "item_1"]
VALUES = st.one_of(st.sampled_from([*WRONG, DELETE]), st.integers(-5, 5), st.text(max_size=3))
BYTE_EDITS = st.tuples(st.sampled_from(["flip", "cut", "insert", "truncate"]), st.integers(0, 10**6),
                       st.binary(min_size=1, max_size=8))

def _job_file(home: Path, name: str) -> Path:
    return next(home.glob(f"state/*/mapreduce/jobs/*/{name}"))


def _session_file(home: Path, kind: str) -> Path:
    return next(p for p in home.glob("sessions/*.json") if json.loads(p.read_text())["kind"] == kind)


def _checkpoint_file(home: Path) -> Path:
    return next(home.glob("state/session-*/checkpoints/checkpoint.json"))


FILES: dict[str, Callable[[Path], Path]] = {
    "journal": lambda h: _job_file(h, "journal.jsonl"),
    "snapshot": lambda h: _job_file(h, "checkpoint.json"),
    "job.json": lambda h: _job_file(h, "job.json"),
    "session": lambda h: _session_file(h, "mapreduce"),
    "standard session": lambda h: _session_file(h, "workflow"),
    "standard checkpoint": _checkpoint_file,
}


def _edit_bytes(path: Path, edit: tuple[str, int, bytes]) -> None:
    kind, where, data = edit
    raw = path.read_bytes()
    at = where % (len(raw) + 1)
    if kind == "flip" and raw:
        at = min(at, len(raw) - 1)
        raw = raw[:at] + bytes([raw[at] ^ data[0]]) + raw[at + 1:]
    elif kind == "cut":
        raw = raw[:at] + raw[at + len(data):]
    elif kind == "insert":
        raw = raw[:at] + data + raw[at:]
    else:
        raw = raw[:at]
    path.write_bytes(raw)


def _set(container: Any, key: Any, value: Any) -> None:
    value = value if value is DELETE else copy.deepcopy(value)  # never the shared list or dict of WRONG
    if value is DELETE:
        if isinstance(container, dict):
            container.pop(key, None)
        elif isinstance(container, list) and container:
            container.pop(key % len(container))
    elif isinstance(container, dict):
        container[key] = value
    elif isinstance(container, list) and container:
        container[key % len(container)] = value


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place inside a JSON value that a field-wise mutation can hit."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:6]):
            found += _paths(child, (*prefix, index))
    return found


def _edit_field(data: Any, choice: int, value: Any) -> Any:
    places = _paths(data)
    if not places:
        return value
    place = places[choice % len(places)]
    container = data
    for key in place[:-1]:
        container = container[key]
    _set(container, place[-1], value)
    return data


def _edit_json_file(path: Path, edits: list[tuple[int, Any]]) -> None:
    data = json.loads(path.read_text())
    for choice, value in edits:
        data = _edit_field(data, choice, value)
    path.write_text(json.dumps(data))


def _edit_journal_lines(path: Path, edits: list[tuple[int, int, Any]]) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    for line, choice, value in edits:
        at = line % len(lines)
        lines[at] = json.dumps(_edit_field(json.loads(lines[at]), choice, value)).encode() + b"\n"
    path.write_bytes(b"".join(lines))


# ---------------------------------------------------------------- the fuzzers


CHOICE = st.integers(0, 10**6)


@FUZZ
@given(name=st.sampled_from(sorted(FILES)), edits=st.lists(BYTE_EDITS, min_size=1, max_size=3))
def test_byte_wise_damage_never_crashes_a_reader(damaged, name: str, edits: list[tuple[str, int, bytes]]) -> None:
    def mutate(home: Path) -> None:
        path = FILES[name](home)
        for edit in edits:
            _edit_bytes(path, edit)
    damaged(mutate)


@FUZZ
@given(name=st.sampled_from(sorted(set(FILES) - {"journal"})),
       edits=st.lists(st.tuples(CHOICE, VALUES), min_size=1, max_size=3))
def test_field_wise_damage_of_json_records_never_crashes_a_reader(damaged, name: str,
                                                                  edits: list[tuple[int, Any]]) -> None:
    damaged(lambda home: _edit_json_file(FILES[name](home), edits))


@FUZZ
@given(edits=st.lists(st.tuples(CHOICE, CHOICE, VALUES), min_size=1, max_size=4))
def test_field_wise_damage_of_journal_records_never_crashes_a_reader(damaged,
                                                                     edits: list[tuple[int, int, Any]]) -> None:
    damaged(lambda home: _edit_journal_lines(FILES["journal"](home), edits))
