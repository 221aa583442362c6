"""Conversion records: which session of the original (Rust) prodigy became which of ours, from which files.

    legacy/conversions/{original_id}.json   the record (original files with fingerprints, our ids, the report)
    legacy/aliases/{other_id}.json          {original_id}: the original's job and checkpoint ids lead here

The original's files are never written; this record sits beside them so the conversion can be checked
(did the originals change since?) and redone (`prodigy migrate --redo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import StateError
from prodigy.state.atomic import read_json, write_json
from prodigy.state.cleanup import remove_paths


def save(original_id: str, record: dict[str, Any], aliases: list[str]) -> Path:
    """Aliases first, the record last: a crash in between leaves no record, so the conversion runs again."""
    for alias in sorted(set(aliases) - {original_id}):
        write_json(paths.conversion_alias_file(alias), {"original_id": original_id})
    path = paths.conversion_file(original_id)
    write_json(path, {"original_id": original_id, **record})
    return path


def load(original_id: str) -> dict[str, Any] | None:
    path = paths.conversion_file(original_id)
    try:
        return read_json(path, what="conversion record")
    except FileNotFoundError:
        return None


def lookup(any_id: str) -> dict[str, Any] | None:
    """The conversion record for an original session id or one of its aliases (job id, checkpoint id)."""
    found = load(any_id)
    if found is not None:
        return found
    try:
        alias = read_json(paths.conversion_alias_file(any_id), what="conversion alias")
    except FileNotFoundError:
        return None
    original = alias.get("original_id")
    if not isinstance(original, str):
        raise StateError(f"The conversion alias {paths.conversion_alias_file(any_id)} has no original_id.")
    return load(original)


def remove(original_id: str, aliases: list[str]) -> None:
    remove_paths([paths.conversion_alias_file(a) for a in aliases if a != original_id]
                 + [paths.conversion_file(original_id)])
