"""Benchmarks of prodigy against GNU parallel (and xargs): python bench/run.py [--quick] [--only NAME]

Each benchmark pairs prodigy with its peer in the same run (alternating, --reps repetitions, medians and the
ratio prodigy/parallel), prints a markdown table and writes the figures as JSON. A benchmark that fails is
reported as an error row; the others still run. Everything runs in a temp folder with its own PRODIGY_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import dask_dispatch
from suite import crash, dispatch, fill, listing, memory, resume_start, retry, state_size, views
from suite.builds import Cache
from suite.common import PARALLEL, Context, Result, Row, kill_tagged

BENCHMARKS: dict[str, ModuleType] = {
    "dispatch": dispatch, "fill": fill, "resume_start": resume_start, "views": views, "listing": listing,
    "state_size": state_size, "crash": crash, "retry": retry, "memory": memory, "dask_dispatch": dask_dispatch,
}
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = _selected(args.only)
    reps = args.reps or (1 if args.quick else 3)
    root = Path(tempfile.mkdtemp(prefix="prodigy-bench-"))
    ctx = Context(quick=args.quick, reps=reps, root=root, tag=uuid.uuid4().hex, log=_log)
    ctx.cache = Cache(ctx)
    report: dict[str, Any] = {"command": " ".join(["python bench/run.py", *(argv or sys.argv[1:])]),
                              "quick": args.quick, "reps": reps, "machine": machine(), "benchmarks": {}}
    began = time.monotonic()
    _compile_prodigy()
    try:
        for name in names:
            report["benchmarks"][name] = _run_one(ctx, name)
    finally:
        kill_tagged(ctx.tag)
        shutil.rmtree(root, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - began, 1)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    print(table(report))
    out = Path(args.json_out) if args.json_out else DEFAULT_JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    _log(f"figures written to {out}")
    return 1 if any(b["status"] != "ok" for b in report["benchmarks"].values()) else 0


def _compile_prodigy() -> None:
    """Compile prodigy's modules once, as an install does, so that no timed start pays for it (Context.env
    lets the timed processes use the cache even where PYTHONDONTWRITEBYTECODE is set)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("prodigy")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(folder, quiet=1)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (a smoke test)")
    parser.add_argument("--only", metavar="NAME", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--reps", type=int, help="repetitions per tool (default 3; 1 with --quick)")
    parser.add_argument("--json-out", metavar="PATH", help=f"where to write the figures (default {DEFAULT_JSON})")
    return parser.parse_args(argv)


def _selected(only: str | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return names


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run_one(ctx: Context, name: str) -> dict[str, Any]:
    _log(f"[{name}] running")
    ctx.scratch = ctx.root / f"scratch-{name}"
    ctx.scratch.mkdir()
    began = time.monotonic()
    try:
        result: Result = BENCHMARKS[name].run(ctx)
        entry = {"status": "ok", "rows": [row.to_json() for row in result.rows], "notes": result.notes,
                 "error": None}
    except Exception as exc:  # noqa: BLE001 - one benchmark's failure is a row, not the end of the run
        entry = {"status": "error", "rows": [], "notes": [], "error": f"{type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc()}
        _log(f"[{name}] ERROR {entry['error']}")
    finally:
        kill_tagged(ctx.tag)
        shutil.rmtree(ctx.scratch, ignore_errors=True)
        ctx.scratch = None
    entry["seconds"] = round(time.monotonic() - began, 1)
    _log(f"[{name}] {entry['status']} in {entry['seconds']} s")
    return entry


# ------------------------------------------------------------------------------------------ output


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        version = subprocess.run([PARALLEL, "--version"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        version = "not found"
    from prodigy import __version__

    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "parallel": version, "prodigy": __version__,
            "loadavg_start": list(os.getloadavg()), "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['nproc']} CPU ({m['cpu_model']}), Python {m['python']}, {m['parallel']}, "
             f"load {m['loadavg_start'][0]:.1f}; {report['reps']} repetition(s), medians; "
             f"{'--quick' if report['quick'] else 'full'} run, {report['seconds']} s",
             "",
             "| benchmark | metric | unit | prodigy | GNU parallel | prodigy/parallel | other | target |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    notes = []
    for name, entry in report["benchmarks"].items():
        if entry["status"] != "ok":
            lines.append(f"| {name} | ERROR: {entry['error'][:200]} | | | | | | |")
            continue
        for data in entry["rows"]:
            row = Row(**{k: v for k, v in data.items() if k not in ("ratio", "other_name")},
                      other_name=data["other_name"] or "")
            other = f"{row.other_name} {fmt(row.other)}" if row.other_name else ""
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
            lines.append(f"| {name} | {row.metric} | {row.unit} | {fmt(row.prodigy)} | {fmt(row.parallel)} | "
                         f"{ratio} | {other} | {row.target} |")
        notes += entry["notes"]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
