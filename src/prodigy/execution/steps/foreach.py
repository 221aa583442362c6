"""`foreach:` steps (book/src/advanced/parallel-iteration-with-foreach.md): run `do:` once per item of a list or
of a command's output lines, in the session's working tree, `parallel: N` at a time, with ${item}, ${index} and
${total}. The item list is frozen and each finished iteration recorded in the step's progress, so a resume runs
only the iterations that had not finished."""

from __future__ import annotations

import threading
from collections import ChainMap
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import shell_path
from prodigy.workflow.interpolate import InterpolationError, SecretEnv, render_shell
from prodigy.workflow.model import Step

LIST_TIMEOUT = 300.0


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    from prodigy.execution.runner import run_steps  # the body runs through the one step executor

    spec = step.foreach
    assert spec is not None
    progress = ctx.progress
    items = progress.get("foreach.items") if progress is not None else None
    if items is None:
        listed = _items(spec.items, spec.command, variables, ctx)
        if isinstance(listed, o.CommandOutcome):
            return listed
        items = listed[: spec.max_items] if spec.max_items is not None else listed
        if progress is not None:
            progress.put("foreach.items", items)
    done: set[int] = set(progress.get("foreach.done", [])) if progress is not None else set()
    failed: dict[str, str] = dict(progress.get("foreach.failed", {})) if progress is not None else {}
    lock = threading.Lock()
    total = len(items)
    body_ctx = replace(ctx, progress=None)

    def one(index: int) -> o.StepOutcome:
        scope = ChainMap({"item": items[index], "index": index, "total": total}, variables)
        return run_steps(spec.do, scope, replace(body_ctx, label=f"{ctx.label}.{index}"))

    def record(index: int, result: o.StepOutcome) -> None:
        with lock:
            if result.ok:
                done.add(index)
            else:
                failed[str(index)] = result.error or result.status
            if progress is not None:
                progress.put("foreach.done", sorted(done))
                progress.put("foreach.failed", dict(failed))

    todo = [i for i in range(total) if i not in done and str(i) not in failed]
    interrupted, first_failure = _run_all(todo, spec.parallel, one, record, ctx,
                                          stop_on_failure=not spec.continue_on_error)
    summary = f"foreach: {len(done)} of {total} item(s) done, {len(failed)} failed"
    values = {"foreach.total": total, "foreach.successful": len(done), "foreach.failed": len(failed)}
    if interrupted:
        return o.CommandOutcome(status=o.INTERRUPTED, error="interrupted", stdout=summary, variables=values)
    if failed and not spec.continue_on_error:
        index, reason = first_failure or next(iter(failed.items()))
        return o.CommandOutcome(status=o.FAILED, exit_code=1, stdout=summary, variables=values,
                                error=f"foreach item {index} ({items[int(index)]!r}) failed: {reason}")
    return o.CommandOutcome(status=o.SUCCEEDED, exit_code=0, stdout=summary, variables=values)


def _run_all(todo: list[int], parallel: int, one: Any, record: Any, ctx: StepContext, *,
             stop_on_failure: bool) -> tuple[bool, tuple[str, str] | None]:
    """Run the iterations, at most `parallel` at once; returns (interrupted, the first failure)."""
    first_failure: tuple[str, str] | None = None
    queue = list(todo)
    running: dict[Future[o.StepOutcome], int] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="prodigy-foreach") as pool:
        while queue or running:
            while queue and len(running) < parallel and not ctx.stop_event.is_set() and first_failure is None:
                index = queue.pop(0)
                running[pool.submit(one, index)] = index
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                index = running.pop(future)
                result = future.result()
                if result.status == o.INTERRUPTED:
                    continue  # not finished: a resume runs it again
                record(index, result)
                if not result.ok and stop_on_failure and first_failure is None:
                    first_failure = (str(index), result.error or result.status)
    return ctx.stop_event.is_set(), first_failure


def _items(literal: tuple[str, ...] | None, command: str | None, variables: Mapping[str, Any],
           ctx: StepContext) -> list[str] | o.CommandOutcome:
    if literal is not None:
        return list(literal)
    assert command is not None
    secrets = SecretEnv(ctx.masker.holds_secret)  # secrets reach the command through its environment
    try:
        script = render_shell(command, variables, secrets=secrets)
    except InterpolationError as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(str(exc)))
    result = process.run([shell_path(), "-c", script], cwd=ctx.run_dir, env={**ctx.process_env, **secrets.env},
                         timeout=LIST_TIMEOUT, on_start=ctx.on_start, stop_event=ctx.stop_event,
                         output_cap=ctx.output_cap)
    if result.interrupted:
        return o.CommandOutcome(status=o.INTERRUPTED, error="interrupted while listing the items")
    if not result.ok:
        reason = result.start_error or f"exit code {result.exit_code}"
        return o.CommandOutcome(status=o.FAILED, exit_code=result.exit_code, stderr=ctx.masker(result.stderr),
                                error=f"foreach: the command listing the items failed ({reason})")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]
