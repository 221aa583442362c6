"""The one place where prodigy's state touches the disk for writing.

- Folders under PRODIGY_HOME are created 0700 and files 0600: state holds command output (journal, events,
  agent and crash logs), which may hold anything a command printed.
- A state path that lies under PRODIGY_HOME but resolves outside it (a job folder replaced by a symlink) is
  refused before anything is written through it.
- Every write is whole or fails: short writes are continued, and any OSError (disk full, I/O error, read-only
  file system) becomes a `StateWriteError` (exit 6) that names the path and says to free space and resume.

The primitives below (`_open`, `_write`, `_fsync`, `_replace`, `_mkdir`) are the only calls that change state
on disk; the fault-injection tests replace them to make each write fail in turn.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from prodigy import paths
from prodigy.errors import StateError, StateWriteError

FILE_MODE = 0o600
DIR_MODE = 0o700

_open = os.open
_write = os.write
_fsync = os.fsync
_replace = os.replace
_mkdir = os.mkdir


def failure(exc: OSError, path: Path | str, action: str = "write") -> StateWriteError:
    """The StateWriteError for an OSError met while writing `path`."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "Free space on that file system, then resume; nothing recorded before this point is lost."
    elif exc.errno == errno.EROFS:
        hint = "The file system is read-only; make it writable (or point PRODIGY_HOME elsewhere), then resume."
    else:
        hint = "Fix the disk or free space, then resume; nothing recorded before this point is lost."
    return StateWriteError(f"Cannot {action} prodigy's state file {path}: {reason}.", hint=hint, path=str(path))


def confined(path: Path) -> Path:
    """Refuse a path under PRODIGY_HOME that resolves outside it: a folder (or the file itself) on the way from
    PRODIGY_HOME to it that is a symbolic link leading out. Links that stay inside are fine, and PRODIGY_HOME
    itself may be a link. Only lstat()s the components below PRODIGY_HOME, so it is cheap on every write."""
    home = paths.home()
    absolute = Path(os.path.abspath(path))
    if not absolute.is_relative_to(home) or absolute == home:
        return path  # not a state path (tests write state files to their own folders)
    probe = home
    for part in absolute.relative_to(home).parts:
        probe = probe / part
        try:
            linked = stat.S_ISLNK(os.lstat(probe).st_mode)
        except OSError:
            break  # not there yet: it will be created as a folder or file, not a link
        if linked:
            real = Path(os.path.realpath(probe))
            if not real.is_relative_to(os.path.realpath(home)):
                raise StateError(
                    f"Refusing to write {path}: {probe} is a symbolic link to {real}, outside PRODIGY_HOME "
                    f"({home}).", hint="State is only written inside PRODIGY_HOME. Remove the link (or move the "
                    "folder back), then try again.")
    return path


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700 folders (inside PRODIGY_HOME, never through a symlink
    that leaves it). Existing folders are left as they are."""
    confined(path)
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            _mkdir(folder, DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise StateError(f"Cannot create the folder {folder}: a file is in the way.") from None
        except OSError as exc:
            raise failure(exc, folder, "create the folder for") from exc
    return path


def open_file(path: Path, flags: int) -> int:
    """os.open with mode 0600 for a state file (the folder is created first)."""
    private_dir(path.parent)
    confined(path)
    try:
        return _open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise failure(exc, path, "open") from exc


def write_all(fd: int, data: bytes | memoryview, path: Path | str) -> None:
    """Write every byte or raise StateWriteError; a short write is continued where it stopped."""
    view = memoryview(data)
    while view:
        try:
            written = _write(fd, view)
        except OSError as exc:
            raise failure(exc, path) from exc
        if written <= 0:
            raise failure(OSError(errno.EIO, "the write made no progress"), path)
        view = view[written:]


def fsync(fd: int, path: Path | str) -> None:
    try:
        _fsync(fd)
    except OSError as exc:
        raise failure(exc, path, "sync") from exc


def replace(src: str | Path, dst: Path) -> None:
    try:
        _replace(src, dst)
    except OSError as exc:
        raise failure(exc, dst, "replace") from exc
