"""${map.*} for reduce, computed from the journal (invariant 2). ${map.results} is read lazily, one terminal
record per item, only when a reduce step refers to it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prodigy.state.jobs import DLQ, PURGED, SKIPPED, SUCCEEDED, JobState, JobStore, item_id


def counts(state: JobState) -> dict[str, int]:
    total = state.item_count or 0
    succeeded = state.count(SUCCEEDED)
    failed = state.count(DLQ, SKIPPED, PURGED)
    return {"total": total, "successful": succeeded, "failed": failed,
            "dlq": state.count(DLQ), "pending": max(total - succeeded - failed, 0)}


def result_entry(store: JobStore, state: JobState, index: int) -> dict[str, Any]:
    item = state.items.get(index)
    record = store.record_at(item.offset) if item else None
    if record is not None and record.get("i") != index:
        record = None  # the journal was damaged under this offset; report what the fold knows
    status = item.status if item else "pending"
    return {
        "item_id": item_id(index),
        "status": {"dlq": "failed", "purged": "failed"}.get(status, status),
        "attempts": item.attempts if item else 0,
        "exit_code": record.get("x", 0 if record.get("s", "succeeded") == "succeeded" else None) if record else None,
        "output": record.get("out") if record else None,
        "duration": record.get("d") if record else None,
        "error": record.get("err") if record else None,
        "log_path": record.get("log") if record else None,
    }


class MapVariables(Mapping[str, Any]):
    def __init__(self, store: JobStore, state: JobState) -> None:
        self._store = store
        self._state = state
        numbers = counts(state)
        total = numbers["total"]
        self._values: dict[str, Any] = {
            "map.total": total,
            "map.successful": numbers["successful"],
            "map.failed": numbers["failed"],
            "map.success_rate": round(100.0 * numbers["successful"] / total, 1) if total else 0.0,
        }
        self._results: list[dict[str, Any]] | None = None

    def _all_results(self) -> list[dict[str, Any]]:
        if self._results is None:
            self._results = [result_entry(self._store, self._state, i) for i in range(self._state.item_count or 0)]
        return self._results

    def __getitem__(self, key: str) -> Any:
        if key == "map.results":
            return self._all_results()
        if key == "map":
            return {**{k[4:]: v for k, v in self._values.items()}, "results": self._all_results()}
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield "map.results"
        yield "map"

    def __len__(self) -> int:
        return len(self._values) + 2

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in ("map.results", "map")

    def env(self) -> dict[str, str]:
        return {"PRODIGY_MAP_TOTAL": str(self._values["map.total"]),
                "PRODIGY_MAP_SUCCESSFUL": str(self._values["map.successful"]),
                "PRODIGY_MAP_FAILED": str(self._values["map.failed"])}
