"""`events stats` streamed (views/event_stats.py) gives what the dict-based compute_stats + agent_stats gave over
every event and record; the block decoder reads exactly the records the line-by-line reader reads, however
the journal is damaged; the two-process read of a big journal merges to the one-process answer."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.state import records
from prodigy.state.item_events import ItemEventDeriver
from prodigy.state.journal import read_journal, scan_journal, split_point
from prodigy.views import event_stats
from prodigy.views.event_stats import StatsAccumulator, scan_stats
from prodigy.views.events import agent_stats, compute_stats

AGS = [None, {"usd": 0.5, "in": 3}, {"usd": 2.0, "calls": 2}, {"in": 1, "partial": True}, {"usd": 0.25}]


def _record(rng: random.Random, n: int, t: float) -> dict[str, Any]:
    i = rng.randrange(n)
    a = rng.randint(1, 3)
    pick = rng.random()
    ts = round(t, 3)
    if pick < 0.2:  # a plain start: written as a compact row
        return {"t": "start", "i": i, "pid": 10, "st": round(t - 0.01, 2)}
    if pick < 0.35:
        return {"t": "start", "i": i, "a": a, "pid": 10, "st": round(t - 0.01, 2)}
    if pick < 0.8:
        record: dict[str, Any] = {"t": "done", "i": i, "a": a, "d": rng.choice([0.004, 0.5, 1.25, 3.0]), "ts": ts}
        status = rng.choice([None, None, None, "failed", "timed_out", "interrupted", "succeeded"])
        if status:
            record["s"] = status
        if status == "interrupted" and rng.random() < 0.5:
            record["k"] = rng.choice(["transient", "fatal", "other"])
        if status in ("failed", "timed_out") and rng.random() < 0.5:
            record["final"] = rng.choice(["dlq", "skip"])
        ag = rng.choice(AGS)
        if ag:
            record["ag"] = ag
        return record
    if pick < 0.85:
        return {"t": "spend", "ph": "reduce", "k": 0, "ag": {"usd": 0.05}, "ts": ts}
    if pick < 0.9:
        return {"t": "setup_step", "index": 0, "vars": {"x": [{"a": 1}, {"b": 2}]}, "ag": {"in": 2}, "ts": ts}
    if pick < 0.95:
        return {"t": "resume", "cid": f"c{rng.randrange(9)}", "ts": ts}
    return {"t": "some_newer_type", "x": 1, "ts": ts}


def _journal(path: Path, seed: int, n: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    written = [{"t": "items_frozen", "count": n, "ts": 1.0}]
    t = 1000.0
    for _ in range(count):
        t += rng.random()
        written.append(_record(rng, n, t))
    path.write_bytes(b"".join(records.encode_journal(r) + b"\n" for r in written))  # as the journal writes them
    return written


def _expected(path: Path, events_file: list[dict[str, Any]]) -> tuple[Any, Any]:
    journal = read_journal(path).records
    deriver = ItemEventDeriver(session_id="s", job_id="j")
    events = events_file + list(deriver.events(journal))
    events.sort(key=lambda e: str(e.get("ts") or ""))
    return compute_stats(events, job_id="j", session_id="s", path="p"), agent_stats(journal)


def _streamed(path: Path, events_file: list[dict[str, Any]], **scan: Any) -> tuple[Any, Any, list[str]]:
    acc = StatsAccumulator()
    for event in events_file:
        acc.event(event)
    warnings: list[str] = []
    scan_stats(acc, path, warnings, **scan) if scan else scan_stats(acc, path, warnings)
    return acc, acc.agents(), warnings


def _same(acc: StatsAccumulator, agents: Any, want: Any, want_agents: Any) -> None:
    succeeded, failed = acc.outcomes()
    assert (acc.total, dict(acc.by_type)) == (want.total, want.by_type)
    assert (succeeded, failed) == (want.items_succeeded, want.items_failed)
    assert acc.duration_figures() == want.durations
    assert agents == want_agents


FILE_EVENTS = [{"ts": "1970-01-01T00:00:00.500+00:00", "event": "job_started"},
               {"ts": "1970-01-01T00:16:40.000+00:00", "event": "resume_started", "correlation_id": "c1"},
               {"ts": "1970-01-01T00:16:41.000+00:00", "event": "resume_finished", "correlation_id": "c1",
                "status": "completed", "exit_code": 0}]


@pytest.mark.parametrize("seed", range(12))
def test_streamed_stats_are_the_dict_based_stats(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "journal.jsonl"
    _journal(path, seed, n=random.Random(seed).randint(1, 60), count=random.Random(seed).randint(0, 400))
    acc, agents, warnings = _streamed(path, FILE_EVENTS)
    want, want_agents = _expected(path, FILE_EVENTS)
    assert warnings == []
    _same(acc, agents, want, want_agents)


@pytest.mark.parametrize("seed", range(6))
def test_two_processes_merge_to_the_one_process_answer(tmp_path: Path, seed: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    _journal(path, seed, n=40, count=3000)
    monkeypatch.setattr(event_stats, "PARALLEL_FROM", 1)  # split even this small journal
    acc, agents, warnings = _streamed(path, FILE_EVENTS)
    want, want_agents = _expected(path, FILE_EVENTS)
    _same(acc, agents, want, want_agents)
    assert warnings == []


def test_a_failed_child_is_replaced_by_reading_its_half_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    _journal(path, 3, n=40, count=2000)
    monkeypatch.setattr(event_stats, "PARALLEL_FROM", 1)
    monkeypatch.setattr(event_stats, "_child_result", lambda pid, fd: (__import__("os").waitpid(pid, 0), None)[1])
    acc, agents, _ = _streamed(path, FILE_EVENTS)
    _same(acc, agents, *_expected(path, FILE_EVENTS))


def test_split_point_is_a_record_boundary(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"t":"run"}\n{"t":"run","cid":"abc"}\n')
    assert [split_point(path, at) for at in (0, 1, 12, 13, 30, 100)] == [0, 12, 12, 36, 36, 36]


# ---------------------------------------------------------------- the block decoder = the line reader


def _typed_lines(data: bytes, path: Path) -> tuple[list[Any], list[str]]:
    """What reading line by line gives: read_journal's records (as typed Structs) and warnings."""
    path.write_bytes(data)
    read = read_journal(path)
    found = [msgspec_convert(r) for r in read.records if r.get("t") in records.KNOWN_TYPES]
    return found, read.warnings


def msgspec_convert(record: dict[str, Any]) -> Any:
    import msgspec

    return msgspec.convert(records._finite(record), type=records.JournalRecord)


def _typed(found: list[Any]) -> list[Any]:
    """Start rows (tuples) as the Start records they are."""
    return [records.Start(i=r[1], pid=r[2], st=r[3]) if isinstance(r, tuple) else r for r in found]


def _damage(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(out) + 1)
        choice = rng.random()
        if choice < 0.25 and pos < len(out):
            del out[pos]
        elif choice < 0.5:
            out[pos:pos] = rng.choice([b"\n", b",", b"}", b"{", b" ", b"},{", b'"', b"\xff", b"NaN"])
        elif choice < 0.75 and pos < len(out):
            out[pos] = rng.randrange(256)
        else:
            nl = out.find(b"\n", pos)
            if nl >= 0:  # a newline becomes a comma, or a comma a newline: lines merge or split
                out[nl] = ord(",")
            comma = out.find(b",", rng.randrange(len(out) + 1))
            if comma >= 0:
                out[comma] = ord("\n")
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=16, max_value=400))
def test_the_block_decoder_reads_what_the_line_reader_reads(tmp_path: Path, seed: int, block: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / f"j{seed}.jsonl"
    written = [_record(rng, 5, 1000.0 + k) for k in range(rng.randint(1, 30))]
    data = b"".join(records.encode_journal(r) + b"\n" for r in written)
    if rng.random() < 0.8:
        data = _damage(rng, data)
    want, want_warnings = _typed_lines(data, path)
    warnings: list[str] = []
    got = [rec for part in scan_journal(path, warnings, block=block) for rec in part]
    assert _typed(got) == want
    assert warnings == want_warnings


def test_a_block_with_two_records_on_one_line_is_read_line_by_line() -> None:
    with pytest.raises(records.BadRecord):
        records.decode_journal_block(b'{"t":"run"} , {"t":"run"}\n{"t":"run"}\n')
    with pytest.raises(records.BadRecord):  # a record split over two lines, and two on one: counts agree
        records.decode_journal_block(b'{"t":"run","x":[1\n2]}\n{"t":"run"},{"t":"run"}\n')
    assert len(records.decode_journal_block(b'{"t":"run"}\n{"t":"map_done"}\n')) == 2
    with pytest.raises(records.BadRecord):  # the same with start rows
        records.decode_journal_block(b'["s",1,2,3.0],["s",2,2,3.0]\n{"t":"run","x":[1\n2]}\n')
    assert records.decode_journal_block(b'["s",1,2,3.0]\n') == [("s", 1, 2, 3.0)]


def test_a_plain_start_is_written_as_a_row_and_read_as_its_record() -> None:
    record = {"t": "start", "i": 7, "pid": 4242, "st": 1796173459.69}
    line = records.encode_journal(record)
    assert line == b'["s",7,4242,1796173459.69]' and records.decode_journal_line(line + b"\n") == record
    for other in ({**record, "a": 2}, {**record, "pg": 1}, {**record, "w": "tcp://h:1", "ts": 1.0},
                  {"t": "done", "i": 7, "d": 0.1}):
        assert records.encode_journal(other) == records.encode(other)  # anything else: its JSON object
    for bad in (b'["s",-1,2,3.0]\n', b'["x",1,2,3.0]\n', b'["s",1,2]\n', b'[1,2\n', b'["s",1,2,-3.0]\n'):
        with pytest.raises(records.BadRecord):
            records.decode_journal_line(bad)


def test_stats_json_of_a_real_journal_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"t": "done", "i": 0, "d": 1}) + "\n")
    acc, _agents, _ = _streamed(path, [])
    assert acc.outcomes() == (1, 0) and acc.duration_figures()["p50"] == 1.0


def test_a_start_is_dated_by_its_process_start_and_the_runs_offset() -> None:
    """Start records carry no ts: item_started is st + the run's sto (btime is whole seconds)."""
    records = [{"t": "run", "cid": "c1", "sto": 0.81}, {"t": "start", "i": 0, "pid": 5, "st": 100.0},
               {"t": "resume", "cid": "c2"}, {"t": "start", "i": 1, "pid": 6, "st": 200.0},
               {"t": "start", "i": 2, "pid": 7, "st": 300.0, "ts": 301.5, "w": "tcp://h:1"}]
    events = list(ItemEventDeriver(session_id="s", job_id="j").events(records))
    assert [e["ts"] for e in events] == ["1970-01-01T00:01:40.810+00:00", "1970-01-01T00:03:20.000+00:00",
                                        "1970-01-01T00:05:01.500+00:00"]
