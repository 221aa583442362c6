"""One agent call: start the CLI, read its stream as it comes (masked log, -v lines, economics), stop it once
its final result is in and it lingers, and turn the end into an outcome with a failure kind."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.agents.conversation import resume_prompt, step_hash
from prodigy.execution.agents.failures import judge
from prodigy.execution.agents.invocation import checked, command
from prodigy.execution.agents.masking import AgentLog, secret_forms
from prodigy.execution.agents.stream import ANSWER_CAP, AgentStream
from prodigy.execution.agents.usage import fmt_cost
from prodigy.execution.context import StepContext
from prodigy.workflow.model import AgentOptions

DEFAULT_TIMEOUT = 3600.0  # a claude step with no timeout of its own and no agent_timeout_secs
RESULT_GRACE = 5.0  # after the final result, how long the CLI may take to exit before it is ended


def run_agent(prompt: str, *, cwd: Path, env: dict[str, str], ctx: StepContext, options: AgentOptions | None,
              timeout: float | None, step: Any = None) -> o.CommandOutcome:
    """One claude step's call. A top-level step (one with durable progress) runs under a conversation id that
    is recorded before the CLI starts; if the progress already holds one (an interrupted run, vetted by the
    runner), the conversation is continued, and a CLI that no longer has it gets a fresh call instead."""
    progress = ctx.progress
    prior = progress.get("agent") if progress is not None else None
    if not (isinstance(prior, dict) and prior.get("sid")):
        return _call(prompt, cwd=cwd, env=env, ctx=ctx, options=options, timeout=timeout, step=step)
    outcome = _call(prompt, cwd=cwd, env=env, ctx=ctx, options=options, timeout=timeout, step=step, resume=prior)
    kind = outcome.failure_kind
    if kind is not None and kind.reason == "no_conversation":
        _note(ctx, "restarted", "the CLI no longer has the conversation")
        return _call(prompt, cwd=cwd, env=env, ctx=ctx, options=options, timeout=timeout, step=step)
    _note(ctx, "continued", str(prior["sid"]))
    return outcome


def _call(prompt: str, *, cwd: Path, env: dict[str, str], ctx: StepContext, options: AgentOptions | None,
          timeout: float | None, step: Any, resume: dict[str, Any] | None = None) -> o.CommandOutcome:
    forms = secret_forms(ctx.masker.secrets)
    log_path = log_path_for(ctx)
    log = AgentLog(log_path, forms)
    stream = AgentStream(log, on_event=_verbose(ctx), forms=forms)
    progress = ctx.progress
    if resume is not None:
        sid = str(resume["sid"])
        invocation = command(ctx.claude_bin, resume_prompt(prompt), options, resume=sid,
                             private=ctx.masker.holds_secret(prompt))
        record = {**resume, "ts": round(time.time(), 3)}
    else:
        sid = str(uuid.uuid4())
        invocation = command(ctx.claude_bin, prompt, options, session_id=sid,
                             private=ctx.masker.holds_secret(prompt))
        cli = checked(ctx.claude_bin)
        record = {"sid": sid, "cwd": str(cwd), "v": cli.version if cli else None,
                  "h": step_hash(step) if step is not None else None, "ts": round(time.time(), 3), "cum": 0.0}

    def on_start(info: process.StartInfo) -> None:
        if progress is not None:  # durable before the CLI may start: a resume can continue this conversation
            progress.put("agent", record)
        if ctx.on_start is not None:
            ctx.on_start(info)

    # The tighter of the step's timeout and what agent_timeout_secs leaves; with neither, a default watchdog.
    if timeout is None and ctx.deadline is None:
        timeout = DEFAULT_TIMEOUT
    limit = ctx.timeout_for(timeout)
    try:
        result = process.run(
            invocation.argv, cwd=cwd, env=env, timeout=limit, on_start=on_start, stdin_data=invocation.stdin,
            on_line=_stderr_lines(ctx), stop_event=ctx.stop_event, output_cap=ctx.output_cap,
            stdout_sink=stream, finished=stream.result_seen, finish_grace=RESULT_GRACE)
    finally:
        stream.close()
    verdict = judge(result, stream, timeout=limit)
    usage = stream.usage()
    if usage is not None and usage.cost_usd is not None and progress is not None and stream.result is not None:
        # total_cost_usd counts the whole conversation: charge this call what it added, remember the total
        prior_total = float(record.get("cum") or 0.0)
        progress.put("agent", {**record, "sid": stream.session_id or sid, "cum": usage.cost_usd})
        usage = dataclasses.replace(usage, cost_usd=round(max(usage.cost_usd - prior_total, 0.0), 6))
    if progress is not None and verdict.kind is not None and not verdict.kind.run_level:
        progress.put("agent", None)  # the agent's own failure: a retry or a handler starts a new conversation
    if ctx.usage is not None:
        ctx.usage.add(usage)
    answer = _bounded_answer(stream, log_path)
    mask = ctx.masker
    error = verdict.error
    warnings = verdict.warnings
    if progress is not None and resume is None and stream.init and stream.init.get("session_id") not in (None, sid):
        warnings += (f"the CLI ran conversation {stream.init.get('session_id')}, not {sid} (--session-id)",)
    if warnings and ctx.on_line is not None:
        for warning in warnings:
            ctx.on_line(ctx.label, "stderr", f"warning: {mask(warning)}")
    return o.CommandOutcome(
        status=verdict.status, exit_code=result.exit_code, stdout=mask(answer or ""), stderr=mask(result.stderr),
        duration=result.duration, log_path=str(log_path), error=mask(error) if error else None,
        output=mask(answer) if answer is not None else "", failure_kind=verdict.kind)


def _note(ctx: StepContext, kind: str, detail: str) -> None:
    if ctx.usage is not None:
        ctx.usage.note(kind, detail)


def log_path_for(ctx: StepContext) -> Path:
    base = ctx.log_dir or Path.cwd()
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    return base / ctx.session_id / f"{ctx.label}-{stamp}-{uuid.uuid4().hex[:8]}.jsonl"


def _bounded_answer(stream: AgentStream, log_path: Path) -> str | None:
    text, size = stream.answer()
    if text is None:
        return None
    data = text.encode("utf-8", "replace")
    if len(data) <= ANSWER_CAP:
        return text
    kept = data[-ANSWER_CAP:].decode("utf-8", "ignore")
    return f"[answer cut: the last {ANSWER_CAP} of {size} bytes; the whole answer is in {log_path}]\n{kept}"


def _stderr_lines(ctx: StepContext) -> Callable[[str, str], None] | None:
    sink = ctx.on_line
    if sink is None:
        return None

    def on_line(kind: str, line: str) -> None:
        if kind == "stderr":
            sink(ctx.label, kind, ctx.masker(line))

    return on_line


def _verbose(ctx: StepContext) -> Callable[[dict[str, Any]], None] | None:
    """With -v: the agent's text, its tool calls, the CLI's API retries and its result, one line each."""
    sink = ctx.on_line
    if sink is None:
        return None

    def on_event(event: dict[str, Any]) -> None:
        text = describe_event(event)
        if text:
            sink(ctx.label, "stdout", ctx.masker(text))

    return on_event


_RETRY_WORDS = {"rate_limit": "API rate limited", "overloaded": "API overloaded", "server_error": "API server error",
                "authentication_failed": "API authentication failed"}


def describe_event(event: dict[str, Any]) -> str | None:
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "api_retry":
        what = _RETRY_WORDS.get(str(event.get("error")), f"API error {event.get('error')}")
        status = event.get("error_status")
        delay = event.get("retry_delay_ms")
        wait = f" in {delay / 1000:.0f} s" if isinstance(delay, (int, float)) else ""
        return f"{what}{f' ({status})' if status else ''}, retry {event.get('attempt')}/{event.get('max_retries')}{wait}"
    if kind == "result":
        cost = event.get("total_cost_usd")
        subtype = event.get("subtype")
        head = "[result]" if not event.get("is_error") else (
            "[result: error]" if subtype == "success" else f"[result: error, {subtype}]")
        extra = f" {event.get('num_turns')} turn(s), {fmt_cost(cost)}" if isinstance(cost, (int, float)) else ""
        text = event.get("result")
        return f"{head}{extra}: {text if isinstance(text, str) else '; '.join(map(str, event.get('errors') or []))}"
    message = event.get("message")
    if kind == "assistant" and isinstance(message, dict):
        parts = []
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                parts.append(str(block["text"]))
            elif block.get("type") == "tool_use":
                arg = block.get("input") or {}
                detail = arg.get("command") or arg.get("file_path") or arg.get("pattern") or ""
                first = str(detail).splitlines()[0][:120] if detail else ""
                parts.append(f"[tool] {block.get('name')}{': ' + first if first else ''}")
        return " ".join(parts) or None
    return None
