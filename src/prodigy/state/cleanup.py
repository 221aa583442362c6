"""Removing state (for `prodigy sessions clean`). Only paths under PRODIGY_HOME are ever removed.

Empty parent folders are left in place: another run may be creating a job folder beside them."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from prodigy import paths
from prodigy.errors import StateError


def remove_paths(targets: Iterable[Path]) -> None:
    """Remove files and folders; a path outside PRODIGY_HOME is a bug and is refused."""
    home = paths.home()
    removed_sessions: list[str] = []
    for target in targets:
        target = Path(target)
        if not target.absolute().is_relative_to(home) or target.absolute() == home:
            raise StateError(f"Refusing to remove {target}: it is not inside {home}.")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            if target.suffix == ".json" and target.absolute().parent == paths.sessions_dir() and target.exists():
                removed_sessions.append(target.stem)
            target.unlink(missing_ok=True)
    if removed_sessions:  # the session index drops them (state/session_index.py)
        from prodigy.state import session_index

        session_index.append(session_index.Entry(-1, sid, session_index.REMOVED) for sid in removed_sessions)
        session_index.stamp()

