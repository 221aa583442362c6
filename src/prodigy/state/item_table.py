"""The per-item part of a job's state, compact: an object per item only where there is something to say.

Nearly every item of a big job simply succeeded: its state is (succeeded, attempts, offset of its `done`
record) and nothing else. Those items live in three flat arrays indexed by item (a flag byte, the offset as
an unsigned 64-bit integer, the attempts as a 16-bit one: 11 bytes an item, against ~290 bytes for an
`ItemState`, its dict slot and its integers). Every other item (running, pending after a failure, in the
DLQ, skipped, purged, interrupted, given a retry budget) keeps a live `ItemState`. An item moves into the arrays when the fold sees
it succeed plainly, and back out (`materialise`) the moment anything changes it again.

Reading is the same as from a dict of `ItemState`: `get`, `[]`, `in`, `len`, iteration. An `ItemState` read
for a compact item is a copy: change items through `JobState.item()` (which materialises them), never through
what `get` returned. `tracked()` is the dict of live objects alone: every item that is not a plain success,
which is what a resume looks at (in flight, interrupted, pending after a failure).

The arrays are written into the snapshot as one zlib-compressed block (`dump_compact` / `load_compact`):
about 3 bytes an item on disk.
"""

from __future__ import annotations

import base64
import sys
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

# Item statuses in the fold.
PENDING = "pending"
RUNNING = "running"  # started, no terminal record yet (in flight, or orphaned by a crash)
SUCCEEDED = "succeeded"
DLQ = "dlq"  # failed after its retries; retried only by resume --force / dlq retry
SKIPPED = "skipped"  # failed under on_item_failure: skip (accepted, never retried)
PURGED = "purged"  # dropped from the DLQ by `prodigy dlq purge`

MAX_COMPACT_ATTEMPTS = 0xFFFF  # attempts of a compact item fit in 16 bits; more stay an object
_NO_OFFSET = 2**64 - 1  # a compact item whose done record's offset is unknown (re-recorded by a repair)
_ITEM_BYTES = 11  # flag + offset (8) + attempts (2)


@dataclass(slots=True)
class ItemState:
    status: str = PENDING
    attempts: int = 0  # the highest attempt number seen
    offset: int | None = None  # journal offset of the last terminal ("done") record
    failures: list[int] | None = None  # offsets of failed attempts' records (None: none yet)
    proc: list[Any] | None = None  # [pid, pgid, start_time(, worker)] of the running attempt's latest command
    retry_budget: int | None = None  # attempts allowed in the current round (set by --force)
    round_attempts: int = 0  # attempts made in the current round
    interrupted: bool = False  # its last attempt was cut short by an interrupt or a crash
    # What the last attempt got done, while it may be continued: {"a": attempt, "steps": {k: vars} of the
    # template steps it completed, "parts": {k: progress inside step k (its agent's conversation)}}
    progress: dict[str, Any] | None = None

    def to_list(self) -> list[Any]:
        values = [self.status, self.attempts, self.offset, self.failures, self.proc, self.retry_budget,
                  self.round_attempts, self.interrupted]
        return values if self.progress is None else [*values, self.progress]

    @classmethod
    def from_list(cls, data: list[Any]) -> ItemState:
        return cls(*data)

    @property
    def plain(self) -> bool:
        """Succeeded in its first round with nothing else to remember: it can live in the arrays. (A process
        recorded after its success, which only a damaged journal has, is not kept: it was never kept in
        the snapshot either.)"""
        return (self.status == SUCCEEDED and not self.failures and self.retry_budget is None
                and not self.interrupted and self.progress is None and self.round_attempts == self.attempts
                and 0 < self.attempts <= MAX_COMPACT_ATTEMPTS
                and (self.offset is None or 0 <= self.offset < _NO_OFFSET))


class ItemTable:
    """Item index -> ItemState, with the plain successes kept in arrays (see the module docstring)."""

    __slots__ = ("_live", "_flags", "_offsets", "_attempts", "_compact", "limit", "tally")

    def __init__(self, items: dict[int, ItemState] | None = None, *, limit: int = 0) -> None:
        self._live: dict[int, ItemState] = {}
        self._flags = bytearray()  # 1 at i: item i is compact
        self._offsets = array("Q")  # unsigned: every value is an offset (or _NO_OFFSET)
        self._attempts = array("H")
        self._compact = 0
        self.limit = limit  # only indexes below it are made compact (the frozen item count)
        self.tally: dict[str, int] = {}  # status -> items of the table in that status
        for index, item in (items or {}).items():
            self[index] = item

    # -- reading, as a dict of ItemState
    def _is_compact(self, index: int) -> bool:
        return 0 <= index < len(self._flags) and self._flags[index] == 1

    def _copy(self, index: int) -> ItemState:
        attempts = self._attempts[index]
        offset = self._offsets[index]
        return ItemState(SUCCEEDED, attempts, None if offset == _NO_OFFSET else offset, round_attempts=attempts)

    def get(self, index: int, default: ItemState | None = None) -> ItemState | None:
        item = self._live.get(index)
        if item is not None:
            return item
        return self._copy(index) if self._is_compact(index) else default

    def __getitem__(self, index: int) -> ItemState:
        item = self.get(index)
        if item is None:
            raise KeyError(index)
        return item

    def __contains__(self, index: object) -> bool:
        return index in self._live or (isinstance(index, int) and self._is_compact(index))

    def __len__(self) -> int:
        return len(self._live) + self._compact

    def __iter__(self) -> Iterator[int]:
        yield from self._live
        yield from self.compact_indexes()

    def keys(self) -> Iterator[int]:
        return iter(self)

    def values(self) -> Iterator[ItemState]:
        for _index, item in self.items():
            yield item

    def items(self) -> Iterator[tuple[int, ItemState]]:
        yield from self._live.items()
        for index in self.compact_indexes():
            yield index, self._copy(index)

    def tracked(self) -> dict[int, ItemState]:
        """The live objects: every item that is not a plain success. Read it; do not change it."""
        return self._live

    def status_of(self, index: int) -> str:
        item = self._live.get(index)
        if item is not None:
            return item.status
        return SUCCEEDED if self._is_compact(index) else PENDING

    def compact_indexes(self) -> Iterator[int]:
        flags, pos = self._flags, self._flags.find(1)
        while pos >= 0:
            yield pos
            pos = flags.find(1, pos + 1)

    def not_compact_below(self, stop: int) -> Iterator[int]:
        """Indexes 0..stop-1 that are not compact, in order; fast when nearly all are."""
        flags = self._flags
        end = min(stop, len(flags))
        pos = flags.find(0, 0, end)
        while pos >= 0:
            yield pos
            pos = flags.find(0, pos + 1, end)
        yield from range(max(end, 0), stop)

    def _trimmed(self) -> tuple[bytes, bytes, bytes]:
        size = len(self._flags.rstrip(b"\x00"))
        return bytes(self._flags[:size]), self._offsets[:size].tobytes(), self._attempts[:size].tobytes()

    def differing(self, other: ItemTable) -> list[int]:
        """Indexes whose state differs between the two tables, in order."""
        candidates = set(self._live) | set(other._live)
        if self._trimmed() != other._trimmed():
            candidates |= set(self.compact_indexes()) | set(other.compact_indexes())
        return sorted(i for i in candidates if self.get(i) != other.get(i))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            other = ItemTable(other)
        if not isinstance(other, ItemTable):
            return NotImplemented
        return len(self) == len(other) and all(other.get(i) == item for i, item in self.items())

    def __repr__(self) -> str:
        return f"ItemTable({len(self._live)} tracked, {self._compact} compact)"

    # -- changing
    def _count(self, status: str, by: int) -> None:
        self.tally[status] = self.tally.get(status, 0) + by

    def __setitem__(self, index: int, item: ItemState) -> None:
        if self._is_compact(index):
            self._drop_compact(index)
        else:
            old = self._live.get(index)
            if old is not None:
                self._count(old.status, -1)
        self._live[index] = item
        self._count(item.status, 1)

    def materialise(self, index: int) -> ItemState | None:
        """The live object of an item, moving it out of the arrays if it is there; None if never seen."""
        item = self._live.get(index)
        if item is None and self._is_compact(index):
            item = self._copy(index)
            self._drop_compact(index)
            self._live[index] = item
            self._count(SUCCEEDED, 1)
        return item

    def add(self, index: int) -> ItemState:
        """A new pending item (one that was never seen)."""
        item = self._live[index] = ItemState()
        self._count(PENDING, 1)
        return item

    def settle(self, index: int) -> None:
        """After a change to a live item: keep it in the arrays if it is now a plain success."""
        item = self._live.get(index)
        if item is None or not item.plain or not 0 <= index < self.limit:
            return
        del self._live[index]
        self._put_compact(index, item.attempts, _NO_OFFSET if item.offset is None else item.offset)

    def _grow(self, index: int) -> None:
        have = len(self._flags)
        if index < have:
            return
        size = min(self.limit, max(index + 1, have * 2, 1024))
        more = size - have
        self._flags.extend(bytes(more))
        self._offsets.frombytes(bytes(8 * more))
        self._attempts.frombytes(bytes(2 * more))

    def _put_compact(self, index: int, attempts: int, offset: int) -> None:
        self._grow(index)
        self._flags[index] = 1
        self._offsets[index] = offset
        self._attempts[index] = attempts
        self._compact += 1  # its status (succeeded) was counted while it was live, and stays counted

    def _drop_compact(self, index: int) -> None:
        self._flags[index] = 0
        self._offsets[index] = self._attempts[index] = 0  # so that equal tables dump the same bytes
        self._compact -= 1
        self._count(SUCCEEDED, -1)

    # -- the snapshot form
    def dump_compact(self) -> dict[str, Any] | None:
        """The arrays as a snapshot block, with the live items that are plain successes folded in."""
        extra = [(i, item) for i, item in self._live.items() if item.plain and 0 <= i < self.limit]
        if not self._compact and not extra:
            return None
        # The arrays grow ahead of the items; what is past the last compact item is not kept.
        size = max(len(self._flags.rstrip(b"\x00")), *(i + 1 for i, _ in extra)) if extra else len(
            self._flags.rstrip(b"\x00"))
        flags = bytearray(self._flags[:size].ljust(size, b"\x00"))
        offsets, attempts = self._offsets[:size], self._attempts[:size]
        offsets.frombytes(bytes(8 * (size - len(offsets))))
        attempts.frombytes(bytes(2 * (size - len(attempts))))
        for index, item in extra:
            flags[index] = 1
            offsets[index] = _NO_OFFSET if item.offset is None else item.offset
            attempts[index] = item.attempts
        if sys.byteorder != "little":
            offsets.byteswap()
            attempts.byteswap()
        raw = bytes(flags) + offsets.tobytes() + attempts.tobytes()
        return {"n": size, "count": self._compact + len(extra),
                "z": base64.b64encode(zlib.compress(raw, 1)).decode("ascii")}

    def dumped_live(self) -> dict[int, ItemState]:
        """The live items the snapshot keeps as objects (the others are in `dump_compact`'s block). A plain
        success outside the block (an index past the frozen count, which only a damaged journal names) drops a
        process recorded after its success, as the block does."""
        kept = {}
        for i, item in self._live.items():
            if item.plain:
                if 0 <= i < self.limit:
                    continue
                if item.proc is not None:
                    item = replace(item, proc=None)
            kept[i] = item
        return kept

    def load_plain(self, plain: list[int]) -> None:
        """The snapshot form before the compact block: a flat [index, offset, attempts, ...] list (its entries
        win over the `items` read before them, and a later entry over an earlier one, as they always did)."""
        live = self._live
        for pos in range(0, len(plain), 3):
            index, offset, attempts = plain[pos:pos + 3]
            if not (0 <= index < self.limit and 0 < attempts <= MAX_COMPACT_ATTEMPTS and offset < _NO_OFFSET):
                self[index] = ItemState(SUCCEEDED, attempts, None if offset < 0 else offset, round_attempts=attempts)
                continue
            old = live.pop(index, None)
            if old is not None:
                self._count(old.status, -1)
            if not self._is_compact(index):
                self._put_compact(index, attempts, 0)
                self._count(SUCCEEDED, 1)
            self._offsets[index] = _NO_OFFSET if offset < 0 else offset
            self._attempts[index] = attempts

    def load_compact(self, data: dict[str, Any]) -> None:
        """The arrays from `dump_compact`'s form (checked by records.compact_arrays first)."""
        flags, offsets, attempts = decode_compact(data)
        if len(flags) > self.limit:
            raise ValueError(f"its {len(flags)} items are more than the job's {self.limit}")
        for index in self._live:  # an object wins over the arrays (there is never both in what prodigy writes)
            if index < len(flags) and flags[index]:
                flags[index] = offsets[index] = attempts[index] = 0
        self._flags, self._offsets, self._attempts = flags, offsets, attempts
        self._compact = len(flags) - flags.count(0)
        self._count(SUCCEEDED, self._compact)


def decode_compact(data: dict[str, Any]) -> tuple[bytearray, array, array]:
    """(flags, offsets, attempts) of a snapshot's compact block; ValueError when it is not one."""
    size = data["n"]
    if type(size) is not int or size < 0:
        raise ValueError("its size `n` is not a count")
    expected = size * _ITEM_BYTES
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(base64.b64decode(data["z"], validate=True), expected + 1)
    except (zlib.error, ValueError, TypeError) as exc:
        raise ValueError(f"its block does not decode ({exc})") from None
    if len(raw) != expected or inflate.unconsumed_tail or not inflate.eof:
        raise ValueError(f"its block does not hold {size} items")
    flags = bytearray(raw[:size])
    offsets, attempts = array("Q"), array("H")
    offsets.frombytes(raw[size:size * 9])
    attempts.frombytes(raw[size * 9:])
    if sys.byteorder != "little":
        offsets.byteswap()
        attempts.byteswap()
    if flags.translate(None, b"\x00\x01"):
        raise ValueError("its flags are not 0 or 1")
    if size and flags[size - 1] != 1:
        raise ValueError("it does not end on a compact item")
    if data.get("count") is not None and data["count"] != size - flags.count(0):
        raise ValueError("its count does not match its flags")
    return flags, offsets, attempts
