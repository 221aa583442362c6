"""Agent economics in the journal fold, the snapshot, the views computed from it, and the loader's keys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from journal_fold import fold

from prodigy.resume.plan import plan_resume
from prodigy.state import jobs
from prodigy.state.spend import job_spend
from prodigy.views.events import agent_stats
from prodigy.workflow.load import check_workflow

AG = {"usd": 0.5, "in": 100, "out": 10, "turns": 2, "sid": "c1", "model": "m"}


RECORDS = [
    {"t": "setup_step", "index": 0, "vars": {}, "ag": {"usd": 0.1, "in": 5}},
    {"t": "setup_done", "captures": {}},
    {"t": "items_frozen", "count": 4},
    {"t": "start", "i": 0}, {"t": "done", "i": 0, "d": 1, "ag": AG},
    {"t": "start", "i": 1}, {"t": "done", "i": 1, "d": 1, "s": "failed", "err": "x", "ag": {"usd": 0.25}},
    {"t": "start", "i": 1, "a": 2}, {"t": "done", "i": 1, "a": 2, "d": 1, "ag": {**AG, "usd": 2.0}},
    {"t": "start", "i": 2}, {"t": "done", "i": 2, "d": 1},  # a shell-only item
    {"t": "start", "i": 3}, {"t": "done", "i": 3, "d": 1, "s": "interrupted", "ag": {"in": 7, "partial": True}},
    {"t": "spend", "ph": "reduce", "k": 0, "ag": {"usd": 0.05, "calls": 2}},
]


def test_the_fold_sums_every_agent_call_and_the_completed_items_apart() -> None:
    state = fold(*RECORDS)
    assert state.spend == {"usd": 2.9, "in": 212, "out": 20, "turns": 4, "calls": 7}
    assert state.done_spend == {"usd": 2.5, "in": 200, "out": 20, "turns": 4, "calls": 2}
    assert state.costliest == [1, 2.0]
    figures = job_spend(state)
    assert figures["total"]["cost_usd"] == 2.9 and figures["total"]["calls"] == 7
    assert figures["completed_items"] == {"items": 3, "cost_usd": 2.5, "average_cost_usd": 0.833333,
                                          "most_expensive": {"item_id": "item_1", "cost_usd": 2.0}}
    assert plan_resume(state, setup_total=1, reduce_total=1, force=False, max_retries=2).done_cost_usd == 2.5


def test_the_snapshot_keeps_the_totals() -> None:
    state = fold(*RECORDS)
    again = jobs.load_state_data(jobs.dump_state(state))
    assert (again.spend, again.done_spend, again.costliest) == (state.spend, state.done_spend, state.costliest)
    plain = fold({"t": "items_frozen", "count": 1}, {"t": "start", "i": 0}, {"t": "done", "i": 0, "d": 1})
    assert "spend" not in jobs.dump_state(plain) and job_spend(plain) is None  # no cost where no agent ran


def test_events_stats_figures_come_from_the_journal() -> None:
    stats = agent_stats(RECORDS)
    assert stats["total"]["cost_usd"] == 2.9 and stats["total"]["calls"] == 7
    per = stats["completed_items"]
    assert (per["count"], per["p50_cost_usd"], per["max_cost_usd"]) == (2, 0.5, 2.0)
    assert per["most_expensive"][0] == {"item_id": "item_1", "cost_usd": 2.0}
    assert agent_stats([{"t": "done", "i": 0}]) is None


def load(tmp_path: Path, text: str):
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return check_workflow(path)


def test_the_loader_reads_agent_keys(tmp_path: Path) -> None:
    result = load(tmp_path, """
        max_cost_usd: 12.5
        agent_retry_pause: 2s
        agent_outage_limit: 10m
        commands:
          - claude: /fix
            model: claude-sonnet-9
            max_turns: 30
            max_budget_usd: 1
            allowed_tools: "Read, Edit"
    """)
    assert not result.errors, result.problems
    workflow = result.workflow
    assert (workflow.agents.max_cost_usd, workflow.agents.retry_pause, workflow.agents.outage_limit) == (
        12.5, 2.0, 600.0)
    options = workflow.steps[0].agent
    assert (options.model, options.max_turns, options.max_budget_usd, options.allowed_tools) == (
        "claude-sonnet-9", 30, 1.0, ("Read", "Edit"))


@pytest.mark.parametrize(("text", "message"), [
    ("- shell: echo\n  model: x\n", "'model' applies to claude steps only"),
    ("- claude: /x\n  max_turns: 0\n", "expected a positive integer"),
    ("- claude: /x\n  max_budget_usd: -1\n", "expected a positive amount in US dollars"),
    ("- claude: /x\n  allowed_tools: [1, 2]\n", "expected a list of tool names"),
    ("max_cost_usd: lots\ncommands:\n  - claude: /x\n", "expected a positive amount in US dollars"),
    ("agent_outage_limit: soon\ncommands:\n  - claude: /x\n", "expected a duration"),
])
def test_bad_agent_keys_are_named(tmp_path: Path, text: str, message: str) -> None:
    result = load(tmp_path, text)
    assert any(message in p.message for p in result.errors), result.problems
