"""Can this worker run this attempt? Checked on the worker before every attempt (and when a worker joins), not
once at connect: a worker that joins late, a stale local copy at the same path or a missing tool is caught
before anything runs.

The coordinator writes a check file with a fresh token into each folder the workers must share (the agent
logs under PRODIGY_HOME, the repository's git directory, a run directory outside git); a worker passes only if
it reads the same token there, so a different or stale copy at the same path fails. The item's run directory
must exist and, in a repository, lead to that same git directory. Tools the template uses must be on PATH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prodigy.execution.cluster.protocol import Checks, agent_cli
from prodigy.state.atomic import write_bytes

CHECK_FILE = ".prodigy-check-{token}"


# ---------------------------------------------------------------- on the coordinator


def prepare(token: str, *, log_dir: Path | None, common_dir: Path | None, run_dir: Path | None,
            tools: tuple[tuple[str, str], ...], agent: str | None = None) -> tuple[Checks, list[Path]]:
    """The checks of a shared-filesystem run, and the check files written for them (remove them at the end).
    `run_dir` is given only outside a repository (inside, the git directory stands for it)."""
    files: list[tuple[str, str, str]] = []
    written: list[Path] = []
    for folder, what in ((log_dir, "PRODIGY_HOME's agent log folder"), (common_dir, "the repository's git folder"),
                         (run_dir, "the run directory")):
        if folder is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CHECK_FILE.format(token=token)
        write_bytes(path, token.encode())
        written.append(path)
        files.append((str(path), token, what))
    return Checks(files=tuple(files), common_dir=str(common_dir) if common_dir else None, run_dir=True,
                  tools=tools, agent_cli=agent), written


def remove(files: list[Path]) -> None:
    for path in files:
        try:
            path.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------- on the worker


def check(checks: Checks, run_dir: str | None, path_env: str | None) -> str | None:
    """None if this worker can run the attempt, else why not (in words for the user)."""
    for file, token, what in checks.files:
        folder = str(Path(file).parent)
        try:
            found = Path(file).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return (f"cannot see {what} {folder} (the check file prodigy wrote there is not there: not mounted on "
                    "this worker, or a different copy)")
        except OSError as exc:
            return f"cannot read {what} {folder}: {exc.strerror or exc}"
        if found != token:
            return f"sees a different copy of {what} {folder} (its check file has another token)"
    if run_dir is not None and checks.run_dir:
        path = Path(run_dir)
        if not path.is_dir():
            return f"cannot see the item's run directory {run_dir}"
        if checks.common_dir is not None:
            found_dir = common_dir_of(path)
            if found_dir is None or os.path.realpath(found_dir) != os.path.realpath(checks.common_dir):
                return (f"sees {run_dir}, but not as a checkout of the repository whose git folder is "
                        f"{checks.common_dir}")
    tools = list(checks.tools)
    cli = agent_cli(checks, dict(os.environ))
    if cli is not None:
        tools.append((cli, "the agent CLI of the workflow's claude: steps"))
    for tool, why in tools:
        if not found_on_path(tool, path_env):
            return f"cannot find {tool} ({why}) on its PATH"
    return None


def common_dir_of(path: Path) -> Path | None:
    """The git common directory a checkout leads to, read from its files (no git run): `.git` is that directory,
    or a file `gitdir: <dir>` whose `commondir` names it (a linked worktree)."""
    for folder in (path, *path.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            try:
                text = dot_git.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text[len("gitdir:"):].strip())
            gitdir = gitdir if gitdir.is_absolute() else folder / gitdir
            common = gitdir / "commondir"
            try:
                relative = common.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                return gitdir if gitdir.is_dir() else None
            except OSError:
                return None
            found = Path(relative)
            return found if found.is_absolute() else (gitdir / found)
    return None


def found_on_path(tool: str, path_env: str | None) -> bool:
    if os.sep in tool:
        return os.access(tool, os.X_OK)
    return shutil.which(tool, path=path_env) is not None
