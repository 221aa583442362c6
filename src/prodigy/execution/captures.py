"""What a finished command leaves for later steps: ${shell.output}, ${last.*}, captures (capture:,
capture_output: NAME, with capture_format and capture_streams) and ${<id>.*}."""

from __future__ import annotations

import json
from typing import Any

from prodigy.execution import outcome as o
from prodigy.workflow.model import CaptureStreams, Step

_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def capture_name(step: Step) -> str | None:
    """`capture: NAME` and `capture_output: NAME` are the same thing (the book uses both)."""
    if step.capture:
        return step.capture
    return step.capture_output if isinstance(step.capture_output, str) else None


def captured_text(step: Step, command: o.CommandOutcome) -> str:
    streams = step.capture_streams or CaptureStreams()
    parts = []
    if streams.stdout:
        parts.append(command.captured.rstrip("\n"))
    if streams.stderr and command.stderr:
        parts.append(command.stderr.rstrip("\n"))
    return "\n".join(p for p in parts if p)


def output_variables(step: Step, command: o.CommandOutcome) -> dict[str, Any]:
    values: dict[str, Any] = dict(command.variables)
    if step.kind in ("shell", "claude", "foreach", "analyze"):
        text = command.captured.rstrip("\n")  # `echo "x ${shell.output}"` should not gain a blank line
        values["last.output"] = text
        values["last.exit_code"] = command.exit_code
        if step.kind in ("shell", "claude"):
            values[f"{step.kind}.output"] = text
            values[f"{step.kind}.exit_code"] = command.exit_code
            values[f"{step.kind}.stderr"] = command.stderr.rstrip("\n")
    name = capture_name(step)
    if name:
        values.update(typed_capture(step, name, command))
    if step.id:
        values.update(_id_variables(step.id, command))
    return values


def _id_variables(step_id: str, command: o.CommandOutcome) -> dict[str, Any]:
    return {f"{step_id}.output": command.captured.rstrip("\n"), f"{step_id}.exit_code": command.exit_code,
            f"{step_id}.success": command.ok, f"{step_id}.duration": round(command.duration, 3),
            f"{step_id}.stderr": command.stderr.rstrip("\n")}


def typed_capture(step: Step, name: str, command: o.CommandOutcome) -> dict[str, Any]:
    streams = step.capture_streams or CaptureStreams()
    text = captured_text(step, command)
    meta: dict[str, Any] = {}
    if streams.exit_code:
        meta[f"{name}.exit_code"] = command.exit_code
    if streams.success:
        meta[f"{name}.success"] = command.ok
    if streams.duration:
        meta[f"{name}.duration"] = round(command.duration, 3)
    meta[f"{name}.stderr"] = command.stderr  # always: the book reads ${name.stderr} without capture_streams
    if not command.ok and step.capture_format != "boolean":
        return {name: text, **meta}
    try:
        value = parse_capture(text, step.capture_format, succeeded=command.ok)
    except ValueError as exc:
        # Reported by capture_problem as a step failure; keep the raw text visible meanwhile.
        return {name: text, **meta, f"{name}.error": str(exc)}
    return {name: value, **meta}


def capture_problem(step: Step, command: o.CommandOutcome) -> str | None:
    if not capture_name(step):
        return None
    try:
        parse_capture(captured_text(step, command), step.capture_format, succeeded=command.ok)
    except ValueError as exc:
        return str(exc)
    return None


def parse_capture(text: str, fmt: str, *, succeeded: bool | None = None) -> Any:
    if fmt == "string":
        return text
    if fmt == "json":
        try:
            # strict=False: raw newlines and tabs inside strings are accepted, because shell-built JSON
            # ('"report": "${multi_line_capture}"') has them and their meaning is unambiguous.
            return json.loads(text, strict=False)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"capture_format json: the output is not JSON ({exc})") from None
    if fmt == "number":
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"capture_format number: the output {text.strip()[:40]!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in text else number
    if fmt == "lines":
        return [line for line in text.splitlines() if line.strip()]
    if fmt == "boolean":
        lowered = text.strip().lower()
        if lowered in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[lowered]
        # The book: "true if command succeeds, false otherwise" (`grep -q`, `cargo clippy`).
        if succeeded is not None:
            return succeeded
        if lowered == "":
            return False
        raise ValueError(f"capture_format boolean: the output {text.strip()[:40]!r} is not true/false")
    raise ValueError(f"unknown capture_format {fmt!r}")
