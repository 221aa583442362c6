"""The environment commands run with: inherited env + workflow env (+ profile, env_files, secrets) + PRODIGY_*.
Workflow env values are also variables for ${...} interpolation."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import UsageError
from prodigy.execution import process
from prodigy.execution.context import Masker
from prodigy.workflow.interpolate import SecretEnv, render, render_shell
from prodigy.workflow.model import EnvVar, Workflow

DYNAMIC_ENV_TIMEOUT = 60.0
_ENV_REF = re.compile(r"\$\{env[:.]([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class RunEnvironment:
    process_env: dict[str, str]  # what commands see
    variables: dict[str, Any]  # workflow env as interpolation variables (+ `env`: the process environment)
    masker: Masker
    declared: frozenset[str] = frozenset()  # env names the workflow (env, env_files, profile) and --args set
    secrets: frozenset[str] = frozenset()  # the names of secret values among them


def build(workflow: Workflow, *, session_id: str, run_dir: Path, profile: str | None = None,
          extra: dict[str, str] | None = None, inputs: dict[str, str] | None = None) -> RunEnvironment:
    """`inputs` are a run's own values (`--args`/`--map`: ARG, FILE ...): variables, and exported to commands."""
    base = {**os.environ, **{k: v for k, v in (inputs or {}).items() if k.isidentifier()}}
    declared: dict[str, EnvVar] = {}
    for name in workflow.env_files:
        declared.update(_read_env_file(run_dir, name))
    declared.update(workflow.env_dict())
    if profile is not None:
        check_profile(workflow, profile)
        declared.update(dict(dict(workflow.profiles)[profile]))
    resolved: dict[str, str] = {}
    secrets: list[str] = []
    secret_names: set[str] = set()
    parameters = dict(workflow.parameters)  # a composed workflow's parameter values: variables, not env
    for key, env_var in declared.items():
        scope = {**base, **parameters, **resolved}
        value = _value(env_var, scope, run_dir, Masker(secrets))
        resolved[key] = value
        if env_var.secret:
            secrets.append(value)
            secret_names.add(key)
    exported = {k: v for k, v in (inputs or {}).items() if k.isidentifier()}  # ${build.path}: a variable only
    process_env = {**base, **resolved, **exported, "PRODIGY_AUTOMATION": "true",
                   "PRODIGY_SESSION_ID": session_id, **(extra or {})}
    # ${env.NAME} reads the environment commands run with.
    variables: dict[str, Any] = {**parameters, **resolved, **(inputs or {}), "env": process_env}
    return RunEnvironment(process_env=process_env, variables=variables, masker=Masker(secrets),
                          declared=frozenset({*resolved, *exported}), secrets=frozenset(secret_names))


def check_profile(workflow: Workflow, profile: str | None) -> None:
    profiles = dict(workflow.profiles)
    if profile is not None and profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none defined"
        raise UsageError(f"Unknown profile {profile!r} (profiles in {workflow.path.name}: {known}).")


def _value(env_var: EnvVar, scope: dict[str, str], run_dir: Path, masker: Masker) -> str:
    if env_var.command is not None:
        return _command_value(env_var.command, scope, run_dir, masker)
    if env_var.condition is not None:
        from prodigy.workflow import expr  # only for workflows that use expressions

        holds = expr.truthy(expr.evaluate(expr.parse(env_var.condition, kind="condition"), scope))
        chosen = env_var.when_true if holds else env_var.when_false
        return render(_substitute_env_refs(chosen, scope), scope)
    return render(_substitute_env_refs(env_var.value, scope), scope)


def _substitute_env_refs(text: str, scope: dict[str, str]) -> str:
    """`${env:NAME}` / `${env.NAME}`: the value of NAME in prodigy's own environment."""
    return _ENV_REF.sub(lambda mt: scope.get(mt.group(1), ""), text)


def _command_value(command: str, scope: dict[str, str], run_dir: Path, masker: Masker) -> str:
    """A dynamic env value: the command's stdout, computed once when the run starts."""
    secrets = SecretEnv(masker.holds_secret)  # the secrets resolved so far reach it through its environment
    script = render_shell(command, scope, secrets=secrets)
    result = process.run(["/bin/sh", "-c", script], cwd=run_dir, env={**scope, **secrets.env},
                         timeout=DYNAMIC_ENV_TIMEOUT)
    if not result.ok:
        reason = result.start_error or f"exit code {result.exit_code}"
        raise UsageError(f"The env value command failed ({reason}): {command}",
                         hint=masker(result.stderr.strip()[-500:]) or None)
    return result.stdout.strip()


def _read_env_file(run_dir: Path, name: str) -> dict[str, EnvVar]:
    path = Path(name).expanduser()
    path = path if path.is_absolute() else run_dir / path
    if not path.is_file():
        return {}  # optional by design (e.g. .env.production only exists on some machines)
    values: dict[str, EnvVar] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = EnvVar(value)
    return values
