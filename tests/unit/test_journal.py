"""Append-only JSON-lines journals: durable appends, torn tails, garbled lines, offsets, threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from prodigy.state.journal import Journal, read_journal, read_record_at


def test_append_and_read(tmp_path: Path) -> None:
    path = tmp_path / "j" / "journal.jsonl"
    with Journal(path) as journal:
        first = journal.append({"n": 1})
        second = journal.append({"n": 2, "text": "é"})
        assert journal.offset == path.stat().st_size
    read = read_journal(path)
    assert read.records == [{"n": 1}, {"n": 2, "text": "é"}]
    assert read.offsets == [first, second] == [0, len(b'{"n":1}\n')]
    assert read.end_offset == path.stat().st_size
    assert read.warnings == []


def test_missing_journal_reads_empty(tmp_path: Path) -> None:
    read = read_journal(tmp_path / "none.jsonl")
    assert (read.records, read.end_offset, read.warnings) == ([], 0, [])


def test_torn_last_line_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append({"n": 1})
        journal.append({"n": 2})
    good_size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b'{"n": 3, "trunc')
    read = read_journal(path)
    assert read.records == [{"n": 1}, {"n": 2}]
    assert read.end_offset == good_size
    assert len(read.warnings) == 1 and "incomplete last record" in read.warnings[0] and str(path) in read.warnings[0]


def test_torn_tail_is_repaired_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append({"n": 1})
    with open(path, "ab") as handle:
        handle.write(b'{"n": 2, "torn')
    with Journal(path) as journal:
        journal.append({"n": 3})
    read = read_journal(path)
    assert read.records == [{"n": 1}, {"n": 3}]
    assert read.warnings == []


def test_a_file_that_is_only_a_torn_line_is_emptied_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"half')
    with Journal(path) as journal:
        journal.append({"n": 1})
    assert read_journal(path).records == [{"n": 1}]


def test_garbled_middle_line_is_skipped_without_hiding_later_records(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n": 1}\nnot json at all\n[1, 2]\n{"n": 4}\n')
    read = read_journal(path)
    assert read.records == [{"n": 1}, {"n": 4}]
    assert len(read.warnings) == 2 and all("unreadable record" in w for w in read.warnings)
    assert read.end_offset == path.stat().st_size


def test_read_from_offset(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append({"n": 1})
        middle = journal.append({"n": 2})
        journal.append({"n": 3})
    read = read_journal(path, start_offset=middle)
    assert read.records == [{"n": 2}, {"n": 3}]
    assert read.offsets[0] == middle
    assert read_record_at(path, middle) == {"n": 2}
    assert read_journal(path, start_offset=read.end_offset).records == []


def test_reopened_journal_continues_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append({"n": 1})
    with Journal(path) as journal:
        start = journal.offset
        assert journal.append({"n": 2}) == start
    assert [r["n"] for r in read_journal(path).records] == [1, 2]


def test_concurrent_appends_from_threads_are_all_present(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    threads_count, per_thread = 8, 100
    with Journal(path) as journal:
        def worker(t: int) -> None:
            for i in range(per_thread):
                journal.append({"t": t, "i": i, "pad": "x" * (i % 50)})

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    read = read_journal(path)
    assert read.warnings == []
    assert sorted((r["t"], r["i"]) for r in read.records) == [(t, i) for t in range(threads_count)
                                                              for i in range(per_thread)]
    for line in path.read_bytes().splitlines():
        json.loads(line)  # no interleaved writes


def test_append_many(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.append_many([{"n": i} for i in range(5)])
        journal.append_many([])
    assert [r["n"] for r in read_journal(path).records] == [0, 1, 2, 3, 4]
