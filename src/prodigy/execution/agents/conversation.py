"""Resume inside the agent: every claude call of a top-level step runs under a conversation id prodigy mints
and records (in the step's durable progress) before the process starts, so that a run interrupted in that
step can continue the same conversation (`claude --resume <id>`) in the same tree instead of starting over.

The record (`agent` in the step's progress; compact, it is journaled):

    sid   the conversation (session) id passed as --session-id
    cwd   where the CLI ran (its init.cwd)
    v     the CLI's version (`claude --version`) at the time
    h     a hash of the step's prompt template (a changed step is not continued)
    ts    when the call started (epoch seconds)
    cum   the conversation's cumulative cost as the CLI last reported it (its total_cost_usd counts every
          call of the conversation, so a continued call is charged the difference)

`vet` decides, before a step runs, whether a recorded conversation may be continued; `run.run_agent` does it
and falls back to a fresh call when the CLI says the conversation is gone."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodigy.execution.agents.invocation import checked

MAX_AGE = 7 * 24 * 3600.0  # an older conversation is not continued (the CLI may have cleaned it up)
PROMPT_QUOTE_MAX = 4000  # characters of the original task quoted in the resume prompt

RESUME_PROMPT = """\
You were interrupted while working on the task below: the run that started you was stopped before you \
finished, and this conversation has been resumed in the same working tree. Your earlier changes may already \
be there, complete or half-done. Inspect the tree first (git status, git diff, the files you were editing), \
then finish the original task without redoing work that is already done, and end with the answer the task \
asks for.

The original task:
{quoted}"""


def step_hash(step: Any) -> str:
    return hashlib.sha256(f"{step.kind}\0{step.command}".encode()).hexdigest()[:12]


def resume_prompt(original: str) -> str:
    text = original if len(original) <= PROMPT_QUOTE_MAX else original[:PROMPT_QUOTE_MAX] + "\n[…]"
    return RESUME_PROMPT.format(quoted="\n".join(f"> {line}" for line in text.splitlines() or [""]))


def transcript_dir(env: Mapping[str, str]) -> Path | None:
    """Where the CLI keeps conversations: $CLAUDE_CONFIG_DIR/projects, else $HOME/.claude/projects."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]) / "projects"
    return Path(env["HOME"]) / ".claude" / "projects" if env.get("HOME") else None


def vet(agent: dict[str, Any] | None, *, step: Any, tree: Path | str, cli_version: str | None,
        opted_out: bool, now: float | None = None, transcripts: Path | None = None) -> str | None:
    """None when the recorded conversation may be continued in `tree`; else why it may not (for people).
    With `transcripts` (transcript_dir), a conversation whose transcript is not there is not continued either
    (the CLI would answer "No conversation found"; its fresh attempt then gets a fresh tree)."""
    if not isinstance(agent, dict) or not agent.get("sid"):
        return "no conversation was recorded"
    if opted_out:
        return "resume_agent is false"
    if getattr(step, "kind", None) != "claude" or agent.get("h") != step_hash(step):
        return "the step's prompt changed"
    cwd = Path(str(agent.get("cwd") or ""))
    tree_path = Path(tree)
    if not agent.get("cwd") or not (cwd == tree_path or cwd.is_relative_to(tree_path)) or not cwd.is_dir():
        return f"the conversation ran in {agent.get('cwd')}, not in this tree ({tree_path})"
    age = (time.time() if now is None else now) - float(agent.get("ts") or 0)
    if age > MAX_AGE:
        return f"the conversation is {age / 86400:.0f} days old"
    if agent.get("v") and cli_version and agent["v"] != cli_version:
        return f"the CLI's version changed ({agent['v']} -> {cli_version})"
    if transcripts is not None and not any(transcripts.glob(f"*/{agent['sid']}.jsonl")):
        return "conversation not found"
    return None


def restart_reason(part: Any, step: Any, ctx: Any, policy: Any) -> str | None:
    """A step's recorded progress (`part`, from the standard checkpoint or the job journal) holds the agent call
    the step was interrupted in: None when that conversation may be continued in ctx's tree (or nothing was
    recorded), else why the step must start afresh (opted out, another tree, the step or the CLI changed ...)."""
    agent = part.get("agent") if isinstance(part, dict) else None
    if not agent:
        return None
    cli = checked(ctx.claude_bin)
    return vet(agent, step=step, tree=ctx.run_dir, cli_version=cli.version if cli else None,
               opted_out=opted_out(step, policy), transcripts=transcript_dir(ctx.process_env))


def opted_out(step: Any, workflow_policy: Any) -> bool:
    options = getattr(step, "agent", None)
    if options is not None and options.resume is not None:
        return not options.resume
    return not getattr(workflow_policy, "resume", True)


def summarize(notes: list[tuple[str, str]]) -> str | None:
    """ "3 agents continued their conversations, 1 restarted: conversation not found" """
    if not notes:
        return None
    continued = sum(1 for kind, _ in notes if kind == "continued")
    reasons: dict[str, int] = {}
    for kind, reason in notes:
        if kind == "restarted":
            reasons[reason] = reasons.get(reason, 0) + 1
    parts = []
    if continued:
        parts.append(f"{continued} agent{'s' if continued != 1 else ''} continued "
                     f"{'their conversations' if continued != 1 else 'its conversation'}")
    for reason, count in sorted(reasons.items()):
        parts.append(f"{count} restarted: {reason}")
    return ", ".join(parts)
