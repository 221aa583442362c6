"""The benchmark scripts keep working: `bench/run.py --quick` produces a figure for every benchmark.

It asserts that figures exist, never what they are (timings depend on the machine)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("dispatch", "fill", "resume_start", "views", "listing", "state_size", "crash", "retry", "memory",
              "dask_dispatch")
# dask_dispatch compares the Dask executor with prodigy's own local pool; parallel has no sessions or job views
NO_PEER = {"dask_dispatch", "views", "listing"}
HAVE_DASK = importlib.util.find_spec("distributed") is not None


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("parallel") is None,
                    reason="GNU parallel (the benchmarks' peer) is not installed: scripts/install-test-deps.sh installs it")
@pytest.mark.timeout(150)
def test_quick_benchmarks_produce_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json-out", str(out)],
                          cwd=tmp_path, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert out.exists(), f"no JSON written (exit {done.returncode}):\n{done.stderr[-2000:]}"
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["nproc"] >= 1
    assert set(report["benchmarks"]) == set(BENCHMARKS)
    for name in BENCHMARKS:
        if name == "dask_dispatch" and not HAVE_DASK:
            continue  # needs the prodigy[dask] extra; the row then reports what to install
        entry = report["benchmarks"][name]
        assert entry["status"] == "ok", f"{name}: {entry.get('error')}\n{entry.get('traceback', '')}"
        assert entry["rows"], f"{name} reported no figures"
        for row in entry["rows"]:
            value = row["prodigy"]
            assert isinstance(value, (int, float)) and math.isfinite(value), f"{name}: {row['metric']} = {value!r}"
        if name not in NO_PEER:
            assert any(isinstance(row["parallel"], (int, float)) for row in entry["rows"]), f"{name}: no peer figure"
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| benchmark | metric |" in done.stdout
