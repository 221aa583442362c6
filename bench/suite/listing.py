"""`prodigy sessions list` with 100,000 sessions: the default view (the newest 20), warm and cold, and
`--all --json` (every session, streamed); wall time and peak RSS. GNU parallel keeps no sessions: the "other"
column is `ls -t sessions | head -20`, the floor of any newest-first listing of the folder.

The sessions are fabricated: 100,000 records written by prodigy's own `sessions.save` (so the session index
is kept as a run keeps it) with fsync turned off in that writer process (durability is not what is
measured, and 100,000 fsync'd saves take minutes), of both kinds and every status, a few seconds apart.
Cold means the page cache is dropped before each run (`sync; echo 3 > /proc/sys/vm/drop_caches`, as root);
where that is not possible the cold rows are left out and the notes say so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from suite.common import Context, Result, Row, alternate, check, measure, prodigy_argv

FABRICATE = """
import os, sys, time
from prodigy.ids import new_session_id
from prodigy.state import atomic, sessions, storage
from prodigy.state.sessions import STATUSES, SessionRecord

storage._fsync = lambda fd: None
atomic.fsync_dir = lambda path: None
n = int(sys.argv[1])
base = time.time() - n * 5
for k in range(n):
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + 5 * k)) + ".000+00:00"
    kind = "mapreduce" if k % 3 else "workflow"
    status = STATUSES[1 + k % 4]  # interrupted, failed, completed, cancelled (no live run to look up)
    sessions.save(SessionRecord(id=new_session_id(), kind=kind, status=status, workflow_path="/w/flow.yml",
                                workflow_sha256="0" * 64, workflow_name=f"flow-{k % 50}", run_dir="/w",
                                created_at=at, updated_at=at, progress={"done": k % 7, "total": 7}))
"""


def run(ctx: Context) -> Result:
    n = 300 if ctx.quick else 100_000
    home = fabricate(ctx, n)
    work = ctx.folder("listing-work")
    cold = can_drop_caches()
    list_argv = [*prodigy_argv(), "sessions", "list"]
    all_argv = [*prodigy_argv(), "sessions", "list", "--all", "--json"]
    floor_argv = ["sh", "-c", f"ls -t {home / 'sessions'} | head -20"]
    check(measure(list_argv, cwd=work, env=ctx.env(home), timeout=600), "sessions list (first)")

    def timed(argv: list[str], *, drop: bool, stdout: Path | None = None) -> dict[str, float]:
        if drop:
            drop_caches()
        m = check(measure(argv, cwd=work, env=ctx.env(home), timeout=600, stdout=stdout), " ".join(argv[-3:]))
        return {"wall": m.wall, "rss": m.maxrss_mb}

    warm = alternate(ctx.reps, {"prodigy": lambda rep: timed(list_argv, drop=False),
                                "ls": lambda rep: timed(floor_argv, drop=False)})
    rows = [Row.of(f"default view (newest 20), {n:,} sessions, warm", "s", warm["wall"], other="ls",
                   target="<= 0.5 s"),
            Row.of("peak RSS of that listing", "MB", warm["rss"], other="ls")]
    notes = [f"listing: {n:,} fabricated session records, written by prodigy's sessions.save with fsync off "
             "(bench/suite/listing.py); 'other' is `ls -t sessions | head -20`"]
    if cold:
        chilled = alternate(ctx.reps, {"prodigy": lambda rep: timed(list_argv, drop=True),
                                       "ls": lambda rep: timed(floor_argv, drop=True)})
        rows.append(Row.of(f"default view, {n:,} sessions, cold (page cache dropped)", "s", chilled["wall"],
                           other="ls", target="<= 0.5 s"))
    else:
        notes.append("listing: cold rows left out: the page cache can only be dropped as root "
                     "(/proc/sys/vm/drop_caches)")
    out = ctx.folder("listing-out") / "all.json"
    every = alternate(ctx.reps, {"prodigy": lambda rep: timed(all_argv, drop=False, stdout=out)})
    rows += [Row.of(f"--all --json, {n:,} sessions (streamed)", "s", every["wall"]),
             Row.of("peak RSS of --all --json", "MB", every["rss"])]
    return Result(rows=rows, notes=notes)


def fabricate(ctx: Context, n: int) -> Path:
    home = ctx.folder(f"listing-home-{n}")
    ctx.log(f"  building: {n:,} session records")
    env = ctx.env(home)
    done = subprocess.run([sys.executable, "-c", FABRICATE, str(n)], env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fabricating sessions failed: {done.stderr[-500:]}")
    return home


def can_drop_caches() -> bool:
    return os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("3\n")
