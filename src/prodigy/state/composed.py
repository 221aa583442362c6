"""The resolved form of a composed workflow, kept with its session (state/{session_id}/workflow.composed.json):
a resume runs what started, even when a file it was composed from changed since."""

from __future__ import annotations

from typing import Any

from prodigy import paths
from prodigy.state.atomic import read_json, write_json


def save(session_id: str, composition: dict[str, Any]) -> None:
    write_json(paths.composed_file(session_id), {"composition": composition})


def load(session_id: str) -> dict[str, Any] | None:
    try:
        data = read_json(paths.composed_file(session_id), what="kept composed workflow")
    except FileNotFoundError:
        return None
    doc = data.get("composition")
    return doc if isinstance(doc, dict) else None
