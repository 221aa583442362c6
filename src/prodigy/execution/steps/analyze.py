"""`analyze:` steps (book/src/workflow-basics/command-types.md) and the per-step `analysis:` key: the built-in
codebase analysis, written to the repository's context folder (.prodigy/context/analysis.json) and reused
while it is younger than max_cache_age, exposed to later steps as ${analysis.*}."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.workflow.model import Analyze, Step

CONTEXT_FILE = ".prodigy/context/analysis.json"


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    spec = step.analyze or Analyze()
    started = time.monotonic()
    try:
        data, cached = _analysis(spec, ctx)
    except OSError as exc:
        return o.CommandOutcome(status=o.ERRORED, error=f"analyze: {exc}", duration=time.monotonic() - started)
    from prodigy.execution.codebase import summary_text

    text = json.dumps(data, indent=2) if spec.format == "json" else summary_text(data, spec.format)
    if cached:
        text += "" if spec.format == "json" else f"\n(from {CONTEXT_FILE}, {int(time.time() - data['generated_at'])}s old)"
    return o.CommandOutcome(status=o.SUCCEEDED, exit_code=0, stdout=text + "\n", duration=time.monotonic() - started,
                            variables=_variables(data, ctx))


def refresh(spec: Analyze, ctx: StepContext) -> dict[str, Any]:
    """`analysis:` on a step: make sure a fresh enough analysis exists before the step runs."""
    data, _cached = _analysis(spec, ctx)
    return _variables(data, ctx)


def _analysis(spec: Analyze, ctx: StepContext) -> tuple[dict[str, Any], bool]:
    from prodigy.execution.codebase import analyze, summary_text

    path = ctx.run_dir / CONTEXT_FILE
    if not spec.force_refresh and spec.max_cache_age is not None and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if time.time() - float(data.get("generated_at", 0)) <= spec.max_cache_age:
                return data, True
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is simply recomputed
    data = analyze(ctx.run_dir)
    data["summary"] = summary_text(data)
    if spec.save:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        temp.replace(path)
    return data, False


def _variables(data: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    from prodigy.workflow.list_modifiers import FileList

    churn = data.get("churn") or {}
    return {"analysis": {**data, "summary": data.get("summary", ""), "path": str(ctx.run_dir / CONTEXT_FILE),
                         "hot_files": FileList(churn.get("hot_files", [])),
                         "churn_commits": churn.get("commits", 0)}}
