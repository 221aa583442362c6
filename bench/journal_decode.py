"""What checking every journal record costs: json.loads alone, json.loads with hand-written checks, and the
msgspec decoding prodigy uses (state/records.py), on a journal of N items (a start and a done record each).

    python bench/journal_decode.py [--items 200000]

The journal is read on every resume (its tail after the snapshot, the whole of it when the snapshot is
unusable, and by `checkpoints validate`), so the check must cost little.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from prodigy.state.records import decode_journal_line  # noqa: E402


def _is_int(v: object) -> bool:
    return type(v) is int


def _is_num(v: object) -> bool:
    return type(v) in (int, float)


REQUIRED = {"start": (("i", _is_int),), "done": (("i", _is_int),), "items_frozen": (("count", _is_int),)}
OPTIONAL = {"start": (("a", _is_int), ("pid", _is_int), ("pg", _is_int), ("st", _is_num), ("ts", _is_num)),
            "done": (("a", _is_int), ("d", _is_num), ("x", _is_int), ("out", lambda v: type(v) is str),
                     ("ts", _is_num))}


def hand_checked(raw: bytes) -> dict | None:
    record = json.loads(raw)
    if type(record) is not dict:
        return None
    kind = record.get("t")
    for key, check in REQUIRED.get(kind, ()):
        value = record.get(key)
        if value is None or not check(value) or value < 0:
            return None
    for key, check in OPTIONAL.get(kind, ()):
        value = record.get(key)
        if value is not None and not check(value):
            return None
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "journal.jsonl"
    with open(path, "w") as handle:
        handle.write(json.dumps({"t": "items_frozen", "count": args.items, "ts": 1.0}) + "\n")
        for i in range(args.items):
            handle.write(json.dumps({"t": "start", "i": i, "pid": 1000 + i, "st": 1764620000.12,
                                     "ts": 1764620000.123}, separators=(",", ":")) + "\n")
            handle.write(json.dumps({"t": "done", "i": i, "d": 0.013, "x": 0, "out": "ok", "ts": 1764620000.223},
                                    separators=(",", ":")) + "\n")
    lines = path.read_bytes().splitlines(keepends=True)
    print(f"{len(lines):,} records, {path.stat().st_size // 1024:,} KiB")
    for name, decode in [("json.loads, unchecked", json.loads), ("json.loads + hand checks", hand_checked),
                         ("msgspec typed check (prodigy)", decode_journal_line)]:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for raw in lines:
                decode(raw)
            best = min(best, time.perf_counter() - started)
        print(f"  {name:32s} {best * 1000:7.0f} ms  {best / len(lines) * 1e6:.2f} us/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
