"""Serving the live page from the terminal: `prodigy progress JOB --web PORT` and `prodigy dashboard`."""

from __future__ import annotations

import time
from typing import Any

import click

DEFAULT_PORT = 8470


def serve(*, host: str, port: int, job_id: str | None = None, watch: Any = None) -> int:
    """Serve until Ctrl-C. With a job, say on the terminal when it ends or runs again (a resume)."""
    from prodigy.cli.errors import crash
    from prodigy.web.server import WebServer

    server = WebServer(host=host, port=port, job_id=job_id, on_error=crash).start()
    what = f"job {job_id}" if job_id else "the sessions dashboard"
    click.echo(f"Serving {what} at {server.url}")
    if server.token:
        click.echo(f"Listening on {host}: anyone who can reach it needs the token in that URL.")
    click.echo("Press Ctrl-C to stop serving (a running job is not affected).")
    try:
        live = None
        while True:
            if watch is not None:
                watch.refresh(outcomes=False)
                if watch.live != live and (live is not None or not watch.live):
                    _say_state(watch)
                live = watch.live
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    click.echo("Stopped serving.")
    return 0


def _say_state(watch: Any) -> None:
    snap = watch.snapshot()
    if snap.live:
        click.echo(f"The job is running again (run {snap.runs}); the page follows it.")
        return
    counts = snap.counts
    done = f"{counts.finished}/{counts.total} finished" if counts.total is not None else f"phase {snap.phase}"
    click.echo(f"The job is not running ({snap.status}, {done}); the page stays up until Ctrl-C.")
