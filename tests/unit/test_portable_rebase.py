"""portable/rebase.py: paths under the old checkout and home move; text and other paths stay; process records go."""

from __future__ import annotations

import json

from prodigy.portable.rebase import Prefixes, rebase_checkpoint, rebase_journal, rebase_lines

P = Prefixes.of({"/runner1/repo": "/b/clone", "/runner1/repo/.prodigy": "/h2", "/same": "/same", "rel": "/x"})


def test_prefixes_longest_first_exact_and_under_only() -> None:
    assert P.pairs == (("/runner1/repo/.prodigy", "/h2"), ("/runner1/repo", "/b/clone"))  # no-ops and relatives gone
    assert P.path("/runner1/repo") == "/b/clone"
    assert P.path("/runner1/repo/wf.yml") == "/b/clone/wf.yml"
    assert P.path("/runner1/repo/.prodigy/logs/x") == "/h2/logs/x"
    assert P.path("/runner1/repository/x") == "/runner1/repository/x"  # a sibling with the same start is not under it
    assert P.path("see /runner1/repo/wf.yml") == "see /runner1/repo/wf.yml"  # only whole values that are paths


def test_values_recursively_but_not_captured_text() -> None:
    data = {"run_dir": "/runner1/repo/sub", "extra": {"worktree": {"path": "/runner1/repo/.prodigy/wt"},
                                                     "list": ["/runner1/repo/a", 3, None]},
            "out": "/runner1/repo/printed", "error": "/runner1/repo/x failed"}
    assert P.value(data) == {"run_dir": "/b/clone/sub", "extra": {"worktree": {"path": "/h2/wt"},
                                                                 "list": ["/b/clone/a", 3, None]},
                             "out": "/runner1/repo/printed", "error": "/runner1/repo/x failed"}


def _journal(*records: dict) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def test_journal_keeps_unchanged_lines_byte_for_byte_and_drops_processes_on_request() -> None:
    untouched = b'{"t": "run",  "cid": "abc"}\n'  # odd spacing survives: the line is not re-encoded
    data = untouched + _journal(
        {"t": "start", "i": 0, "pid": 10, "pg": 11, "st": 1.5, "w": "tcp://h:1", "ts": 1},
        {"t": "proc", "i": 0, "pid": 12, "st": 2.0},
        {"t": "proc", "ph": "setup", "k": 0, "pid": 13, "st": 2.0},
        {"t": "done", "i": 0, "log": "/runner1/repo/.prodigy/logs/claude/s/item_0-1-a.jsonl", "out": "/runner1/repo"},
    ) + b"garbage line\n" + b'{"t":"done","i":1'  # a torn tail stays as it was
    kept = rebase_journal(data, P, drop_processes=False)
    assert kept.startswith(untouched) and b'"pid":10' in kept and b'"ph":"setup"' in kept
    assert b'"log":"/h2/logs/claude/s/item_0-1-a.jsonl"' in kept and b'"out":"/runner1/repo"' in kept
    assert kept.endswith(b'garbage line\n{"t":"done","i":1')
    dropped = rebase_journal(data, P, drop_processes=True)
    lines = dropped.splitlines()
    assert json.loads(lines[1]) == {"t": "start", "i": 0, "ts": 1}
    assert not any(b'"t":"proc"' in line for line in lines)
    assert len(lines) == len(data.splitlines()) - 2


def test_event_lines_and_checkpoint() -> None:
    events = _journal({"event": "job_started", "workflow": "/runner1/repo/wf.yml"}, {"event": "x", "n": 1})
    assert rebase_lines(events, P) == _journal({"event": "job_started", "workflow": "/b/clone/wf.yml"},
                                               {"event": "x", "n": 1})
    checkpoint = {"workflow_path": "/runner1/repo/wf.yml",
                  "in_flight": {"index": 2, "pid": 5, "pgid": 5, "start_time": 1.0, "started_at": "t"}}
    assert rebase_checkpoint(checkpoint, P, drop_processes=True) == {
        "workflow_path": "/b/clone/wf.yml", "in_flight": {"index": 2, "started_at": "t"}}
    assert rebase_checkpoint(checkpoint, P, drop_processes=False)["in_flight"]["pid"] == 5
