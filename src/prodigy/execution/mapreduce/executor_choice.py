"""Which executor runs a job's map items, from the command line: kept apart from the job runner so that parsing
`--executor` (every `prodigy run`, standard workflows too) does not import the MapReduce engine."""

from __future__ import annotations

import os
from typing import Any

from prodigy.errors import UsageError


def executor_choice(kind: str, scheduler: str | None, local_workers: int | None,
                    repo_transfer: str | None = None) -> dict[str, Any]:
    """RunOptions.extra["executor"] from --executor, --scheduler (or PRODIGY_DASK_SCHEDULER), --local-workers,
    --repo-transfer."""
    if kind != "dask":
        if scheduler or local_workers or repo_transfer not in (None, "shared"):
            raise UsageError("--scheduler, --local-workers and --repo-transfer go with --executor dask.")
        return {"kind": "local"}
    from prodigy.execution.mapreduce import dask_executor

    dask_executor.require()
    if scheduler and local_workers:
        raise UsageError("Give --scheduler or --local-workers, not both.")
    scheduler = scheduler or (None if local_workers else os.environ.get(dask_executor.SCHEDULER_ENV) or None)
    if not scheduler and not local_workers:
        raise UsageError("--executor dask needs a cluster: --scheduler tcp://HOST:8786 (or "
                         f"{dask_executor.SCHEDULER_ENV}), or --local-workers N to start one for this run.")
    choice = {"kind": "dask", "scheduler": scheduler, "local_workers": local_workers}
    return {**choice, "repo_transfer": repo_transfer} if repo_transfer not in (None, "shared") else choice
