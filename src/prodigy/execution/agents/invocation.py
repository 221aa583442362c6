"""How prodigy starts the agent CLI: the argv (options in --flag=value form, `--` before the prompt, or the
prompt on stdin when it is long), the environment (clear_env keeps the agent's credentials), and the preflight
that checks, once per run and before any step starts, that the CLI runs at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prodigy.errors import MissingToolError, UsageError
from prodigy.workflow.model import AgentOptions

BASE_FLAGS = ("-p", "--output-format=stream-json", "--verbose", "--dangerously-skip-permissions")
PROMPT_ARGV_MAX = 32 * 1024  # longer prompts go on stdin (one argv string may not exceed 128 KiB on Linux)
KEPT_PREFIXES = ("ANTHROPIC_", "CLAUDE_")  # the agent's credentials and settings survive clear_env
KEPT_NAMES = ("IS_SANDBOX",)
PREFLIGHT_TIMEOUT = 30.0


class AgentSetupError(UsageError):
    """The agent CLI cannot run here (not startable, refuses to run as root): found before any step ran."""


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    stdin: bytes | None  # the prompt, when it is too long for argv


def command(binary: str, prompt: str, options: AgentOptions | None, *, session_id: str | None = None,
            resume: str | None = None, private: bool = False) -> Invocation:
    """`private`: the prompt holds a secret, so it goes on stdin, never into the argv every user can read."""
    argv = [binary, *BASE_FLAGS]
    if options is not None:
        if options.model:
            argv.append(f"--model={options.model}")
        if options.max_turns:
            argv.append(f"--max-turns={options.max_turns}")
        if options.max_budget_usd:
            argv.append(f"--max-budget-usd={options.max_budget_usd:g}")
        if options.allowed_tools:
            argv.append(f"--allowedTools={','.join(options.allowed_tools)}")
    if resume:
        argv.append(f"--resume={resume}")
    elif session_id:
        argv.append(f"--session-id={session_id}")
    data = prompt.encode("utf-8", "surrogateescape")
    if private or len(data) > PROMPT_ARGV_MAX or "\0" in prompt:
        return Invocation(argv, data)  # with -p and no prompt argument, the CLI reads the prompt from stdin
    return Invocation([*argv, "--", prompt], None)


def agent_env(env: dict[str, str], process_env: Mapping[str, str], *, cleared: bool,
              step_env: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """With clear_env, put back the agent's own variables (unless the step's env sets them)."""
    if not cleared:
        return env
    own = {k for k, _ in step_env}
    for key, value in process_env.items():
        if key not in own and key not in env and (key.startswith(KEPT_PREFIXES) or key in KEPT_NAMES):
            env[key] = value
    return env


# ---------------------------------------------------------------- preflight


@dataclass(frozen=True)
class AgentCli:
    path: str
    version: str | None  # what `claude --version` printed (first line)


_checked: dict[str, AgentCli] = {}


def preflight(binary: str, env: Mapping[str, str], workflow_env: Mapping[str, Any] | None = None) -> AgentCli:
    """Once per run (per process): the CLI exists, starts, says its version, and will not refuse to run as root.
    Raises AgentSetupError / MissingToolError (exit 2) with what to do."""
    found = shutil.which(binary, path=env.get("PATH", os.defpath)) if "/" not in binary else (
        binary if os.access(binary, os.X_OK) and not os.path.isdir(binary) else None)
    if not found:
        raise MissingToolError(
            f"This workflow has claude: steps, but the agent CLI '{binary}' was not found on PATH.",
            hint="Install Claude Code (npm install -g @anthropic-ai/claude-code), or point PRODIGY_CLAUDE_BIN "
            "at the executable to use.")
    if _is_root() and not _sandboxed(env, workflow_env):
        raise AgentSetupError(
            "prodigy runs as root, and as root claude refuses --dangerously-skip-permissions (which prodigy "
            "passes so that agents can work unattended).",
            hint="Run prodigy as a normal user, or set IS_SANDBOX=1 if this is a container or sandbox.")
    cached = _checked.get(found)
    if cached is not None:
        return cached
    version = _version(found, env)
    _checked[found] = cli = AgentCli(path=found, version=version)
    return cli


def checked(binary: str) -> AgentCli | None:
    """The preflight's finding for this binary in this process, if it ran."""
    found = binary if "/" in binary else shutil.which(binary)
    return _checked.get(found or binary)


def _version(path: str, env: Mapping[str, str]) -> str | None:
    from prodigy.execution import process

    with tempfile.TemporaryDirectory(prefix="prodigy-preflight-") as scratch:
        result = process.run([path, "--version"], cwd=scratch, env=env, timeout=PREFLIGHT_TIMEOUT, output_cap=4096)
    if result.start_error:
        raise AgentSetupError(f"The agent CLI {path} cannot start: {result.start_error}.",
                              hint="Check that it is an executable (claude --version); PRODIGY_CLAUDE_BIN "
                              "selects which one prodigy runs.")
    if result.timed_out:
        raise AgentSetupError(f"`{path} --version` did not answer within {PREFLIGHT_TIMEOUT:g}s.",
                              hint="Check that the agent CLI runs on this machine: claude --version")
    if result.exit_code != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise AgentSetupError(f"`{path} --version` failed (exit {result.exit_code})"
                              + (f": {said[-1][:300]}" if said else "."),
                              hint="Reinstall Claude Code (npm install -g @anthropic-ai/claude-code) or point "
                              "PRODIGY_CLAUDE_BIN at a working claude.")
    first = result.stdout.strip().splitlines()
    return first[0][:200] if first else None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _sandboxed(env: Mapping[str, str], workflow_env: Mapping[str, Any] | None) -> bool:
    value = env.get("IS_SANDBOX")
    if not value and workflow_env and "IS_SANDBOX" in workflow_env:
        declared = workflow_env["IS_SANDBOX"]
        value = getattr(declared, "value", declared)
    return bool(value) and str(value).strip().lower() not in ("0", "false", "no")
