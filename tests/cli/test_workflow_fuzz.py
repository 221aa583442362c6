"""Hostile and broken workflow files: bounded at load (nesting depth, alias expansion, document size) with
exit 2 and the line, and a fuzzer (generated documents and byte-level damage to real workflow files) that
never sees exit 70 or more than a bounded amount of memory while `prodigy validate` reads them."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.workflow import yaml_bounds

EXAMPLES = int(os.environ.get("PRODIGY_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MEMORY_LIMIT = 64 * 1024 * 1024  # bytes allocated at the peak of one validation

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "prodigy-workflows"
SAMPLES = sorted(SHARED.glob("*.yml")) + sorted((REPO / "examples").glob("*.yml"))

ALIAS_BOMB = """
name: bomb
commands:
  - write_file:
      path: out.yml
      format: yaml
      content:
        a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
        h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def validate_text(invoke: Callable[..., tuple[int, str, str]], folder: Path, text: str | bytes,
                  name: str = "workflow.yml") -> tuple[int, str, str, int]:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    tracemalloc.start()
    try:
        code, out, err = invoke("validate", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code != 70 and "Internal error" not in err, f"{text!r:.300}\n{err}"
    assert peak < MEMORY_LIMIT, f"validation allocated {peak:,} bytes"
    return code, out, out + err, peak  # validate reports problems on stdout


@pytest.mark.parametrize("text,where,what", [
    ("name: deep\ncommands:\n  - shell: echo\nx: " + "[" * 1000 + "]" * 1000 + "\n", ":4:", "nested more than 64"),
    ("name: deep\nx:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), ":", "nested more than 64"),
    (ALIAS_BOMB, ":13:", "more than 200,000 values"),
    ("name: loop\ncommands: &c\n  - shell: echo\n  - *c\n", ":4:", "recursive alias"),
])
def test_hostile_yaml_is_refused_at_load_with_exit_2_and_the_line(invoke, tmp_path: Path, text: str, where: str,
                                                                 what: str) -> None:
    code, _, err, _ = validate_text(invoke, tmp_path, text)
    assert code == 2, err
    assert where in err and what in err, err


def test_a_huge_document_is_refused_before_it_is_read_whole(invoke, tmp_path: Path) -> None:
    text = "name: big\ncommands:\n  - shell: echo\n# " + "x" * (yaml_bounds.MAX_DOCUMENT_BYTES + 10) + "\n"
    code, _, err, peak = validate_text(invoke, tmp_path, text)
    assert code == 2 and "larger than 4 MB" in err
    assert peak < 2 * yaml_bounds.MAX_DOCUMENT_BYTES


def test_deeply_nested_json_workflow_is_refused(invoke, tmp_path: Path) -> None:
    text = '{"name": "deep", "commands": [{"shell": "echo"}], "x": ' + "[" * 100000 + "]" * 100000 + "}"
    code, _, err, _ = validate_text(invoke, tmp_path, text, "workflow.json")
    assert code == 2 and "nested more than 64" in err


def test_an_alias_bomb_in_rendered_write_file_content_is_an_item_error_not_a_blow_up() -> None:
    content = "\n".join(line[8:] for line in ALIAS_BOMB.splitlines()[7:])
    with pytest.raises(yaml.YAMLError, match="more than 200,000 values"):
        yaml_bounds.safe_load(content)


def test_real_workflows_stay_well_within_the_bounds(invoke, tmp_path: Path) -> None:
    assert SAMPLES, "no sample workflows found"
    for sample in SAMPLES:
        code, _, err, _ = validate_text(invoke, tmp_path, sample.read_text())
        assert "nested more than" not in err and "more than 200,000" not in err, (sample, err)


# ---------------------------------------------------------------- fuzzers

KEYS = ["name", "mode", "commands", "setup", "map", "reduce", "shell", "claude", "write_file", "input",
        "json_path", "agent_template", "max_parallel", "env", "secrets", "on_failure", "capture", "timeout",
        "when", "filter", "sort_by", "path", "content", "format", "profiles", "merge", "working_dir", "x"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["mapreduce", "echo ${item.x}", "${", "$((1+", "*",
                                                           "&a", "!!binary", "\x00", "\ud800"]))
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=30)


@FUZZ
@given(data=st.dictionaries(st.sampled_from(KEYS), DOCUMENTS, min_size=1, max_size=6))
def test_generated_workflow_documents_never_crash_validation(invoke, tmp_path: Path, data: dict) -> None:
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        text = json.dumps(data)
    validate_text(invoke, tmp_path, text)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "dup"]), st.integers(0, 10**6),
                           st.sampled_from([b"&a ", b"*a", b"[", b"{", b": ", b"\n  - ", b"\t", b"\x00", b"\xff",
                                            b"${", b"'", b'"', b"|", b"---\n", b"!!str ", b"<<: *a\n"])),
                 min_size=1, max_size=4)


@FUZZ
@given(sample=st.sampled_from(SAMPLES or [Path("missing")]), edits=EDITS)
def test_damaged_real_workflows_never_crash_validation(invoke, tmp_path: Path, sample: Path,
                                                       edits: list[tuple[str, int, bytes]]) -> None:
    raw = sample.read_bytes()
    for kind, where, data in edits:
        at = where % (len(raw) + 1)
        if kind == "flip" and raw:
            at = min(at, len(raw) - 1)
            raw = raw[:at] + bytes([raw[at] ^ data[0]]) + raw[at + 1:]
        elif kind == "cut":
            raw = raw[:at] + raw[at + len(data) * 3:]
        elif kind == "insert":
            raw = raw[:at] + data + raw[at:]
        else:
            raw = raw[:at] + raw[max(0, at - 40):at] + raw[at:]
    validate_text(invoke, tmp_path, raw)
