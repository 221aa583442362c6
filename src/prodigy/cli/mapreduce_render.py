"""The end-of-job summary for people, and the JSON object for scripts."""

from __future__ import annotations

from typing import Any

from prodigy.cli.common import conversations_json
from prodigy.cli.render import ConsoleReporter, escape, fmt_duration
from prodigy.cli.worktree_render import render_worktree


def job_json(summary: Any) -> dict[str, Any]:
    plan = summary.plan
    run = summary.map_run
    return {
        "session_id": summary.session_id,
        "job_id": summary.job_id,
        "kind": "mapreduce",
        "status": summary.status,
        "exit_code": summary.exit_code,
        "resumed": summary.resumed,
        "phase": summary.phase,
        "failed_phase": summary.failed_phase,
        "error": summary.error,
        "hint": summary.hint,
        "items": summary.counts,
        "this_run": None if run is None else {
            "started": run.started, "succeeded": run.succeeded, "failed_attempts": run.failed,
            "retried": run.retried, "sent_to_dlq": run.to_dlq, "stopped_by_policy": run.stopped_by_policy,
            "requeued": run.requeued,
        },
        "conversations": conversations_json(summary.conversations),
        "stop": summary.stop.to_json() if summary.stop else None,
        "resume_plan": None if plan is None else {
            "phase": plan.phase, "done_skipped": plan.done, "in_flight_rerun": len(plan.in_flight),
            "dlq": len(plan.dlq), "dlq_retried": plan.retry_dlq, "pending": len(plan.pending),
            "max_retries": plan.max_retries, "done_cost_usd": plan.done_cost_usd,
            "agent_conversations": plan.conversations,
        },
        "setup_steps": {"done": summary.setup_steps[0], "total": summary.setup_steps[1]},
        "reduce_steps": {"done": summary.reduce_steps[0], "total": summary.reduce_steps[1]},
        "reaped_processes": summary.reaped,
        "executor": summary.executor,
        "scheduler": summary.scheduler,
        "agents": summary.agents,
        "duration_seconds": round(summary.duration, 3),
        "job_dir": summary.job_dir,
        "events_log": summary.events_path,
        "warnings": summary.warnings,
        "next_command": summary.next_command,
    }


def render_job(reporter: ConsoleReporter, summary: Any) -> None:
    counts = summary.counts
    out = reporter
    head = "Resume" if summary.resumed else "Run"
    items = (f"{counts['successful']} succeeded, {counts['failed']} failed"
             f"{' (' + str(counts['dlq']) + ' in the dead-letter queue)' if counts['dlq'] else ''}, "
             f"{counts['pending']} not run, of {counts['total']}")
    if summary.status == "completed":
        out.print(f"[green]Done[/green]: {counts['successful']} of {counts['total']} item(s) succeeded "
                  f"({fmt_duration(summary.duration)}).")
    elif summary.status == "completed_with_failures":
        out.print(f"[yellow]Done[/yellow]: {counts['successful']} succeeded, {counts['dlq']} in the dead-letter "
                  f"queue (prodigy dlq list {summary.job_id}) ({fmt_duration(summary.duration)}).")
    elif summary.status == "interrupted":
        out.print(f"[yellow]■ {head} interrupted[/yellow] during {summary.phase}: {items}.")
    elif summary.status == "stopped":
        out.print(f"[yellow]■ {head} stopped[/yellow] in {summary.failed_phase}: {escape(summary.error or '')}")
        if summary.hint:
            out.print(f"  What to do: {escape(summary.hint)}")
        out.print(f"  Items: {items} (nothing was sent to the dead-letter queue for this).")
    else:
        out.print(f"[red]✖ {head} failed[/red] in {summary.failed_phase}: {escape(summary.error or '')}")
        if summary.hint:
            out.print(f"  {escape(summary.hint)}")
        if summary.map_run is not None or counts["total"]:
            out.print(f"  Items: {items}.")
    if summary.map_run is not None and summary.resumed:
        run = summary.map_run
        out.print(f"  This resume ran {run.started} attempt(s): {run.succeeded} succeeded, {run.failed} failed.")
    if summary.conversations:
        from prodigy.execution.agents.conversation import summarize

        out.print(f"  Conversations: {escape(summarize(summary.conversations) or '')}.")
    if summary.map_run is not None and summary.map_run.requeued:
        out.print(f"  {summary.map_run.requeued} attempt(s) went back to the queue without spending a retry "
                  "(a transient API failure, or the cluster's).")
    agents = agents_line(summary.agents)
    if agents:
        out.print(f"  Agents:     {escape(agents)}")
    if summary.executor != "local":
        out.print(f"  Executor:   {summary.executor} (scheduler {escape(summary.scheduler or '?')})")
    out.print(f"  Job folder: {escape(summary.job_dir)}")
    out.print(f"  Events:     {escape(summary.events_path)}")
    render_worktree(out, summary.worktree)
    if summary.next_command:
        verb = "Resume with" if summary.status in ("interrupted", "failed", "stopped") else "Retry the DLQ with"
        out.print(f"{verb}: [bold]{summary.next_command}[/bold]")


def agents_line(agents: dict[str, Any] | None) -> str | None:
    """ "$0.31 this run (12 agent calls, 40.1k tokens in / 3.2k out); $4.43 recorded for the job" """
    if not agents:
        return None
    from prodigy.execution.agents.usage import describe_totals, fmt_cost
    from prodigy.state.spend import READABLE

    short = {v: k for k, v in READABLE.items()}
    this_run = {short[k]: v for k, v in (agents.get("this_run") or {}).items() if k in short}
    total = agents.get("total") or {}
    described = describe_totals(this_run)
    text = f"{described.replace(' over ', ' this run over ', 1)}" if described else "none this run"
    if total.get("cost_usd") != this_run.get("usd") or total.get("calls") != this_run.get("calls"):
        calls = total.get("calls", 0)
        text += f"; {fmt_cost(total.get('cost_usd'))} recorded in all ({calls} call{'s' if calls != 1 else ''})"
    return text
