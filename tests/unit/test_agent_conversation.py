"""Resume inside the agent: when a recorded conversation is continued, what the journal keeps, what it costs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from journal_fold import JOB, fold

from prodigy.execution.agents.conversation import resume_prompt, step_hash, summarize, transcript_dir, vet
from prodigy.execution.agents.run import run_agent
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.context import StepContext, StepProgress
from prodigy.execution.mapreduce.continuation import continuation_for
from prodigy.ids import new_session_id
from prodigy.resume.plan import plan_resume
from prodigy.state import jobs
from prodigy.workflow.model import AgentOptions, AgentPolicy, Step

STEP = Step(kind="claude", command="/fix ${item.n}")


def agent(tree: Path, **changes: Any) -> dict[str, Any]:
    return {"sid": "c0ffee00-0000-4000-8000-000000000001", "cwd": str(tree), "v": "2.1.332 (Claude Code)",
            "h": step_hash(STEP), "ts": time.time(), "cum": 0.0, **changes}


def test_vet_continues_only_what_can_be_continued(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    ok = {"step": STEP, "tree": tmp_path, "cli_version": "2.1.332 (Claude Code)", "opted_out": False}
    assert vet(agent(tmp_path), **ok) is None and vet(agent(sub), **ok) is None  # a working_dir inside the tree
    assert vet(None, **ok) == "no conversation was recorded"
    assert vet(agent(tmp_path), **{**ok, "opted_out": True}) == "resume_agent is false"
    assert vet(agent(tmp_path), **{**ok, "step": Step(kind="claude", command="/other")}) == "the step's prompt changed"
    assert "not in this tree" in vet(agent(tmp_path / "elsewhere"), **ok)
    assert vet(agent(tmp_path, ts=time.time() - 8 * 86400), **ok) == "the conversation is 8 days old"
    assert vet(agent(tmp_path), **{**ok, "cli_version": "2.2.0 (Claude Code)"}) == (
        "the CLI's version changed (2.1.332 (Claude Code) -> 2.2.0 (Claude Code))")
    projects = tmp_path / "projects"
    assert vet(agent(tmp_path), **ok, transcripts=projects) == "conversation not found"
    (projects / "-tmp-x").mkdir(parents=True)
    (projects / "-tmp-x" / f"{agent(tmp_path)['sid']}.jsonl").write_text("{}\n")
    assert vet(agent(tmp_path), **ok, transcripts=projects) is None


def test_where_the_cli_keeps_conversations() -> None:
    assert transcript_dir({"HOME": "/h"}) == Path("/h/.claude/projects")
    assert transcript_dir({"HOME": "/h", "CLAUDE_CONFIG_DIR": "/c"}) == Path("/c/projects")
    assert transcript_dir({}) is None


def test_the_resume_prompt_quotes_the_original_task() -> None:
    text = resume_prompt("/fix the parser\nkeep the tests green")
    assert text.startswith("You were interrupted") and "git status, git diff" in text
    assert text.endswith("The original task:\n> /fix the parser\n> keep the tests green")
    assert resume_prompt("x" * 10_000).endswith("[…]")


def test_the_summary_of_what_became_of_interrupted_agents() -> None:
    assert summarize([("continued", "a"), ("continued", "b"), ("continued", "c"),
                      ("restarted", "conversation not found")]) == (
        "3 agents continued their conversations, 1 restarted: conversation not found")
    assert summarize([("continued", "a")]) == "1 agent continued its conversation"
    assert summarize([]) is None


def test_which_map_attempts_continue(tmp_path: Path) -> None:
    steps = (Step(kind="shell", command="prep"), STEP, Step(kind="shell", command="commit"))
    progress = {"a": 1, "steps": {"0": {"shell.output": "x"}}, "parts": {"1": {"agent": agent(tmp_path)}}}
    common = {"tree": tmp_path, "cli_version": "2.1.332 (Claude Code)", "policy": AgentPolicy()}
    resume, note = continuation_for(progress, steps, **common)
    assert note is None and resume == {"k": 1, "steps": {"0": {"shell.output": "x"}},
                                       "parts": {"1": progress["parts"]["1"]}}
    assert continuation_for(None, steps, **common) == (None, None)
    in_shell = {"a": 1, "steps": {}, "parts": {}}  # killed during step 0: nothing to continue
    assert continuation_for(in_shell, steps, **common) == (None, None)
    assert continuation_for(progress, steps, **{**common, "executor": "dask"}) == (
        None, ("restarted", "its conversation is on a Dask worker"))
    assert continuation_for(progress, steps, **{**common, "tree": None}) == (
        None, ("restarted", "its working tree is gone"))
    assert continuation_for(progress, steps, **{**common, "policy": AgentPolicy(resume=False)})[1] == (
        "restarted", "resume_agent is false")
    step_opt_in = (steps[0], Step(kind="claude", command=STEP.command, agent=AgentOptions(resume=True)), steps[2])
    assert continuation_for(progress, step_opt_in, **{**common, "policy": AgentPolicy(resume=False)})[1] is None


def test_the_fold_keeps_an_interrupted_attempts_progress_and_forgets_a_finished_one(tmp_path: Path) -> None:
    base = [{"t": "items_frozen", "count": 2}, {"t": "start", "i": 0},
            {"t": "item_step", "i": 0, "k": 0, "vars": {"a": "1"}},
            {"t": "item_part", "i": 0, "k": 1, "v": {"agent": agent(tmp_path)}}]
    killed = fold(*base)
    progress = killed.items[0].progress
    assert progress["a"] == 1 and progress["steps"] == {"0": {"a": "1"}}
    assert progress["parts"]["1"]["agent"]["sid"] == agent(tmp_path)["sid"]
    interrupted = fold(*base, {"t": "done", "i": 0, "d": 1, "s": "interrupted"})
    assert interrupted.items[0].progress is not None
    plan = plan_resume(interrupted, setup_total=0, reduce_total=0, force=False, max_retries=2)
    assert plan.conversations == 1
    assert fold(*base, {"t": "done", "i": 0, "d": 1}).items[0].progress is None
    assert fold(*base, {"t": "done", "i": 0, "d": 1, "s": "failed", "err": "x"}).items[0].progress is None
    newer = fold(*base, {"t": "item_step", "i": 0, "a": 2, "k": 0, "vars": {"a": "2"}})
    assert newer.items[0].progress == {"a": 2, "steps": {"0": {"a": "2"}}, "parts": {}}  # a new attempt's own
    again = jobs.load_state_data(jobs.dump_state(interrupted))
    assert again.items[0].progress == interrupted.items[0].progress


def test_a_continued_call_is_charged_what_it_added(tmp_path: Path, fake_claude: Path, work: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reports a conversation's cumulative cost; prodigy records each call's share, so totals are right."""
    values: dict[str, Any] = {}
    ctx = StepContext(run_dir=work, process_env=dict(os.environ), session_id=new_session_id(),
                      log_dir=tmp_path / "logs", claude_bin=os.environ["PRODIGY_CLAUDE_BIN"], usage=UsageLedger(),
                      progress=StepProgress(None, values.update))
    step = Step(kind="claude", command="/task [fake:succeed cost=0.5]")
    first = run_agent(step.command, cwd=work, env=dict(os.environ), ctx=ctx, options=None, timeout=30, step=step)
    assert first.ok and ctx.usage.total().cost_usd == 0.5 and values["agent"]["cum"] == 0.5
    again = StepContext(**{**ctx.__dict__, "usage": UsageLedger(), "progress": StepProgress(values, values.update)})
    second = run_agent(step.command, cwd=work, env=dict(os.environ), ctx=again, options=None, timeout=30,
                       step=step)
    assert second.ok and again.usage.notes == [("continued", values["agent"]["sid"])]
    assert again.usage.total().cost_usd == 0.5 and values["agent"]["cum"] == 1.0  # reported 1.0 in all
    calls = [json.loads(line) for line in fake_claude.read_text().splitlines()]
    assert any(arg.startswith("--resume=") for arg in calls[-1])


def test_the_snapshot_and_the_journal_checks_accept_progress_and_refuse_damage(tmp_path: Path) -> None:
    meta = jobs.JobMeta(job_id=JOB, session_id="session-00000000-0000-4000-8000-000000000001",
                        workflow_path="/w/workflow.yml", workflow_sha256="abc", run_dir="/w", repo="repo",
                        created_at="2026-01-01T00:00:00Z")
    store = jobs.JobStore.create(meta, "name: t\n")
    for record in ({"t": "items_frozen", "count": 2}, {"t": "start", "i": 0},
                   {"t": "item_step", "i": 0, "k": 0, "vars": {"a": "1"}},
                   {"t": "item_part", "i": 0, "k": 1, "v": {"agent": agent(tmp_path)}},
                   {"t": "done", "i": 0, "d": 1, "s": "interrupted"}):
        store.append(record)
    store.close()  # writes the snapshot
    state = jobs.JobStore(store.folder).load_state()
    assert state.warnings == [] and state.items[0].progress["steps"] == {"0": {"a": "1"}}
    with open(store.journal_path, "ab") as handle:
        handle.write(b'{"t":"item_part","i":1}\n')  # no step index: damaged
    state = jobs.JobStore(store.folder).load_state()
    assert any("item_part" in w or "k" in w for w in state.warnings) and state.items[0].progress is not None
