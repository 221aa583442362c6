"""What a run does about an agent failure that is not the item's fault, and about the cost cap: the decisions
the map coordinator, the standard runner and the setup/reduce phases all take from here.

- A transient failure (rate limit, overload, 5xx, usage limit) pauses dispatching for the whole pool, with
  exponential backoff and jitter, at least as long as the CLI or the API asked; the attempt costs the item
  nothing. When the outage has lasted longer than `agent_outage_limit`, the run stops, resumable.
- A fatal failure (authentication, permission, the root guard, a CLI that cannot start) stops the run at
  once, resumable: nothing is sent to the DLQ, a plain resume after the fix continues.
- Reaching `max_cost_usd` (the job's recorded agent cost, all runs together) stops dispatching, resumable.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prodigy.execution import outcome as o
from prodigy.execution.agents.usage import fmt_cost
from prodigy.workflow.model import AgentPolicy

MAX_PAUSE = 300.0  # the backoff doubles up to this (or up to agent_retry_pause, if that is longer)
TRANSIENT_WORDS = {"rate_limit": "the API is rate limiting", "overloaded": "the API is overloaded",
                   "server_error": "the API is failing (5xx)", "usage_limit": "the account hit its usage limit"}


@dataclass(frozen=True)
class AgentStop:
    """Why a run stopped dispatching, resumably."""

    kind: str  # fatal | transient | budget | cluster
    reason: str  # auth, permission, root, ..., rate_limit, ..., max_cost
    message: str  # what happened, in the CLI's words where it spoke
    hint: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "reason": self.reason, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Pause:
    seconds: float
    message: str


class AgentGovernor:
    def __init__(self, settings: AgentPolicy, *, spent_usd: float = 0.0, max_cost_usd: float | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self.max_cost = max_cost_usd if max_cost_usd is not None else settings.max_cost_usd
        self.spent = spent_usd
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self.stop: AgentStop | None = None
        self.paused_until: float | None = None
        self.outage_started: float | None = None
        self._pauses_in_outage = 0
        self.pauses = 0  # how many times the pool paused
        self.paused_seconds = 0.0

    # -- outcomes
    def observe(self, kind: o.FailureKind | None, error: str | None = None) -> Pause | AgentStop | None:
        """One unit of work ended. Returns what to do now: pause, stop, or nothing."""
        with self._lock:
            if kind is None or not kind.run_level:
                self.outage_started = None  # the API answered: whatever the outcome, the outage is over
                self._pauses_in_outage = 0
                return None
            if kind.kind == o.CLUSTER:  # the cluster's trouble, not the API's: no pause; a cluster gone stops the run
                return self._stop(AgentStop(o.CLUSTER, kind.reason, error or kind.reason, kind.hint)) if kind.stop else None
            if kind.kind == o.FATAL:
                return self._stop(AgentStop(o.FATAL, kind.reason, error or kind.reason, kind.hint))
            return self._transient(kind, error)

    def _transient(self, kind: o.FailureKind, error: str | None) -> Pause | AgentStop | None:
        now = self._clock()
        if self.outage_started is None:
            self.outage_started = now
        if self.paused_until is not None and now < self.paused_until:
            # Started before the pool paused: part of the same wave, no further backoff (but a longer wait
            # the API asked for is honoured).
            wanted = kind.retry_after or 0.0
            if now + wanted > self.paused_until:
                self.paused_seconds += now + wanted - self.paused_until
                self.paused_until = now + wanted
            return None
        else:
            base = self.settings.retry_pause * (2 ** self._pauses_in_outage)
            delay = min(base, max(MAX_PAUSE, self.settings.retry_pause)) * (0.75 + 0.5 * self._rng())
            delay = max(delay, kind.retry_after or 0.0)
            self._pauses_in_outage += 1
        lasted = now - self.outage_started
        what = TRANSIENT_WORDS.get(kind.reason, "the API is unavailable")
        if lasted + delay > self.settings.outage_limit:
            message = (f"{what} and has been for {lasted:.0f}s; waiting {delay:.0f}s more would pass "
                       f"agent_outage_limit ({self.settings.outage_limit:g}s). Last error: {error or kind.reason}")
            return self._stop(AgentStop(o.TRANSIENT, kind.reason, message, kind.hint))
        self.paused_seconds += delay
        self.paused_until = now + delay
        self.pauses += 1
        said = " ".join((error or kind.reason).split())
        said = said if len(said) <= 160 else said[:159] + "…"
        return Pause(delay, f"{what}; no new agent calls for {delay:.0f}s ({said})")

    def _stop(self, stop: AgentStop) -> AgentStop:
        if self.stop is None:
            self.stop = stop
        return self.stop

    # -- cost
    def add_cost(self, usd: float | None) -> AgentStop | None:
        with self._lock:
            if usd:
                self.spent = round(self.spent + usd, 6)
            return self._budget()

    def check_budget(self) -> AgentStop | None:
        with self._lock:
            return self._budget()

    def _budget(self) -> AgentStop | None:
        if self.max_cost is None or self.spent < self.max_cost:
            return None
        return self._stop(AgentStop(
            "budget", "max_cost", f"the recorded agent cost {fmt_cost(self.spent)} reached max_cost_usd "
            f"{fmt_cost(self.max_cost)}",
            f"To continue, raise the cap: resume with --max-cost {_next_cap(self.spent)} (or change max_cost_usd "
            "in the workflow)."))

    # -- for the dispatcher
    def wait_left(self) -> float:
        """Seconds until dispatching may go on (0: now)."""
        until = self.paused_until
        return 0.0 if until is None else max(until - self._clock(), 0.0)


def _next_cap(spent: float) -> str:
    return f"{max(spent * 2, spent + 1):.2f}"


def stop_summary(stop: AgentStop) -> str:
    head = {"fatal": "the agent cannot run", "transient": "the API stayed unavailable",
            "budget": "the cost cap was reached", "cluster": "the cluster failed"}.get(stop.kind, stop.kind)
    return f"{head}: {stop.message}"


def settle(attempt: Callable[[], tuple[o.StepOutcome, float | None, bool]], governor: AgentGovernor,
           stop_event: threading.Event, on_pause: Callable[[Pause], None]) -> o.StepOutcome:
    """For runners that run one step at a time (standard workflows, setup, reduce): run the step; while it fails
    transiently, wait out the governor's pause and run it again (the failed try spends none of the step's
    attempts). `attempt()` returns (outcome, its agent cost, whether an agent ran). Afterwards
    `governor.stop` says whether the run must stop, and `stop_event` whether it was interrupted."""
    while True:
        outcome, usd, agent_ran = attempt()
        governor.add_cost(usd)
        decision = None
        if agent_ran or outcome.failure_kind is not None:
            decision = governor.observe(None if outcome.ok else outcome.failure_kind, outcome.error)
        if not isinstance(decision, Pause) or stop_event.is_set():
            return outcome
        on_pause(decision)
        if stop_event.wait(decision.seconds):
            return outcome
