"""`prodigy exec` and `prodigy batch`: generate a workflow, keep it under PRODIGY_HOME/generated/, and run it
as any workflow is run: a session, its lock, its checkpoints or job journal, its resume command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodigy.errors import UsageError
from prodigy.execution.reporter import Reporter
from prodigy.execution.session import RunOptions, run_workflow
from prodigy.execution.signals import StopRequest
from prodigy.state import generated
from prodigy.workflow import generate
from prodigy.workflow.load import load_workflow


def _check_tool(command: str) -> None:
    """A claude command without the agent CLI is refused before anything is written."""
    if generate.parse_command(command)[0] == "claude":
        from prodigy.execution.steps.claude import require_claude

        require_claude()


def run_exec(command: str, options: RunOptions, stop: StopRequest, reporter: Reporter, *, retry: int = 1,
             timeout: float | None = None, on_line: Any = None) -> Any:
    if not options.run_dir.is_dir():
        raise UsageError(f"Run directory does not exist: {options.run_dir}")
    _check_tool(command)
    data = generate.exec_workflow(command, retry=retry, timeout=timeout)
    path = generated.save_workflow(generated.new_name("exec"), data)
    return run_workflow(load_workflow(path), options, stop, reporter, on_line=on_line)


def plan_batch(pattern: str, command: str, run_dir: Path, *, parallel: int, retry: int,
               timeout: float | None) -> tuple[list[str], dict[str, Any]]:
    """The files and the generated workflow (with a placeholder input), checked before anything is written."""
    _check_tool(command)
    files = generate.batch_files(pattern, run_dir)
    return files, generate.batch_workflow(command, Path("items.json"), pattern=pattern, parallel=parallel,
                                          retry=retry, timeout=timeout)


def run_batch(pattern: str, command: str, options: RunOptions, stop: StopRequest, reporter: Reporter, *,
              parallel: int = generate.DEFAULT_PARALLEL, retry: int = 1, timeout: float | None = None,
              on_line: Any = None) -> Any:
    files, _ = plan_batch(pattern, command, options.run_dir, parallel=parallel, retry=retry, timeout=timeout)
    name = generated.new_name("batch")
    items = generated.save_items(name, files)
    data = generate.batch_workflow(command, items, pattern=pattern, parallel=parallel, retry=retry,
                                   timeout=timeout)
    path = generated.save_workflow(name, data)
    reporter.emit("note", text=f"Batch: {len(files)} file(s) matching {pattern!r}, {parallel or 5} at a time "
                  f"(work list {items}).")
    return run_workflow(load_workflow(path), options, stop, reporter, on_line=on_line)
