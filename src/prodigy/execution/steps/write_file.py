"""`write_file:` steps: write interpolated content to a file inside the working directory."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import StepSetupError, item_prefix, working_dir
from prodigy.workflow import yaml_bounds
from prodigy.workflow.interpolate import InterpolationError, render
from prodigy.workflow.model import Step


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    spec = step.write_file
    assert spec is not None
    started = time.monotonic()
    try:
        base = working_dir(step, variables, ctx)
        target = _inside(base, render(spec.path, variables))
        content = _format(render(spec.content, variables), spec.format)
        if spec.create_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
        elif not target.parent.is_dir():
            raise StepSetupError(f"folder {target.parent} does not exist (set create_dirs: true)")
        target.write_text(content, encoding="utf-8")
        if spec.mode:
            os.chmod(target, int(spec.mode, 8))
    except ValueError as exc:  # a NUL byte in the path (item data): no file system takes it
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(f"{item_prefix(ctx)}write_file: {exc} in the path "
                                                                   f"rendered from {spec.path!r}"),
                                duration=time.monotonic() - started)
    except (InterpolationError, StepSetupError, OSError) as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(f"write_file: {exc}"),
                                duration=time.monotonic() - started)
    return o.CommandOutcome(status=o.SUCCEEDED, exit_code=0, stdout=str(target),
                            duration=time.monotonic() - started)


def _inside(base: Path, relative: str) -> Path:
    target = (base / relative).resolve()
    root = base.resolve()
    if target != root and root not in target.parents:
        raise StepSetupError(f"path {relative!r} escapes the working directory {root}")
    return target


def _format(content: str, fmt: str) -> str:
    if fmt == "text":
        return content
    try:
        data = json.loads(content) if fmt == "json" else yaml_bounds.safe_load(content)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise StepSetupError(f"content is not valid {fmt}: {exc}") from None
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
