"""`prodigy validate`: every `${...}` reference that can never resolve, per step, with file and line: a misspelt
capture, a step id without such an output, a field a built-in namespace does not have, a variable defined only
in another phase (or by a later step). Bare `${NAME}`s may come from the environment at run time, so they are
errors only when they can be shown wrong; in a claude prompt an unknown one is a warning."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from prodigy.workflow import model as m
from prodigy.workflow.interpolate import InterpolationError, references
from prodigy.workflow.load_common import _Ctx

GIT = {"files_added", "files_modified", "files_deleted", "files_changed", "commits", "commit_count", "insertions",
       "deletions"}
ID_FIELDS = {"output", "exit_code", "success", "duration", "stderr"}
CAPTURE_FIELDS = {"exit_code", "success", "duration", "stderr", "error"}
NAMESPACES: dict[str, set[str] | None] = {
    "step": {"name", "index"} | GIT,
    "workflow": {"name", "id", "iteration"} | GIT,
    "last": {"output", "exit_code"},
    "shell": {"output", "exit_code", "stderr"},
    "claude": {"output", "exit_code", "stderr"},
    "env": None,  # ${env.NAME}: any name
    "analysis": None,
    "foreach": {"total", "successful", "failed"},
}
PHASE_ONLY: dict[str, tuple[str, set[str] | None]] = {
    "item": ("the map phase (agent_template) or a foreach `do:`", None),
    "item_json": ("the map phase", None), "item_id": ("the map phase", None),
    "item_index": ("the map phase", None), "item_total": ("the map phase", None),
    "attempt": ("the map phase", None),
    "worker": ("the map phase", {"id"}),
    "map": ("the reduce phase (and ${map.key} in the map phase)",
            {"total", "successful", "failed", "success_rate", "results", "key"}),
    "merge": ("the merge: phase", {"worktree", "source_branch", "target_branch", "session_id", "commits",
                                   "commit_count", "modified_files", "file_count", "file_list", "commit_ids"}),
    "error": ("on_failure handlers", {"message", "exit_code", "stderr", "stdout", "step", "attempt",
                                      "max_attempts"}),
    "validation": ("a step's validate: on_incomplete and the steps after it",
                   {"completion", "completion_percentage", "status", "implemented", "missing", "missing_count",
                    "gaps", "message", "attempt", "threshold"}),
    "index": ("a foreach `do:`", None), "total": ("a foreach `do:`", None),
}


# Set by `prodigy run --args/--map/-n` (and the original's fixed variables).
RUN_INPUTS = {"ARG", "ARGUMENT", "FILE", "FILE_PATH", "FILE_NAME", "FILE_STEM", "ITERATION", "PROJECT_ROOT", "WORKTREE"}


@dataclass
class Scope:
    names: set[str] = field(default_factory=set)  # captures and env names
    ids: dict[str, set[str]] = field(default_factory=dict)  # step id -> its outputs
    phase_vars: set[str] = field(default_factory=set)  # roots of PHASE_ONLY valid here
    later: dict[str, int | None] = field(default_factory=dict)  # captured by a later step: name -> line
    elsewhere: dict[str, str] = field(default_factory=dict)  # captured in another phase: name -> where

    def child(self, *phase_vars: str) -> Scope:
        return Scope(set(self.names), {k: set(v) for k, v in self.ids.items()}, self.phase_vars | set(phase_vars),
                     dict(self.later), dict(self.elsewhere))


def check(workflow: m.Workflow, ctx: _Ctx) -> None:
    base = Scope(names={k for k, _ in workflow.env} | {k for _, env in workflow.profiles for k, _ in env}
                 | RUN_INPUTS)
    if workflow.env_files:
        base.names.add("*")  # env files are read at run time: any bare name may be set
    if not workflow.is_mapreduce:
        _steps(workflow.steps, base, ctx, "commands")
    else:
        setup = workflow.setup.steps if workflow.setup else ()
        after_setup = _steps(setup, base.child(), ctx, "setup")
        exported = Scope(names=base.names | {n for n in after_setup.names if not n.startswith(("shell.", "claude."))})
        exported.names |= {name for name, _ in (workflow.setup.captures if workflow.setup else ())}
        map_steps = workflow.map.agent_template if workflow.map else ()
        map_scope = exported.child("item", "item_json", "item_id", "item_index", "item_total", "attempt", "worker",
                                   "map")
        after_map = _steps(map_steps, map_scope, ctx, "map.agent_template", map_key_only=True)
        reduce_scope = exported.child("map")
        reduce_scope.elsewhere = {n: "a map agent (its captures stay inside that agent)"
                                  for n in after_map.names - exported.names}
        _steps(workflow.reduce, reduce_scope, ctx, "reduce")
    if workflow.merge:
        _steps(workflow.merge.steps, base.child("merge"), ctx, "merge")


def _steps(steps: Iterable[m.Step], scope: Scope, ctx: _Ctx, where: str, *, map_key_only: bool = False) -> Scope:
    steps = list(steps)
    for index, step in enumerate(steps):
        later = {n: s.line for s in steps[index + 1:] for n in _defines(s)}
        scope.later = {k: v for k, v in later.items() if k not in scope.names}
        _step(step, scope, ctx, f"{where}[{index}]", map_key_only=map_key_only)
        scope.names |= _defines(step)
        if step.id:
            scope.ids[step.id] = {name for name, _ in step.outputs}
        if step.validate:
            scope.phase_vars.add("validation")
        if step.kind == "analyze" or step.analysis:
            scope.names.add("analysis")
    scope.later = {}
    return scope


def _defines(step: m.Step) -> set[str]:
    found = set()
    for name in (step.capture, step.capture_output if isinstance(step.capture_output, str) else None):
        if name:
            found.add(name)
    return found


def _step(step: m.Step, scope: Scope, ctx: _Ctx, where: str, *, map_key_only: bool) -> None:
    texts: list[tuple[str, str, bool, bool]] = []  # (key, text, shell, prompt)
    if step.kind in ("shell", "claude"):
        texts.append((step.kind, step.command, step.kind == "shell", step.kind == "claude"))
    elif step.write_file:
        texts += [("write_file.path", step.write_file.path, False, False),
                  ("write_file.content", step.write_file.content, False, True)]
    elif step.foreach and step.foreach.command:
        texts.append(("foreach.foreach", step.foreach.command, True, False))
    texts += [(f"env.{k}", v, False, False) for k, v in step.env]
    if step.working_dir:
        texts.append(("working_dir", step.working_dir, False, False))
    for key, text, shell, prompt in texts:
        try:
            refs = references(text, shell=shell)
        except InterpolationError:
            continue  # reported by the loader
        for ref in refs:
            if ref.braced and ref.default is None:
                _reference(ref.name, ref.lenient, scope, ctx, step.line, f"{where}.{key}", prompt, map_key_only)
    inner = scope.child()
    inner.names |= _defines(step)
    if step.id:
        inner.ids[step.id] = {name for name, _ in step.outputs}
    if step.foreach:
        _steps(step.foreach.do, scope.child("item", "index", "total"), ctx, f"{where}.foreach.do")
    if step.on_failure:
        _steps(step.on_failure.steps, inner.child("error"), ctx, f"{where}.on_failure")
    for code, handlers in step.on_exit_code:
        _steps(handlers, inner.child("error"), ctx, f"{where}.on_exit_code.{code}")
    if step.on_success:
        _steps(step.on_success, inner.child("validation") if step.validate else inner, ctx, f"{where}.on_success")
    if step.validate:
        _steps(step.validate.steps, inner, ctx, f"{where}.validate")
        if step.validate.on_incomplete:
            _steps(step.validate.on_incomplete.steps, inner.child("validation"), ctx, f"{where}.validate.on_incomplete")


def _reference(name: str, lenient: bool, scope: Scope, ctx: _Ctx, line: int | None, where: str, prompt: bool,
               map_key_only: bool) -> None:
    parts = name.replace("[", ".[").split(".")
    root, field_ = parts[0], (parts[1] if len(parts) > 1 else None)
    if name in scope.names or root in scope.names or "*" in scope.names and "." not in name:
        return
    if root.startswith("ARG_") and root[4:].isdigit():
        return
    if root in scope.ids:
        known = ID_FIELDS | scope.ids[root]
        if field_ is not None and field_ not in known:
            ctx.error(line, where, f"${{{name}}} can never resolve: step id '{root}' has no output '{field_}' "
                      f"(it has {', '.join(sorted(known))})")
        return
    if lenient:
        return  # `${a-b}` with no step id a-b: the shell's "a, else b"
    capture = next((n for n in scope.names if name.startswith(n + ".")), None)
    if capture is not None:
        return
    if root in scope.later:
        ctx.error(line, where, f"${{{name}}} can never resolve here: '{root}' is captured by a later step"
                  + (f" (line {scope.later[root]})" if scope.later[root] else ""))
        return
    if root in scope.elsewhere:
        ctx.error(line, where, f"${{{name}}} can never resolve here: '{root}' is captured in {scope.elsewhere[root]}")
        return
    if root in NAMESPACES:
        fields = NAMESPACES[root]
        if fields is not None and field_ is not None and field_ not in fields and not field_.startswith("["):
            ctx.error(line, where, f"${{{name}}} can never resolve: ${{{root}.*}} has no '{field_}'"
                      + _suggest(field_, fields))
        return
    if root in PHASE_ONLY:
        place, fields = PHASE_ONLY[root]
        if root == "map" and map_key_only and field_ != "key":
            ctx.error(line, where, f"${{{name}}} can never resolve in a map agent: ${{map.*}} counts and results "
                      "exist only in the reduce phase (${map.key} is the item's key)")
        elif root not in scope.phase_vars:
            ctx.error(line, where, f"${{{name}}} can never resolve here: it is defined only in {place}")
        elif fields is not None and field_ is not None and field_ not in fields:
            ctx.error(line, where, f"${{{name}}} can never resolve: ${{{root}.*}} has no '{field_}'"
                      + _suggest(field_, fields))
        return
    if "." in name or "[" in name:
        ctx.error(line, where, f"${{{name}}} can never resolve: no step captures '{root}' and it is not a built-in "
                  "variable" + _suggest(root, scope.names | set(scope.ids) | set(NAMESPACES)))
    elif prompt:
        ctx.warn(line, where, f"${{{name}}} is not set by the workflow" + _suggest(root, scope.names | set(scope.ids))
                 + "; it must be in the environment when the step runs, or the step fails before the agent sees it")


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(o for o in options if o != "*"), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
