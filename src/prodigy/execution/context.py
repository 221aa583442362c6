"""What a step needs to run, separate from what it is: directories, environment, callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.execution.process import StartInfo

DEFAULT_OUTPUT_CAP = 256 * 1024


class Masker:
    """Replaces secret values with *** in anything prodigy prints or stores."""

    MIN_LENGTH = 3  # shorter values would mangle ordinary output; validation warns about them

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= self.MIN_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str | None) -> str:
        if not text or not self.secrets:
            return text or ""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def holds_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)


class StepProgress:
    """Durable progress inside one step (foreach iterations, a validation loop), so that a resume continues it
    where it stopped. `put` returns only once the value is on disk. A phase gives each top-level step its own;
    nested steps (handlers, a foreach body) run without one and are simply run again."""

    def __init__(self, values: dict[str, Any] | None = None,
                 save: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self._save = save

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def put(self, key: str, value: Any) -> None:
        self._values[key] = value
        if self._save is not None:
            self._save(dict(self._values))

    def clear(self) -> None:
        if self._values:
            self._values = {}
            if self._save is not None:
                self._save({})


@dataclass(frozen=True)
class StepContext:
    run_dir: Path
    process_env: dict[str, str]
    session_id: str
    claude_bin: str = "claude"
    log_dir: Path | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    on_start: Callable[[StartInfo], None] | None = None
    on_line: Callable[[str, str, str], None] | None = None  # (label, stream, line) for -v
    masker: Masker = field(default_factory=Masker)
    deadline: float | None = None  # time.monotonic() value after which commands time out (agent timeout)
    output_cap: int = DEFAULT_OUTPUT_CAP
    label: str = "step"  # names logs and prefixes streamed output (an item id in the map phase)
    # With a worktree: (cwd, path=, stderr=) -> why a path a step needs is missing from it (git.missing.Missing)
    explain_missing: Callable[..., Any] | None = None
    usage: Any = None  # agents.usage.UsageLedger: collects the agent calls of the unit of work being run
    progress: StepProgress | None = None  # the running top-level step's durable progress (None: not kept)
    git_context: bool = False  # track ${step.*}/${workflow.*} git changes (the workflow refers to them)

    def timeout_for(self, step_timeout: float | None) -> float | None:
        """The tighter of the step's own timeout and what is left before the deadline."""
        if self.deadline is None:
            return step_timeout
        left = max(self.deadline - time.monotonic(), 0.001)
        return left if step_timeout is None else min(step_timeout, left)
