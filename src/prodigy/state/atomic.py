"""The one way JSON state reaches disk: temp file in the same folder, fsync, os.replace, fsync the folder.

Readers check `schema_version`: older versions are migrated by the caller, newer ones are refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodigy.errors import StateError
from prodigy.state import storage

SCHEMA_VERSION = 1


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data file itself was synced
    finally:
        os.close(fd)


TEMP_SUFFIX = ".tmp"


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


def write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (0600, in a 0700 folder). A failure leaves the old content and no
    temp file, and raises StateWriteError."""
    storage.private_dir(path.parent)
    storage.confined(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise storage.failure(exc, path, "create") from exc
    try:
        try:
            storage.write_all(fd, data, path)
            storage.fsync(fd, path)
        finally:
            os.close(fd)
        storage.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def remove_stale_temps(folder: Path, name: str) -> int:
    """Delete temp files that a killed write of `folder/name` left behind (only the lock holder may)."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    prefix = temp_prefix(Path(name))
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def write_json(path: Path, data: dict[str, Any], *, compact: bool = False) -> None:
    """Atomically write a JSON record; `schema_version` is added when missing. Compact for big snapshots."""
    record = {"schema_version": SCHEMA_VERSION, **data}
    if compact:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = json.dumps(record, ensure_ascii=False, indent=1, default=str)
    write_bytes(path, (text + "\n").encode("utf-8", "backslashreplace"))  # a lone surrogate as its escape


Migration = Callable[[dict[str, Any]], dict[str, Any]]


def read_json(path: Path, *, what: str, migrations: dict[int, Migration] | None = None) -> dict[str, Any]:
    """Read a JSON record written by write_json. Raises StateError naming the file when it is unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StateError(f"Cannot read {what} {path}: {exc.strerror}") from exc
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(
            f"The {what} {path} is corrupted ({exc}).",
            hint="It may have been edited or truncated by hand. "
            "`prodigy checkpoints validate <id>` shows what can be recovered.",
        ) from exc
    if not isinstance(record, dict):
        raise StateError(f"The {what} {path} is corrupted (expected a JSON object).")
    return migrate(record, path=path, what=what, migrations=migrations or {})


def migrate(record: dict[str, Any], *, path: Path, what: str, migrations: dict[int, Migration]) -> dict[str, Any]:
    version = record.get("schema_version", 1)
    if type(version) is not int or version < 1:
        raise StateError(f"The {what} {path} has an invalid schema_version {version!r}.")
    if version > SCHEMA_VERSION:
        raise StateError(
            f"The {what} {path} was written by a newer prodigy (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}).",
            hint="Upgrade prodigy (pip install -U prodigy) to read it.",
        )
    while version < SCHEMA_VERSION:
        record = migrations[version](record)
        version += 1
        record["schema_version"] = version
    return record
