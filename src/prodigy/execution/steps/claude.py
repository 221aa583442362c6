"""`claude:` steps: the agent CLI in streaming JSON mode. The prompt is one argv element (no shell), stdin is
empty, and the full JSON stream is kept as a log whose path is shown when the step fails."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prodigy.errors import MissingToolError
from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import (
    StepSetupError,
    claude_binary,
    command_env,
    from_process,
    visible_variables,
    working_dir,
)
from prodigy.workflow.interpolate import InterpolationError, render
from prodigy.workflow.model import Step

CLAUDE_FLAGS = ("-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions")


def require_claude() -> str:
    """Fail before the first step when a workflow needs the agent CLI and it is not installed."""
    binary = claude_binary()
    found = shutil.which(binary)
    if not found:
        raise MissingToolError(
            f"This workflow has claude: steps, but the agent CLI '{binary}' was not found on PATH.",
            hint="Install Claude Code (npm install -g @anthropic-ai/claude-code), or point PRODIGY_CLAUDE_BIN "
            "at the executable to use.",
        )
    return found


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    try:
        cwd = working_dir(step, variables, ctx)
        env = command_env(step, variables, ctx)
        prompt = render(step.command, visible_variables(step, variables, env, ctx))
    except (InterpolationError, StepSetupError) as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(str(exc)))
    log_path = _log_path(ctx)
    result = process.run(
        [ctx.claude_bin, *CLAUDE_FLAGS, prompt], cwd=cwd, env=env,
        timeout=step.timeout if isinstance(step.timeout, float) else ctx.timeout_for(None),
        on_start=ctx.on_start, on_line=_stream_text(ctx), stop_event=ctx.stop_event,
        output_cap=ctx.output_cap, stdout_path=log_path,
    )
    if ctx.masker:
        _mask_file(log_path, ctx)
    return from_process(result, ctx, what="claude", log_path=str(log_path),
                        output=_final_text(result.stdout))


def _mask_file(path: Path, ctx: StepContext) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        path.write_text(ctx.masker(text), encoding="utf-8")
    except OSError:
        pass


def _log_path(ctx: StepContext) -> Path:
    base = ctx.log_dir or Path.cwd()
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    path = base / ctx.session_id / f"{ctx.label}-{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _final_text(stdout: str) -> str | None:
    """The agent's final answer from its stream-json output (the last `result` event), if present."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "result" and isinstance(event.get("result"), str):
            return event["result"]
    return None


def _stream_text(ctx: StepContext):
    """With -v, show the agent's text as it streams instead of raw JSON events."""
    if ctx.on_line is None:
        return None
    sink = ctx.on_line

    def on_line(kind: str, line: str) -> None:
        text = line
        if kind == "stdout" and line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                text = _event_text(event)
                if text is None:
                    return
        sink(ctx.label, kind, ctx.masker(text))

    return on_line


def _event_text(event: dict[str, Any]) -> str | None:
    if event.get("type") == "result":
        return f"[result] {event.get('result', '')}"
    message = event.get("message")
    if isinstance(message, dict):
        parts = [c.get("text", "") for c in message.get("content", []) if isinstance(c, dict) and c.get("type") == "text"]
        text = " ".join(p for p in parts if p)
        return text or None
    return None
