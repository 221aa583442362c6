"""The original Prodigy's own workflow files (../shared/prodigy-workflows), run unchanged through the installed
CLI, each in a temp git repository with PRODIGY_HOME in a temp folder and the fake claude on PATH. What each
must do is in EXPECTED.md beside them (issue 8).

A fake `cargo` is first on PATH so that no test depends on a Rust toolchain: `cargo SUB` exits with
$FAKE_CARGO_<SUB>, else $FAKE_CARGO_DEFAULT, else 101 with cargo's own "could not find Cargo.toml" message,
which is what the real cargo does in these repositories. Variants of a file are copies with one marked
change, made by `variant()`, which fails when the text to change is not found.

test-sequential-resume.yml and test-mapreduce-resume.yml write fixed paths under /tmp: each holds a file
lock on its path (so parallel test processes never share it) and removes the path before and after.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mr_support as mr
import pytest
from filelock import FileLock

import support
from support import git

REAL = Path(__file__).parents[2].parent / "shared" / "prodigy-workflows"
FILES = sorted(p.name for p in REAL.glob("*.yml")) if REAL.is_dir() else []
SECRET = "ghp_supersecret123"
API_KEY = "sk_topsecret_4242"
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not FILES, reason=f"the original's workflow files are not available at {REAL}")]

FAKE_CARGO = """\
#!/bin/sh
sub="$1"
echo "cargo $*" >> "$FAKE_CARGO_LEDGER"
eval "code=\\${FAKE_CARGO_$sub:-\\${FAKE_CARGO_DEFAULT:-}}"
eval "nap=\\${FAKE_CARGO_SLEEP_$sub:-0}"
[ "$nap" = 0 ] || sleep "$nap"
if [ -z "$code" ]; then
  echo "error: could not find \\`Cargo.toml\\` in \\`$PWD\\` or any parent directory" >&2
  exit 101
fi
echo "fake cargo $* output"
[ "$sub" = test ] && echo "test result: ok. 1 passed"
exit "$code"
"""


@dataclass(repr=False)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def lines(self, label: str) -> list[str]:
        """The -v output lines of one step or item, e.g. lines("step4") or lines("reduce2")."""
        prefix = f"[{label}] "
        return [line[len(prefix):] for line in self.out.splitlines() if line.startswith(prefix)]

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class Sandbox:
    repo: Path
    home: Path
    claude_ledger: Path
    cargo_ledger: Path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Run:
        return Run(*support.run_prodigy(*args, cwd=self.repo, env=env, timeout=timeout))

    def real(self, name: str, *args: str, env: dict[str, str] | None = None) -> Run:
        return self.run("run", str(REAL / name), "-v", *args, env=env)

    def commit(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(self.repo, "add", *files)
        git(self.repo, "commit", "-q", "-m", "fixture files")

    def claude_prompts(self) -> list[str]:
        return [argv[-1] for argv in support.read_ledger_json(self.claude_ledger)]

    def cargo_calls(self) -> list[str]:
        return support.ledger_lines(self.cargo_ledger)

    def variant(self, name: str, *changes: tuple[str, str]) -> Path:
        """A copy of the real file beside the repository with each (old, new) replaced exactly once."""
        text = (REAL / name).read_text(encoding="utf-8")
        for old, new in changes:
            assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
            text = text.replace(old, new)
        path = self.repo.parent / f"variant-{name}"
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def box(git_repo: Path, prodigy_home: Path, fake_claude: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cargo").write_text(FAKE_CARGO, encoding="utf-8")
    (bin_dir / "cargo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CARGO_LEDGER", str(tmp_path / "cargo-ledger.txt"))
    for key in [k for k in os.environ if k.startswith("FAKE_CARGO_") and k != "FAKE_CARGO_LEDGER"]:
        monkeypatch.delenv(key)
    for key in ("branch", "GITHUB_TOKEN", "SECRET_API_KEY", "DEPLOY_DIR"):  # the files read these
        monkeypatch.delenv(key, raising=False)
    return Sandbox(git_repo, prodigy_home, fake_claude, tmp_path / "cargo-ledger.txt")


@contextmanager
def fixed_path(path: str) -> Iterator[Path]:
    """Exclusive use of a path the workflow hard-codes, removed before and after."""
    target = Path(path)
    with FileLock(f"{path}.prodigy-tests.lock", timeout=120):
        target.unlink(missing_ok=True)
        try:
            yield target
        finally:
            target.unlink(missing_ok=True)


def job_folder(run: Run) -> Path:
    match = re.search(r"^Job folder: (\S+)$", run.out, re.MULTILINE)
    assert match, run
    return Path(match.group(1))


def frozen_items(run: Run) -> list:
    lines = (job_folder(run) / "items.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def assert_nowhere(secret: str, box: Sandbox, *runs: Run) -> None:
    for run in runs:
        assert secret not in run.text, run
    leaks = [p for p in box.home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaks, f"the secret was stored in {leaks}"


# ---------------------------------------------------------------- validate


def test_the_folder_has_the_14_files_of_expected_md() -> None:
    expected = (REAL / "EXPECTED.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| ([\w-]+\.yml) \|", expected, re.MULTILINE))
    assert listed == set(FILES) == set(CHECKS) and len(FILES) == 14


@pytest.mark.parametrize("name", FILES)
def test_validate_accepts_each_valid_file_without_warnings(name: str, tmp_path: Path) -> None:
    run = Run(*support.run_prodigy("validate", str(REAL / name), cwd=tmp_path))
    assert "warning" not in run.text.lower(), run
    if name == "mapreduce-json-input.yml":
        assert run.code == 2 and f"{REAL / name}:30:46: invalid YAML" in run.out, run
    elif name == "capture-json-processing.yml":
        assert run.code == 2 and ":57: commands[5].shell:" in run.out, run
        assert "${final_summary|length:100}" in run.out and "filter 'length' takes no argument" in run.out, run
    else:
        assert run.code == 0 and "valid" in run.out, run


# ---------------------------------------------------------------- one check per file, on the file as it is


def check_test_sequential_resume(box: Sandbox) -> None:
    with fixed_path("/tmp/prodigy-resume-test.txt") as shared:
        proc = support.spawn_prodigy("run", str(REAL / "test-sequential-resume.yml"), "-v", cwd=box.repo,
                                     env=UNBUFFERED)
        try:  # step 3 writes its line before its `sleep 2`: step 2 is complete and checkpointed
            support.wait_for(lambda: "step3-complete" in _read(shared), 15, what="step 3 to start")
            proc.send_signal(signal.SIGINT)
            first = Run(*support.finish(proc))
        finally:
            if proc.poll() is None:
                proc.kill()
        assert first.code == 130 and "interrupted at step 3/5" in first.out, first
        session_id = support.session_id_from(first.out)
        resumed = box.run("resume", session_id, "-v")
        assert resumed.code == 0, resumed
        assert "from step 3/5 (2 step(s) already done, skipped)" in resumed.out, resumed
        assert not resumed.lines("step1") and not resumed.lines("step2"), resumed
        assert resumed.lines("step4").count("step1-complete") == 1, resumed
        assert resumed.lines("step4").count("step2-complete") == 1, resumed
        assert "All steps completed!" in resumed.lines("step5"), resumed
        assert not shared.exists()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def check_test_resume(box: Sandbox) -> None:
    copy = box.variant("test-resume.yml")  # unchanged: the copy is edited after the failure
    first = box.run("run", str(copy), "-v")
    assert first.code == 1 and "failed at step 3/5: shell command exited with code 1" in first.out, first
    session_id = support.session_id_from(first.out)
    assert f"Resume with: prodigy resume {session_id}" in first.out
    copy.write_text(copy.read_text().replace("- shell: exit 1", "- shell: echo \"Step 3 - fixed\""))
    resumed = box.run("resume", session_id, "-v")
    assert resumed.code == 0, resumed
    assert [label for label in ("step1", "step2", "step3", "step4", "step5") if resumed.lines(label)] == [
        "step3", "step4", "step5"], resumed
    assert resumed.lines("step3") == ["Step 3 - fixed"]
    assert "3 of 5 step(s) in this run, 2 done before it" in resumed.out


def check_standard_workflow(box: Sandbox) -> None:
    box.commit({"src/main.rs": "fn main() {}\n", "src/lib.rs": "\n"})
    run = box.real("standard-workflow.yml")
    assert run.code == 0, run
    assert run.lines("step2") == ["Found 2 Rust files"], run  # xargs got its literal {}
    assert run.lines("step4")[-1] == "Check completed", run  # cargo failed; `|| echo` recovered
    assert run.lines("step6") == ["README.md exists"]
    assert run.lines("step7") == ["Workflow complete"]
    assert "7 of 7 step(s) in this run" in run.out


def check_test_mapreduce(box: Sandbox) -> None:
    run = box.real("test-mapreduce.yml")
    assert run.code == 0, run
    assert sorted(sum((run.lines(f"item_{i}") for i in range(3)), [])) == [
        "Processing item 1", "Processing item 2", "Processing item 3"], run
    assert run.lines("reduce1") == ["Processed 3 items"], run


def check_test_mapreduce_context(box: Sandbox) -> None:
    run = box.real("test-mapreduce-context.yml")
    assert run.code == 0, run
    assert run.lines("item_0")[0] == "Processing item1 in directory:", run
    assert run.lines("item_1")[0] == "Processing item2 in directory:", run
    assert run.lines("item_0")[1].endswith("/item_0")  # each item runs in its own agent worktree
    assert run.lines("reduce2") == ["Processed 2 out of 2 items"], run


def check_minimal_mapreduce(box: Sandbox) -> None:
    run = box.real("minimal-mapreduce.yml")
    assert run.code == 0, run
    assert "Found 3 output files" in run.lines("reduce1"), run
    assert "✓ All 3 items were processed successfully" in run.lines("reduce1"), run
    session_branch = re.search(r"\(branch (prodigy-session-[0-9a-f-]+)", run.out).group(1)
    merges = git(box.repo, "log", "--format=%s", session_branch).splitlines()
    assert sum(line.startswith("prodigy: merge item_") for line in merges) == 3, merges
    assert not list(box.repo.glob("output-*.txt"))  # without -y, the user's branch is untouched


def check_test_mapreduce_resume(box: Sandbox) -> None:
    with fixed_path("/tmp/resume-test-items.json") as shared:
        proc = support.spawn_prodigy("run", str(REAL / "test-mapreduce-resume.yml"), "-v", cwd=box.repo,
                                     env=UNBUFFERED)
        try:
            job_id = mr.wait_for_journal(lambda: mr.only_job_id(box.home), 1, timeout=20)
            proc.send_signal(signal.SIGINT)
            first = Run(*support.finish(proc))
        finally:
            if proc.poll() is None:
                proc.kill()
        assert first.code == 130 and "interrupted during map" in first.out, first
        done_before = mr.succeeded_in_journal(job_id)
        assert 1 <= len(done_before) < 5, first
        resumed = box.run("resume", support.session_id_from(first.out), "-v", "-y")
        assert resumed.code == 0, resumed
        for index in done_before:  # finished items are not run again
            assert not resumed.lines(f"item_{index}"), resumed
        assert "Found 5 output files" in resumed.lines("reduce2"), resumed
        assert "Total: 150" in resumed.lines("reduce3"), resumed
        assert sorted(p.name for p in box.repo.glob("output-*.txt")) == sorted(
            f"output-item-{n}.txt" for n in ("one", "two", "three", "four", "five"))
        assert not shared.exists()  # the reduce's cleanup step ran


def check_mapreduce_command_input(box: Sandbox) -> None:
    box.commit({"src/main.rs": "fn main() {}\n", "src/deep/lib.rs": "a\nb\nc\n"})
    run = box.real("mapreduce-command-input.yml")
    assert run.code == 0, run
    assert sorted(frozen_items(run)) == ["./src/deep/lib.rs", "./src/main.rs"]
    printed = sorted(line for i in range(2) for line in run.lines(f"item_{i}"))
    assert printed == ["Analyzing ./src/deep/lib.rs", "Analyzing ./src/main.rs",
                       "Lines in ./src/deep/lib.rs: 3", "Lines in ./src/main.rs: 1"], run
    assert run.lines("setup2")[0].startswith("Repository: /"), run  # xargs -I {} untouched


def check_fix_files_mapreduce(box: Sandbox) -> None:
    run = box.real("fix-files-mapreduce.yml", env={"FAKE_CARGO_DEFAULT": "0"})
    assert run.code == 0, run
    expected = [("src/cook/execution/mapreduce.rs", 25), ("src/cook/workflow/executor.rs", 20),
                ("src/main.rs", 15), ("src/analyze/context.rs", 12), ("tests/integration_test.rs", 10)]
    assert [(item["path"], item["complexity"]) for item in frozen_items(run)] == expected
    prompts = box.claude_prompts()
    assert sorted(prompts) == sorted(f"/analyze-and-fix-file {p} --complexity {c}" for p, c in expected)
    assert "Total files processed: 5" in run.lines("reduce1") and "Successfully fixed: 5" in run.lines("reduce1")
    assert run.lines("reduce3") == ["test result: ok. 1 passed"], run


def check_capture_json_processing(box: Sandbox) -> None:
    run = box.real("capture-json-processing.yml")
    assert run.code == 2 and "capture-json-processing.yml:57: commands[5].shell" in run.err, run
    assert "filter 'length' takes no argument" in run.err and not (box.home / "sessions").exists(), run
    # The same file with the documented filter form in its last step: every capture resolves.
    box.commit({"package.json": json.dumps({"name": "demo-pkg", "version": "2.3.4"})})
    copy = box.variant("capture-json-processing.yml", ("${final_summary|length:100} characters",
                                                       "${final_summary|length} keys, ${final_summary.package.name}"))
    run = box.run("run", str(copy), "-v")
    assert run.code == 0, run
    assert run.lines("step2") == ["Package: demo-pkg v2.3.4"], run
    report = run.lines("step4")
    assert "Package: Package: demo-pkg v2.3.4" in report and "Has Changes: false" in report, run
    assert any(line.startswith("Git Branch: prodigy-session-") for line in report), run
    assert run.lines("step6") == ["Final summary saved with 3 keys, demo-pkg"], run


def check_complex_build_pipeline(box: Sandbox) -> None:
    # No Rust project: `cargo check` exits 101, the step has no handler, so the run stops there.
    run = box.real("complex-build-pipeline.yml")
    assert run.code == 1 and "failed at step 1/3: shell command exited with code 101" in run.out, run
    assert box.cargo_calls() == ["cargo check"] and box.claude_prompts() == []
    assert "Resume with: prodigy resume" in run.out


def check_mapreduce_json_input(box: Sandbox) -> None:
    path = REAL / "mapreduce-json-input.yml"
    run = box.real("mapreduce-json-input.yml")
    assert run.code == 2 and f"{path}:30:46: invalid YAML: an unquoted ': ' inside a value" in run.err, run
    assert "mapping values are not allowed here" in run.err, run
    assert "Quote the whole command" in run.err and not (box.home / "sessions").exists(), run
    # Quoted as the hint says, the file runs.
    copy = box.variant("mapreduce-json-input.yml", (
        '- shell: echo "Processing item ${item.id}: ${item.task} for ${item.file}"',
        "- shell: 'echo \"Processing item ${item.id}: ${item.task} for ${item.file}\"'"), (
        '- shell: echo "Successful: ${map.successful}, Failed: ${map.failed}"',  # line 48: the same mistake
        "- shell: 'echo \"Successful: ${map.successful}, Failed: ${map.failed}\"'"))
    run = box.run("run", str(copy), "-v")
    assert run.code == 0, run
    assert run.lines("item_0")[0] == "Processing item 1: add-types for src/main.rs", run
    assert run.lines("item_2")[-1] == "Completed optimize on src/config.rs", run
    assert run.lines("reduce1") == ["Processed 3 items"] and run.lines("reduce2") == ["Successful: 3, Failed: 0"]


def check_mapreduce_env_example(box: Sandbox) -> None:
    # summary.json stands for the file the real /summarize agent would write (the fake one writes nothing).
    box.commit({"summary.json": "{}\n"})
    run = box.real("mapreduce-env-example.yml", "--profile", "development", "-y", env={"GITHUB_TOKEN": SECRET})
    assert run.code == 0, run
    assert run.lines("setup2") == ["Debug mode: true"] and run.lines("setup4") == ["Created output directory: dev-output"]
    prompts = box.claude_prompts()
    for name in ("item1", "item2"):
        assert f"/process-item '{name}' --project example-project --config config.yml" in prompts
        # ./process.sh does not exist: the list-form on_failure handler runs and recovers the item
        assert f"/fix-issue '{name}' --max-retries 3" in prompts
    assert run.lines("reduce4") == ["Processed 2/2 items"], run
    assert run.lines("reduce5") == ["Results saved to dev-output/example-project-summary.json"]
    # Nothing was committed, so there is nothing to merge and the merge: block does not run.
    assert not any(p.startswith("/validate-merge") for p in prompts) and "no commits to merge" in run.out
    assert_nowhere(SECRET, box, run)


def check_environment_example(box: Sandbox) -> None:
    _environment_dirs(box)
    env = {"SECRET_API_KEY": API_KEY, "DEPLOY_DIR": str(box.repo / "deploy")}
    run = box.real("environment-example.yml", env=env)
    assert run.code == 0, run
    workers = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    assert run.lines("step1") == [f"NODE_ENV=production API_URL=https://api.example.com WORKERS={workers}"], run
    assert run.lines("step2") == ["Building frontend with NODE_ENV=production"]
    assert run.lines("step4") == ["Deploying to staging environment"]  # ${branch} is not 'main'
    assert run.lines("step5") == ["Cleaning up temporary files"]
    # A profile and the condition's variable from the environment.
    run = box.real("environment-example.yml", "--profile", "development", env={**env, "branch": "main"})
    assert run.code == 0, run
    assert run.lines("step1") == [f"NODE_ENV=development API_URL=http://localhost:3000 WORKERS={workers}"], run
    assert run.lines("step4") == ["Deploying to production environment"]
    assert_nowhere(API_KEY, box, run)


def _environment_dirs(box: Sandbox) -> None:
    box.commit({"frontend/.keep": "", "backend/.keep": "", "deploy/.keep": ""})


CHECKS: dict[str, Callable[[Sandbox], None]] = {
    "test-sequential-resume.yml": check_test_sequential_resume,
    "test-resume.yml": check_test_resume,
    "standard-workflow.yml": check_standard_workflow,
    "test-mapreduce.yml": check_test_mapreduce,
    "test-mapreduce-context.yml": check_test_mapreduce_context,
    "minimal-mapreduce.yml": check_minimal_mapreduce,
    "test-mapreduce-resume.yml": check_test_mapreduce_resume,
    "mapreduce-command-input.yml": check_mapreduce_command_input,
    "fix-files-mapreduce.yml": check_fix_files_mapreduce,
    "capture-json-processing.yml": check_capture_json_processing,
    "complex-build-pipeline.yml": check_complex_build_pipeline,
    "mapreduce-json-input.yml": check_mapreduce_json_input,
    "mapreduce-env-example.yml": check_mapreduce_env_example,
    "environment-example.yml": check_environment_example,
}


@pytest.mark.parametrize("name", FILES)
def test_real_workflow_behaves_as_expected_md_says(name: str, box: Sandbox) -> None:
    CHECKS[name](box)


# ---------------------------------------------------------------- variants that drive each documented key


def test_minimal_mapreduce_with_yes_lands_on_the_original_branch(box: Sandbox) -> None:
    run = box.real("minimal-mapreduce.yml", "-y")
    assert run.code == 0, run
    assert git(box.repo, "branch", "--show-current").strip() == "main"
    assert sorted(p.name for p in box.repo.glob("output-*.txt")) == [
        "output-item-one.txt", "output-item-three.txt", "output-item-two.txt"]
    assert (box.repo / "output-item-two.txt").read_text() == "Processed by agent: item-two\nItem ID: 2\n"


def test_minimal_mapreduce_reduce_step_exiting_non_zero_fails_the_reduce(box: Sandbox) -> None:
    copy = box.variant("minimal-mapreduce.yml", ('[ "$count" -eq 3 ]', '[ "$count" -eq 4 ]'))
    run = box.run("run", str(copy), "-v", "-y")
    assert run.code == 1, run
    assert "✗ Expected 3 items, found 3" in run.lines("reduce1"), run
    assert "Run failed in reduce" in run.out and not run.lines("reduce2"), run
    assert not list(box.repo.glob("output-*.txt"))  # a failed run is not merged, even with -y


def test_complex_build_pipeline_nested_on_success_and_handlers(box: Sandbox) -> None:
    # Everything passes: the on_success chain runs check -> build -> test; bench's on_exit_code 0 runs.
    run = box.real("complex-build-pipeline.yml", env={"FAKE_CARGO_DEFAULT": "0"})
    assert run.code == 0, run
    assert box.cargo_calls() == ["cargo check", "cargo build --release", "cargo test --release",
                                 "cargo clippy -- -D warnings", "cargo bench"]
    assert "Benchmarks completed successfully!" in run.lines("step3") and box.claude_prompts() == []

    # Tests, clippy and bench fail: each handler gets the output it names and recovers its step.
    box.claude_ledger.unlink(missing_ok=True)
    run = box.real("complex-build-pipeline.yml", env={
        "FAKE_CARGO_DEFAULT": "0", "FAKE_CARGO_test": "3", "FAKE_CARGO_clippy": "1", "FAKE_CARGO_bench": "101"})
    assert run.code == 0, run
    assert box.claude_prompts() == [
        "/prodigy-debug-and-fix 'fake cargo test --release output\ntest result: ok. 1 passed'",
        "/prodigy-fix-clippy-warnings 'fake cargo clippy -- -D warnings output'",
        "/prodigy-fix-compilation-errors 'fake cargo bench output'",
    ]
    assert "Benchmarks completed successfully!" not in run.out


def test_complex_build_pipeline_failing_build_and_timeout(box: Sandbox) -> None:
    # A failing step inside on_success fails the outer step; the nested test step never runs.
    run = box.real("complex-build-pipeline.yml", env={"FAKE_CARGO_DEFAULT": "0", "FAKE_CARGO_build": "2"})
    assert run.code == 1 and "failed at step 1/3: shell command exited with code 2" in run.out, run
    assert box.cargo_calls() == ["cargo check", "cargo build --release"] and box.claude_prompts() == []

    # timeout: the same file with 1 s instead of 600 s, and a bench that takes 5 s.
    copy = box.variant("complex-build-pipeline.yml", ("timeout: 600", "timeout: 1"))
    run = box.run("run", str(copy), "-v", env={"FAKE_CARGO_DEFAULT": "0", "FAKE_CARGO_SLEEP_bench": "5"})
    assert run.code == 1 and "failed at step 3/3: shell command timed out after 1.0s" in run.out, run


def test_mapreduce_env_example_masks_the_secret_and_runs_the_merge_block(box: Sandbox) -> None:
    box.commit({"summary.json": "{}\n"})
    # One probe step prints the secret and makes a commit, so that there is something to merge.
    copy = box.variant("mapreduce-env-example.yml", ("setup:\n", 'setup:\n  - shell: "echo token=$API_TOKEN '
                                                     '${API_TOKEN}; date > stamp.txt; git add stamp.txt; '
                                                     'git commit -qm stamp"\n'))
    run = box.run("run", str(copy), "-v", "-y", env={"GITHUB_TOKEN": SECRET})
    assert run.code == 0, run
    assert run.lines("setup1") == ["token=*** ***"], run
    assert run.lines("setup3") == ["Debug mode: false"]  # no profile: the workflow's own env
    session_branch = re.search(r"\(branch (prodigy-session-[0-9a-f-]+)", run.out).group(1)
    assert f"/validate-merge --branch {session_branch} --project example-project" in box.claude_prompts()
    # Its merge: steps only echo, so the branch is not merged: prodigy says so and prints the command.
    assert "the workflow's merge: steps finished, but" in run.out and "is not merged into main" in run.out
    assert not (box.repo / "stamp.txt").exists()
    assert_nowhere(SECRET, box, run)


def test_environment_example_each_feature(box: Sandbox) -> None:
    _environment_dirs(box)
    # env_files are read from the directory prodigy runs in (a .env file is usually not committed).
    (box.repo / ".env.production").write_text("FROM_ENV_FILE=loaded\nNODE_ENV=from-file\n")
    copy = box.variant(
        "environment-example.yml",
        ("""shell: "echo 'Building frontend with NODE_ENV='$NODE_ENV\"""",
         """shell: "echo 'Building frontend with NODE_ENV='$NODE_ENV; pwd; echo BUILD_TARGET=$BUILD_TARGET\""""),
        ("""shell: "echo 'Running tests in test environment'\"""",
         """shell: "echo TEST_ENV=$TEST_ENV; pwd\""""),
        ("""  - name: "Deploy application"\n    shell: "echo 'Deploying to '$DEPLOY_ENV' environment'\"""",
         """  - shell: "echo after=:$TEST_ENV: file=$FROM_ENV_FILE key=$API_KEY"\n"""
         """  - name: "Deploy application"\n    shell: "echo 'Deploying to '$DEPLOY_ENV' environment'; pwd\""""),
        ("""shell: "echo 'Cleaning up temporary files'\"""",
         """shell: "echo node=:$NODE_ENV: key=:$API_KEY: mode=$CLEANUP_MODE\""""),
    )
    deploy = box.repo / "deploy"
    run = box.run("run", str(copy), "-v", env={"SECRET_API_KEY": API_KEY, "DEPLOY_DIR": str(deploy)})
    assert run.code == 0, run
    assert run.lines("step2")[0] == "Building frontend with NODE_ENV=production", run  # env beats env_files
    assert run.lines("step2")[1].endswith("/frontend") and run.lines("step2")[2] == "BUILD_TARGET=production"
    assert run.lines("step3")[0] == "TEST_ENV=true" and run.lines("step3")[1].endswith("/backend"), run
    assert run.lines("step4") == ["after=:: file=loaded key=***"], run  # step env ends with its step
    assert run.lines("step5")[0] == "Deploying to staging environment", run
    assert Path(run.lines("step5")[1]).resolve() == deploy.resolve()
    assert run.lines("step6") == ["node=:: key=:: mode=full"], run  # clear_env keeps only the step's env
    assert_nowhere(API_KEY, box, run)


def test_environment_example_unset_working_dir_variable_is_named(box: Sandbox) -> None:
    _environment_dirs(box)
    run = box.real("environment-example.yml")
    assert run.code == 1 and "failed at step 4/5: working_dir '${env.DEPLOY_DIR}': ${env.DEPLOY_DIR} is not set" \
        in run.out, run
