"""`prodigy progress [JOB]`: watch a MapReduce job from any terminal (or a browser with --web), read-only."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

EPILOG = """\b
Examples:
  prodigy progress mapreduce-20261127_1205        the live bar until the job ends
  prodigy progress session-93c8                   a session id (or any unique prefix) names its job
  prodigy progress                                the newest running job
  prodigy progress mapreduce-2026 --format json   one snapshot for scripts
  prodigy progress mapreduce-2026 --format json --follow | jq -c .counts
  prodigy progress mapreduce-2026 --export progress.json
  prodigy progress mapreduce-2026 --web 8470      a live page on http://127.0.0.1:8470
\b
Reads the job's journal only: it takes no lock and writes nothing, so it never disturbs
the run. It ends when the job ends; Ctrl-C stops watching (exit 130) and leaves the job
running. --web serves the page until Ctrl-C, across resumes of the job.
"""

POLL = 0.25  # seconds between journal reads while watching
SETTLE = 2.5  # seconds a one-off snapshot waits to tell a starting run from a killed one


@click.command(epilog=EPILOG)
@click.argument("job_id", required=False, metavar="[JOB_ID]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one snapshot (or, with --follow, a JSON line per change) for scripts.")
@click.option("--json", "json_output", is_flag=True, help="Same as --format json.")
@click.option("--follow", "-f", is_flag=True, help="With --format json: a line per change until the job ends.")
@click.option("--export", "export", metavar="FILE",
              help="Write the snapshot, the timeline and every item's row to FILE as JSON (valid mid-run too; "
                   "- for stdout).")
@click.option("--web", "web_port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve a live page of the job on PORT (0: any free port) until Ctrl-C.")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="With --web: the address to listen on. Any non-loopback address needs the access token "
                   "printed in the URL.")
def progress(job_id: str | None, fmt: str, json_output: bool, follow: bool, export: str | None,
             web_port: int | None, host: str) -> int:
    """Watch a MapReduce job: phase, counts, rate, ETA and the slowest running items, live."""
    from prodigy.errors import UsageError
    from prodigy.views.progress import JobWatch
    from prodigy.views.progress_find import find_watched_job

    as_json = json_output or fmt == "json"
    if web_port is not None and (as_json or export):
        raise UsageError("--web serves the page; it does not combine with --format json or --export.")
    if web_port is None and host != "127.0.0.1":
        raise UsageError("--host only applies with --web PORT.")
    ref, picked = find_watched_job(job_id)
    if picked == "running":
        click.echo(f"Watching the newest running job: {ref.job_id}", err=True)
    elif picked:
        click.echo(f"No job is running; showing the most recent one: {ref.job_id}", err=True)
    watch = JobWatch(ref)
    watch.refresh(outcomes=False)
    if export is not None:
        return _export(watch, export)
    if as_json:
        return _follow_json(watch) if follow else _one_json(watch)
    if web_port is not None:
        from prodigy.cli.serve import serve

        return serve(host=host, port=web_port, job_id=ref.job_id, watch=watch)
    return _live(watch)


def _settle(watch: Any) -> None:
    """A record that says running with no live process is either a run starting or a killed one: look
    again for a moment so a one-off answer says which."""
    deadline = time.monotonic() + SETTLE
    while not watch.live and not watch.ended and time.monotonic() < deadline:
        time.sleep(POLL)
        watch.refresh(outcomes=False)


def _one_json(watch: Any) -> int:
    from prodigy.cli.render import emit_json
    from prodigy.cli.watch_render import snapshot_json

    _settle(watch)
    emit_json(snapshot_json(watch.snapshot()))
    return 0


def _follow_json(watch: Any) -> int:
    from prodigy.cli.watch_render import snapshot_json

    last = None
    try:
        while True:
            snap = watch.snapshot()
            if snap.seq != last or snap.ended:
                sys.stdout.write(json.dumps(snapshot_json(snap), default=str) + "\n")
                sys.stdout.flush()
                last = snap.seq
            if snap.ended:
                return 0
            time.sleep(POLL)
            watch.refresh(outcomes=False)
    except KeyboardInterrupt:
        return 130


def _export(watch: Any, target: str) -> int:
    from prodigy.cli.common import write_output
    from prodigy.views.progress_items import report

    data = report(watch, time.time())
    write_output(target, json.dumps(data, indent=1, default=str, ensure_ascii=False) + "\n")  # whole or not at all
    if target != "-":
        snap = data["snapshot"]
        click.echo(f"Wrote the progress of {snap['job_id']} ({len(data['items'])} item(s), {snap['status']}, "
                   f"phase {snap['phase']}) to {target}")
    return 0


def _live(watch: Any) -> int:
    from prodigy.cli.render import ConsoleReporter
    from prodigy.cli.watch_render import WatchRenderer

    renderer = WatchRenderer(ConsoleReporter())
    outcomes: list[Any] = []
    try:
        while True:
            snap = watch.snapshot()
            renderer.update(snap, outcomes)
            if snap.ended:
                renderer.finish(snap)
                return 0
            time.sleep(POLL)
            outcomes = watch.refresh()
    except KeyboardInterrupt:
        renderer.out.close()
        click.echo(f"Stopped watching. The job was not touched; watch it again with: prodigy progress "
                   f"{watch.ref.job_id}", err=True)
        return 130
