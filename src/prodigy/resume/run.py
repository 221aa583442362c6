"""The glue between a resolved target and the executors: take the lock once, choose the path by the
session's recorded kind (never by error text), run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prodigy.execution.reporter import Reporter
from prodigy.execution.session import RunOptions, resumable_after_write_failure
from prodigy.execution.signals import StopRequest
from prodigy.resume.resolve import Target
from prodigy.resume.standard import refuse_if_finished, resume_standard
from prodigy.state.locks import ExecutionLock


def resume_target(target: Target, options: RunOptions, stop: StopRequest, reporter: Reporter, *,
                  workflow_override: str | None = None, on_line: Any = None) -> Any:
    from prodigy.portable.relocate import relocate_if_moved

    moved = relocate_if_moved(target.session, options.run_dir, reporter)  # the recorded checkout is gone: -p DIR
    if moved is not None:
        target, options = replace(target, session=moved.record), replace(options, run_dir=moved.run_dir)
    record = target.session
    if record.kind == "mapreduce":
        from prodigy.resume.job import resume_job

        with resumable_after_write_failure(record.id):
            return resume_job(target, options, stop, reporter, workflow_override=workflow_override,
                              on_line=on_line)
    refuse_if_finished(record)
    if record.kind == "workflows":  # a parent of sub-workflows
        from prodigy.execution.subworkflows import resume_parent

        with resumable_after_write_failure(record.id), ExecutionLock(record.id, purpose="resume"):
            from prodigy.state import sessions

            return resume_parent(sessions.load(record.id), options, stop, reporter,
                                 workflow_override=workflow_override, on_line=on_line)
    with resumable_after_write_failure(record.id), ExecutionLock(record.id, purpose="resume"):
        from prodigy.state import sessions

        record = sessions.load(record.id)  # re-read under the lock: the holder before us may have changed it
        return resume_standard(record, options, stop, reporter, workflow_override=workflow_override,
                               on_line=on_line)
