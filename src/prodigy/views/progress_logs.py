"""The agent logs of a watched job's items: every log file of the session named after an item (its claude
steps write `item_<n>-<time>-<id>.jsonl`, whichever step of the template they are), and the logs its
journal records name. The folder is listed at most every RESCAN seconds, so a page of a job with 100,000
items costs a directory listing now and then, not one per row. Only files under prodigy's own agent-log
folder are ever handed out (prodigy masks secrets in them as they are written)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.errors import NotFoundError
from prodigy.state.jobs import item_id
from prodigy.views.common import iso_from_epoch
from prodigy.views.progress import JobWatch

RESCAN = 2.0
_NAME = re.compile(r"^item_(\d+)-(\d{8}_\d{6})-[0-9a-f]+\.jsonl$")


@dataclass(frozen=True)
class ItemLog:
    n: int  # its place among the item's logs, oldest first (what the log page asks for)
    name: str
    size: int
    modified: str | None


class AgentLogIndex:
    def __init__(self, session_id: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = paths.claude_logs_dir() / session_id
        self._clock = clock
        self._scanned = float("-inf")
        self._by_item: dict[int, list[tuple[str, str]]] = {}  # index -> [(stamp, name)]

    def _scan(self) -> None:
        if self._clock() - self._scanned < RESCAN:
            return
        self._scanned = self._clock()
        found: dict[int, list[tuple[str, str]]] = {}
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    match = _NAME.match(entry.name)
                    if match:
                        found.setdefault(int(match.group(1)), []).append((match.group(2), entry.name))
        except OSError:
            pass  # no agent ran yet, or the folder was cleaned up
        self._by_item = found

    def count(self, index: int) -> int:
        self._scan()
        return len(self._by_item.get(index, ()))

    def paths_of(self, watch: JobWatch, index: int) -> list[Path]:
        """The item's logs, oldest first: the files named after it and any its journal records name."""
        self._scan()
        found = {self.folder / name: stamp for stamp, name in self._by_item.get(index, ())}
        track = watch.items.get(index)
        if track and track.log and Path(track.log) not in found:
            found[Path(track.log)] = ""
        existing = []
        for path, stamp in found.items():
            try:
                existing.append((stamp, path.stat().st_mtime, path))
            except OSError:
                continue
        return [path for _stamp, _mtime, path in sorted(existing, key=lambda e: (e[1], e[0]))]

    def listing(self, watch: JobWatch, index: int) -> tuple[ItemLog, ...]:
        logs = []
        for n, path in enumerate(self.paths_of(watch, index)):
            try:
                stat = path.stat()
            except OSError:
                continue
            logs.append(ItemLog(n=n, name=path.name, size=stat.st_size, modified=iso_from_epoch(stat.st_mtime)))
        return tuple(logs)

    def path(self, watch: JobWatch, index: int, n: int | None = None) -> Path:
        """Log `n` of the item (its latest by default), refused when it is outside the agent-log folder."""
        found = self.paths_of(watch, index)
        if not found:
            raise NotFoundError(f"No agent log for {item_id(index)} yet.",
                                hint="Agent logs exist for items with claude: steps, from the step's start.")
        if n is not None and not 0 <= n < len(found):
            raise NotFoundError(f"{item_id(index)} has {len(found)} agent log(s); there is no log {n}.")
        path = found[-1 if n is None else n]
        root = paths.claude_logs_dir().resolve()
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise NotFoundError(f"The log of {item_id(index)} is outside prodigy's log folder ({path}).")
        return resolved
