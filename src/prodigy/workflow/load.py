"""Workflow file -> model. Every problem names the file, the line and the key; all problems are collected
so that `prodigy validate` can report them at once.

The pieces: `load_common` (accepted keys, problems, scalars), `load_env` (env, secrets, profiles),
`load_steps` (steps and their handlers) and `load_phases` (MapReduce phases, error policy, merge).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import WorkflowFileError
from prodigy.workflow import model as m
from prodigy.workflow.load_agents import agent_policy
from prodigy.workflow.load_common import (
    ERROR_POLICY_KEYS,
    MAP_KEYS,
    MAPREDUCE_KEYS,
    STANDARD_KEYS,
    STEP_KEYS,
    UNSUPPORTED_STEP_KEYS,
    Problem,
    _Ctx,
    _string,
    _string_list,
    is_composable,
    parse_duration,
)
from prodigy.workflow.load_env import _env_block, _profiles, _secrets_block
from prodigy.workflow.load_phases import _error_policy, _map, _merge, _setup
from prodigy.workflow.load_steps import _phase_steps, _steps
from prodigy.workflow.yaml_bounds import MAX_DOCUMENT_BYTES
from prodigy.workflow.yamlsrc import LineDict, line_of, parse_text

__all__ = [
    "ERROR_POLICY_KEYS", "MAPREDUCE_KEYS", "MAP_KEYS", "STANDARD_KEYS", "STEP_KEYS", "UNSUPPORTED_STEP_KEYS",
    "LoadResult", "Problem", "check_data", "check_workflow", "file_sha256", "load_workflow", "parse_duration",
    "read_workflow_text",
]


@dataclass(frozen=True)
class LoadResult:
    workflow: m.Workflow | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def load_workflow(path: str | Path, *, params: Any = None, search_dirs: tuple[Path, ...] = ()) -> m.Workflow:
    """Load and validate; raise WorkflowFileError listing every error. `params` (compose_params.ParamInput)
    and `search_dirs` (where `.prodigy/templates` is looked for) matter only to composed workflows."""
    result = check_workflow(path, params=params, search_dirs=search_dirs, strict=True)
    if result.errors or result.workflow is None:
        errors = result.errors
        first = str(errors[0]) if errors else f"{path}: invalid workflow"
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        same = " with the same --param values" if params is not None and params.given else ""
        raise WorkflowFileError(first + more, problems=errors,
                                hint=f"Run `prodigy validate {path}`{same} to see every problem.")
    return result.workflow


def read_workflow_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)  # never more than the bound into memory
    except FileNotFoundError:
        raise WorkflowFileError(f"Workflow file not found: {path}") from None
    except IsADirectoryError:
        raise WorkflowFileError(f"Not a workflow file (it is a directory): {path}") from None
    except OSError as exc:
        raise WorkflowFileError(f"Cannot read workflow file {path}: {exc.strerror}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise WorkflowFileError(f"{path}: the file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB, more "
                                "than any workflow needs; is it the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_workflow(path: str | Path, *, params: Any = None, search_dirs: tuple[Path, ...] = (),
                   strict: bool = False) -> LoadResult:
    """Parse and validate. Raises WorkflowFileError only when the file cannot be read or parsed at all."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    text = read_workflow_text(path)
    data = parse_text(text, path)
    sha = hashlib.sha256(text.encode()).hexdigest()
    if is_composable(data) or (params is not None and params.given):
        from prodigy.workflow import (
            compose,  # imports, extends, template, parameters, workflows: resolved first
        )

        return compose.check(path, data, sha, params=params, search_dirs=search_dirs, strict=strict)
    ctx = _Ctx(path, text)
    workflow = _build(data, path, sha, ctx)
    if workflow is not None and not any(p.severity == "error" for p in ctx.problems):
        from prodigy.workflow.refcheck import check

        check(workflow, ctx)  # references that can never resolve (needs the whole workflow)
    return LoadResult(workflow, tuple(ctx.problems))


def check_data(data: Any, path: Path, sha: str) -> LoadResult:
    """Validate workflow data that is not one file's text (a composed workflow, resolved)."""
    ctx = _Ctx(path)
    return LoadResult(_build(data, path, sha, ctx), tuple(ctx.problems))


def _build(data: Any, path: Path, sha: str, ctx: _Ctx) -> m.Workflow | None:
    default_name = path.stem
    if data is None:
        ctx.error(1, "", "the file is empty; a workflow is a list of steps or a mapping with `commands:`")
        return None
    if isinstance(data, list):
        steps = _steps(data, ctx, "commands")
        return m.Workflow(path=path, sha256=sha, name=default_name, mode="standard", steps=steps)
    if not isinstance(data, dict):
        ctx.error(1, "", "a workflow must be a list of steps or a mapping (with `commands:` or `mode: mapreduce`)")
        return None
    data = data if isinstance(data, LineDict) else LineDict(data)
    mode = data.get("mode", "standard")
    if mode not in ("standard", "mapreduce"):
        ctx.error(line_of(data, "mode"), "mode", f"unknown mode {mode!r}; use 'standard' or 'mapreduce'")
        return None
    name = _string(data, "name", ctx, "", default=default_name)
    env = _env_block(data.get("env"), ctx, "env", line_of(data, "env"))
    env += _secrets_block(data.get("secrets"), ctx, line_of(data, "secrets"))
    profiles = _profiles(data.get("profiles"), ctx, line_of(data, "profiles"))
    env_files = _string_list(data, "env_files", ctx)
    merge = _merge(data.get("merge"), ctx, line_of(data, "merge")) if "merge" in data else None
    common = dict(path=path, sha256=sha, name=name or default_name, env=env, profiles=profiles,
                  env_files=env_files, merge=merge, agents=agent_policy(data, ctx))
    if mode == "standard":
        ctx.unknown_keys(data, STANDARD_KEYS, "")
        if "commands" not in data:
            ctx.error(data.line, "commands", "a standard workflow needs `commands:` (a list of steps)")
            return None
        steps = _steps(data["commands"], ctx, "commands", line_of(data, "commands"))
        return m.Workflow(mode="standard", steps=steps, **common)
    ctx.unknown_keys(data, MAPREDUCE_KEYS, "")
    setup = _setup(data.get("setup"), ctx, line_of(data, "setup")) if data.get("setup") is not None else None
    map_phase = _map(data.get("map"), ctx, line_of(data, "map"))
    reduce = _phase_steps(data.get("reduce"), ctx, "reduce", line_of(data, "reduce"))
    policy = _error_policy(data, ctx)
    return m.Workflow(mode="mapreduce", setup=setup, map=map_phase, reduce=reduce, error_policy=policy, **common)
