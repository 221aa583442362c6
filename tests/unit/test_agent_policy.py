"""The one place that decides what a run does about agent failures that are not an item's fault, and the cap."""

from __future__ import annotations

import threading

import pytest

from prodigy.execution import outcome as o
from prodigy.execution.agents.policy import AgentGovernor, AgentStop, Pause, settle
from prodigy.workflow.model import AgentPolicy

LIMIT = o.FailureKind(o.TRANSIENT, "rate_limit")
AUTH = o.FailureKind(o.FATAL, "auth", hint="log in")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def governor(**settings) -> tuple[AgentGovernor, Clock]:
    clock = Clock()
    policy = AgentPolicy(**{"retry_pause": 10.0, "outage_limit": 600.0, **settings})
    return AgentGovernor(policy, clock=clock, rng=lambda: 0.5), clock


def test_transient_failures_pause_the_pool_with_growing_backoff() -> None:
    gov, clock = governor()
    delays = []
    for _ in range(4):
        pause = gov.observe(LIMIT, "429")
        assert isinstance(pause, Pause) and "rate limiting" in pause.message
        delays.append(pause.seconds)
        assert gov.wait_left() == pause.seconds
        clock.now += pause.seconds  # the pause is over, the next dispatch fails again
    assert delays == [10.0, 20.0, 40.0, 80.0]
    assert gov.pauses == 4 and gov.observe(None) is None and gov.outage_started is None


def test_jitter_and_the_cap_of_the_backoff() -> None:
    low, _ = governor()
    low._rng = lambda: 0.0
    assert low.observe(LIMIT).seconds == 7.5
    gov, clock = governor(outage_limit=10_000)
    for _ in range(8):
        pause = gov.observe(LIMIT)
        clock.now += pause.seconds
    assert pause.seconds == 300.0  # doubled up to five minutes


def test_failures_of_the_same_wave_do_not_escalate_but_a_longer_wait_is_honoured() -> None:
    gov, clock = governor()
    assert gov.observe(LIMIT).seconds == 10.0
    clock.now += 1
    assert gov.observe(LIMIT) is None and gov.wait_left() == 9.0  # an item started before the pause
    assert gov.observe(o.FailureKind(o.TRANSIENT, "rate_limit", retry_after=30.0)) is None
    assert gov.wait_left() == 30.0


def test_the_api_asking_for_longer_is_honoured() -> None:
    gov, _ = governor()
    assert gov.observe(o.FailureKind(o.TRANSIENT, "usage_limit", retry_after=120.0)).seconds == 120.0


def test_an_outage_longer_than_the_limit_stops_resumably() -> None:
    gov, clock = governor(outage_limit=60.0)
    clock.now += gov.observe(LIMIT).seconds  # 10
    clock.now += gov.observe(LIMIT).seconds  # 20 -> 30 s into the outage
    stop = gov.observe(LIMIT, "API Error: 429")  # 40 more would pass 60
    assert isinstance(stop, AgentStop) and stop.kind == o.TRANSIENT and gov.stop is stop
    assert "agent_outage_limit (60s)" in stop.message and "API Error: 429" in stop.message
    assert isinstance(gov.observe(AUTH), AgentStop) and gov.stop is stop  # the first stop is the one


def test_any_answer_from_the_api_ends_the_outage() -> None:
    gov, clock = governor(outage_limit=60.0)
    clock.now += gov.observe(LIMIT).seconds
    assert gov.observe(o.FailureKind(o.AGENT, "max_turns")) is None  # the agent's own failure: the API answered
    clock.now += 500
    assert isinstance(gov.observe(LIMIT), Pause)


def test_a_fatal_failure_stops_at_once() -> None:
    gov, _ = governor()
    stop = gov.observe(AUTH, "claude failed: Failed to authenticate")
    assert stop == AgentStop(o.FATAL, "auth", "claude failed: Failed to authenticate", "log in")


def test_the_cost_cap() -> None:
    gov = AgentGovernor(AgentPolicy(max_cost_usd=1.0), spent_usd=0.4)
    assert gov.check_budget() is None and gov.add_cost(0.5) is None and gov.add_cost(None) is None
    stop = gov.add_cost(0.2)
    assert stop.kind == "budget" and "$1.10 reached max_cost_usd $1.00" in stop.message
    assert "--max-cost 2.20" in stop.hint
    assert AgentGovernor(AgentPolicy(max_cost_usd=1.0), spent_usd=2, max_cost_usd=5).check_budget() is None
    assert AgentGovernor(AgentPolicy(), spent_usd=1e9).check_budget() is None  # no cap


@pytest.mark.parametrize("interrupt", [False, True])
def test_settle_runs_a_step_again_after_each_pause(interrupt: bool) -> None:
    gov = AgentGovernor(AgentPolicy(retry_pause=0.01))  # the real clock: settle really waits
    stop_event = threading.Event()
    results = [o.StepOutcome(status=o.FAILED, failure_kind=LIMIT)] * 2 + [o.StepOutcome(status=o.SUCCEEDED)]
    tries: list[int] = []
    pauses: list[Pause] = []

    def attempt():
        tries.append(1)
        return results[len(tries) - 1], 0.01, True

    def on_pause(pause: Pause) -> None:
        pauses.append(pause)
        if interrupt:
            stop_event.set()

    outcome = settle(attempt, gov, stop_event, on_pause)
    if interrupt:
        assert outcome.status == o.FAILED and len(tries) == 1 and stop_event.is_set()
    else:
        assert outcome.ok and len(tries) == 3 and len(pauses) == 2 and gov.spent == 0.03
