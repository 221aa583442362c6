"""Whether a map item's next attempt continues its interrupted agent (resume inside the agent) or starts
afresh, decided from the item's recorded progress (state/job_state.py: ItemState.progress) before dispatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodigy.execution.agents.conversation import opted_out, vet
from prodigy.workflow.model import AgentPolicy, Step

Note = tuple[str, str]  # ("restarted", why)


def continuation_for(progress: dict[str, Any] | None, steps: tuple[Step, ...], *, tree: Path | None,
                     cli_version: str | None, policy: AgentPolicy, executor: str = "local",
                     now: float | None = None, transcripts: Path | None = None
                     ) -> tuple[dict[str, Any] | None, Note | None]:
    """(the task's `resume`, None) to continue; (None, a note) when an interrupted agent must restart; (None,
    None) when there is nothing to continue (the last attempt did not stop inside an agent call)."""
    if not progress:
        return None, None
    done = {int(k) for k in progress.get("steps") or {}}
    running = next((k for k in range(len(steps)) if k not in done), None)
    if running is None:
        return None, None
    part = (progress.get("parts") or {}).get(str(running)) or {}
    agent = part.get("agent")
    if not agent:
        return None, None
    if executor != "local":
        return None, ("restarted", "its conversation is on a Dask worker")
    if tree is None:
        return None, ("restarted", "its working tree is gone")
    reason = vet(agent, step=steps[running], tree=tree, cli_version=cli_version,
                 opted_out=opted_out(steps[running], policy), now=now, transcripts=transcripts)
    if reason is not None:
        return None, ("restarted", reason)
    steps_done = {k: v for k, v in (progress.get("steps") or {}).items() if int(k) < running}
    return {"k": running, "steps": steps_done, "parts": {str(running): part}}, None
