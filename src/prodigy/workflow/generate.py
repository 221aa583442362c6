"""The workflows `prodigy exec` and `prodigy batch` generate: plain workflow data, run through the same loader
and executors as a file the user wrote (so they are recorded and resumable like any other run)."""

from __future__ import annotations

import fnmatch
import glob
import os
from pathlib import Path
from typing import Any

from prodigy.errors import UsageError

DEFAULT_PARALLEL = 5


def parse_command(text: str) -> tuple[str, str]:
    """`claude: /x`, `shell: y`, or a bare string: claude when it starts with '/', else shell."""
    stripped = text.strip()
    for kind in ("claude", "shell"):
        if stripped.startswith(f"{kind}:"):
            command = stripped[len(kind) + 1:].strip()
            if not command:
                raise UsageError(f"Empty command after '{kind}:'.",
                                 hint=f'Give the command, e.g. "{kind}: ' + ('/lint"' if kind == "claude" else 'make test"'))
            return kind, command
    if not stripped:
        raise UsageError("Empty command.", hint='Examples: "shell: cargo test", "claude: /lint", "/lint".')
    return ("claude" if stripped.startswith("/") else "shell"), stripped


def _step(command: str, *, retry: int, timeout: float | None) -> dict[str, Any]:
    kind, text = parse_command(command)
    step: dict[str, Any] = {kind: text}
    if timeout:
        step["timeout"] = timeout
    if retry > 1:
        step["on_failure"] = {"max_attempts": retry}
    return step


def exec_workflow(command: str, *, retry: int = 1, timeout: float | None = None) -> dict[str, Any]:
    """One step. --retry N: up to N attempts of the step; --timeout: the step's timeout."""
    return {"name": "exec", "commands": [_step(command, retry=retry, timeout=timeout)]}


def batch_workflow(command: str, items_file: Path, *, pattern: str, parallel: int = DEFAULT_PARALLEL,
                   retry: int = 1, timeout: float | None = None) -> dict[str, Any]:
    """A MapReduce over a frozen list of file paths: ${item} is the path. --retry N: attempts per item."""
    kind, text = parse_command(command)
    step: dict[str, Any] = {kind: text}
    if timeout:
        step["timeout"] = timeout
    workflow: dict[str, Any] = {
        "name": "batch",
        "description": f"prodigy batch {pattern!r} --command {command!r}",
        "mode": "mapreduce",
        "map": {"input": str(items_file), "max_parallel": parallel or DEFAULT_PARALLEL, "agent_template": [step]},
        "reduce": [{"shell": "echo \"Batch complete: ${map.successful} of ${map.total} file(s) succeeded, "
                             "${map.failed} failed.\""}],
    }
    if retry > 1:
        workflow["error_policy"] = {"retry": retry}
    return workflow


def batch_files(pattern: str, run_dir: Path) -> list[str]:
    """Files for `prodigy batch PATTERN`, relative to the run directory, sorted. A pattern without '/' matches
    file names anywhere below it (like the original's `find . -name PATTERN`; .git is skipped); one with '/'
    is a glob from the run directory (`src/**/*.py`)."""
    if not pattern.strip():
        raise UsageError("Empty file pattern.", hint="Examples: '*.py', 'src/**/*.rs', 'docs/*.md'.")
    found: list[str] = []
    if "/" not in pattern:
        for folder, dirs, files in os.walk(run_dir):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            found += [os.path.relpath(os.path.join(folder, f), run_dir) for f in files if fnmatch.fnmatch(f, pattern)]
    else:
        base = os.path.expanduser(pattern)
        absolute = os.path.isabs(base)
        for match in glob.glob(base if absolute else str(run_dir / base), recursive=True):
            if os.path.isfile(match):
                found.append(match if absolute else os.path.relpath(match, run_dir))
    if not found:
        raise UsageError(f"No file matches {pattern!r} in {run_dir}.",
                         hint="A pattern without '/' matches file names in every folder ('*.py'); one with '/' is "
                              "a glob from the run directory ('src/**/*.py'). Quote it so the shell does not "
                              "expand it.")
    return sorted(set(found))
