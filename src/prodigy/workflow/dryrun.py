"""`prodigy run --dry-run`: every step as it would run, with the variables known before anything runs
resolved (workflow env, profile, parameters, --args/--map values). Nothing is executed: a dynamic env value
(`{command: ...}`) and the map input command are shown, not run; secret values print as ***."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prodigy.workflow import interpolate
from prodigy.workflow.model import EnvVar, Step, Workflow

SECRET = "***"


@dataclass(frozen=True)
class DryStep:
    where: str  # commands[1], setup[2], map.agent_template[1], reduce[1], merge[1], ... on_failure[1]
    kind: str
    text: str  # the command, prompt or file content with the known variables filled in
    unresolved: tuple[str, ...]  # ${...} names only known when the run gets there
    notes: tuple[str, ...] = ()
    handlers: tuple[tuple[str, tuple[DryStep, ...]], ...] = ()  # on_failure, on_success, on_exit_code N


@dataclass(frozen=True)
class DryPhase:
    name: str  # steps | setup | map | reduce | merge
    steps: tuple[DryStep, ...]
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DryRun:
    label: str | None
    variables: dict[str, str]
    deferred: tuple[str, ...]  # env values computed only when the run starts
    phases: tuple[DryPhase, ...]


def known_variables(workflow: Workflow, inputs: Mapping[str, str], profile: str | None
                    ) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The values a run would start with, without running anything: (variables, deferred env names)."""
    declared: dict[str, EnvVar] = dict(workflow.env)
    if profile is not None:
        declared.update(dict(dict(workflow.profiles).get(profile, ())))
    values: dict[str, Any] = {**dict(getattr(workflow, "parameters", ()) or ()), **inputs}
    deferred: list[str] = []
    for name, env_var in declared.items():
        if env_var.command is not None:
            deferred.append(f"{name} (the output of `{env_var.command}`, computed when the run starts)")
            continue
        text = _env_text(env_var, values)
        values[name] = SECRET if env_var.secret else text
    values.update(inputs)
    return values, tuple(deferred)


def _env_text(env_var: EnvVar, scope: dict[str, Any]) -> str:
    chosen = env_var.value
    if env_var.condition is not None:
        from prodigy.workflow import expr

        try:
            holds = expr.truthy(expr.evaluate(expr.parse(env_var.condition, kind="condition"),
                                              {**os.environ, **scope}))
        except expr.ExprError:
            holds = False
        chosen = env_var.when_true if holds else env_var.when_false
    return _render(chosen, scope, shell=False)


def dry_run(workflow: Workflow, *, inputs: Mapping[str, str] | None = None, profile: str | None = None,
            label: str | None = None) -> DryRun:
    variables, deferred = known_variables(workflow, dict(inputs or {}), profile)
    phases: list[DryPhase] = []
    if not workflow.is_mapreduce:
        phases.append(DryPhase("steps", _steps(workflow.steps, "commands", variables)))
    else:
        if workflow.setup is not None:
            phases.append(DryPhase("setup", _steps(workflow.setup.steps, "setup", variables)))
        if workflow.map is not None:
            spec = workflow.map
            details = [("input", _render(spec.input, variables, shell=False))]
            for key in ("json_path", "filter", "sort_by", "distinct"):
                if getattr(spec, key):
                    details.append((key, str(getattr(spec, key))))
            if spec.offset:
                details.append(("offset", str(spec.offset)))
            if spec.max_items is not None:
                details.append(("max_items", str(spec.max_items)))
            details.append(("max_parallel", _render(str(spec.max_parallel), variables, shell=False)))
            phases.append(DryPhase("map", _steps(spec.agent_template, "map.agent_template", variables),
                                   tuple(details)))
        phases.append(DryPhase("reduce", _steps(workflow.reduce, "reduce", variables)))
    if workflow.merge is not None:
        phases.append(DryPhase("merge", _steps(workflow.merge.steps, "merge", variables)))
    shown = {k: str(v) if not isinstance(v, str) else v for k, v in variables.items()}
    return DryRun(label=label, variables=shown, deferred=deferred, phases=tuple(phases))


def _steps(steps: tuple[Step, ...], where: str, variables: Mapping[str, Any]) -> tuple[DryStep, ...]:
    return tuple(_step(step, f"{where}[{n}]", variables) for n, step in enumerate(steps, 1))


def _step(step: Step, where: str, variables: Mapping[str, Any]) -> DryStep:
    if step.kind == "write_file" and step.write_file is not None:
        wf = step.write_file
        raw = f"{wf.path}\n{wf.content}"
        text = f"{_render(wf.path, variables, shell=False)} ({wf.format}):\n{_render(wf.content, variables, shell=False)}"
    else:
        raw = step.command
        text = _render(step.command, variables, shell=step.kind == "shell")
    notes = []
    if step.name:
        notes.append(f"name: {step.name}")
    if step.when:
        notes.append(f"when: {step.when}")
    if step.timeout:
        notes.append(f"timeout: {step.timeout:g}s" if isinstance(step.timeout, (int, float)) else
                     f"timeout: {step.timeout}")
    if step.capture:
        notes.append(f"capture: {step.capture} ({step.capture_format})")
    elif step.capture_output:
        notes.append(f"capture_output: {step.capture_output}")
    if step.working_dir:
        notes.append(f"working_dir: {step.working_dir}")
    if step.commit_required:
        notes.append("commit_required: the step must make a commit")
    if step.env:
        notes.append("env: " + ", ".join(name for name, _ in step.env))
    handlers: list[tuple[str, tuple[DryStep, ...]]] = []
    if step.on_failure is not None:
        attempts = step.on_failure.max_attempts
        title = "on_failure" + (f" (up to {attempts} attempts)" if attempts > 1 else "")
        handlers.append((title, _steps(step.on_failure.steps, f"{where}.on_failure", variables)))
    if step.on_success:
        handlers.append(("on_success", _steps(step.on_success, f"{where}.on_success", variables)))
    for code, steps in step.on_exit_code:
        handlers.append((f"on_exit_code {code}", _steps(steps, f"{where}.on_exit_code.{code}", variables)))
    return DryStep(where=where, kind=step.kind, text=text, unresolved=_unresolved(raw, variables, step.kind),
                   notes=tuple(notes), handlers=tuple(handlers))


def _render(text: str, variables: Mapping[str, Any], *, shell: bool) -> str:
    try:
        return interpolate.render_shell(text, variables) if shell else interpolate.render(text, variables)
    except interpolate.InterpolationError:
        return text  # validation reports a bad reference; the dry run shows the text as written


def _unresolved(text: str, variables: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    try:
        refs = interpolate.references(text, shell=kind == "shell")
    except interpolate.InterpolationError:
        return ()
    missing: list[str] = []
    for ref in refs:
        if ref.braced and not interpolate.evaluate(ref, variables)[0] and ref.name not in missing:
            missing.append(ref.name)
    return tuple(missing)
