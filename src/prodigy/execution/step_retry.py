"""Step-level retry (`retry_config:` / `retry:` on a step, book/src/retry-configuration): run the command again,
with backoff, before it counts as failed; on_failure handlers see only the last attempt."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import replace

from prodigy.execution import outcome as o
from prodigy.workflow.model import StepRetry

_MATCHERS = {
    "network": re.compile(r"connection (refused|reset|timed out)|network|could not resolve|unreachable|EOF",
                          re.IGNORECASE),
    "timeout": re.compile(r"time(d)? ?out", re.IGNORECASE),
    "server_error": re.compile(r"\b5\d\d\b|server error|internal error|service unavailable", re.IGNORECASE),
    "rate_limit": re.compile(r"rate.?limit|too many requests|\b429\b", re.IGNORECASE),
}


def delay_before(retry: StepRetry, attempt: int) -> float:
    """Seconds to wait before attempt `attempt` (2 is the first retry), capped at max_delay."""
    n = attempt - 1  # retries so far, this one included
    if retry.backoff == "fixed":
        delay = retry.initial_delay
    elif retry.backoff == "linear":
        delay = retry.initial_delay + (retry.increment if retry.increment is not None else retry.initial_delay) * (n - 1)
    elif retry.backoff == "fibonacci":
        a, b = 1, 1
        for _ in range(n - 1):
            a, b = b, a + b
        delay = retry.initial_delay * a
    elif retry.backoff == "custom" and retry.delays:
        delay = retry.delays[min(n - 1, len(retry.delays) - 1)]
    else:
        delay = retry.initial_delay * (retry.base ** (n - 1))
    delay = min(delay, retry.max_delay)
    if retry.jitter:
        delay *= 1 + random.uniform(-retry.jitter_factor, retry.jitter_factor)  # noqa: S311 - not crypto
    return max(delay, 0.0)


def retryable(retry: StepRetry, command: o.CommandOutcome) -> bool:
    if command.ok or command.status == o.INTERRUPTED:
        return False
    kind = getattr(command, "failure_kind", None)
    if kind is not None and kind.run_level:
        return False  # not the step's fault (the API is down): the run's policy decides, not a step retry
    if not retry.retry_on:
        return True
    text = "\n".join(filter(None, (command.error, command.stderr[-4000:], command.stdout[-2000:])))
    for matcher in retry.retry_on:
        if matcher == "timeout" and command.status == o.TIMED_OUT:
            return True
        pattern = re.compile(matcher[3:]) if matcher.startswith("re:") else _MATCHERS[matcher]
        if pattern.search(text):
            return True
    return False


def run_with_retry(retry: StepRetry | None, run: Callable[[], o.CommandOutcome],
                   fallback: Callable[[str], o.CommandOutcome], stopped: Callable[[], bool],
                   wait: Callable[[float], bool]) -> o.CommandOutcome:
    """Run the command up to retry.attempts times. `wait(seconds)` sleeps and returns True when interrupted."""
    command = run()
    if retry is None:
        return command
    started = time.monotonic()
    attempt = 1
    while attempt < retry.attempts and retryable(retry, command) and not stopped():
        delay = delay_before(retry, attempt + 1)
        if retry.retry_budget is not None and time.monotonic() - started + delay > retry.retry_budget:
            break
        if wait(delay):
            return replace(command, status=o.INTERRUPTED, error="interrupted while waiting to retry")
        attempt += 1
        command = run()
    if command.ok or command.status == o.INTERRUPTED:
        return command
    note = f" (after {attempt} attempt{'s' if attempt > 1 else ''}, retry_config)"
    if retry.on_exhausted == "continue":
        return replace(command, status=o.SUCCEEDED, error=f"{command.error}{note}; on_failure: continue")
    if retry.on_exhausted == "fallback" and retry.fallback:
        return fallback(retry.fallback)
    return replace(command, error=f"{command.error}{note}")
