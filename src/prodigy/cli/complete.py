"""Shell completion (click's): workflow files for WORKFLOW arguments, ids for session and job arguments.

    eval "$(_PRODIGY_COMPLETE=bash_source prodigy)"          # bash, in ~/.bashrc
    eval "$(_PRODIGY_COMPLETE=zsh_source prodigy)"           # zsh, in ~/.zshrc
    _PRODIGY_COMPLETE=fish_source prodigy | source           # fish, in ~/.config/fish/completions/prodigy.fish

Id completion lists the names of the records under PRODIGY_HOME (no record is read), so it stays fast."""

from __future__ import annotations

from typing import Any

from click.shell_completion import CompletionItem

ID_LIMIT = 200


def workflow_files(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """The shell's own file completion (directories to descend into, then .yml/.yaml/.json files)."""
    return [CompletionItem(incomplete, type="file")]


def _session_ids(incomplete: str) -> list[str]:
    from prodigy import paths

    folder = paths.sessions_dir()
    return sorted(p.stem for p in folder.glob(f"{incomplete}*.json")) if folder.is_dir() and "/" not in incomplete \
        else []


def _job_ids(incomplete: str) -> list[str]:
    from prodigy import paths

    folder = paths.mappings_dir()
    if not folder.is_dir() or "/" in incomplete:
        return []
    return sorted(p.name[len("job-"):-len(".json")] for p in folder.glob(f"job-{incomplete}*.json"))


def _items(ids: list[str], what: str) -> list[CompletionItem]:
    return [CompletionItem(value, help=what) for value in ids[:ID_LIMIT]]


def session_or_job_ids(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return _items(_session_ids(incomplete), "session") + _items(_job_ids(incomplete), "MapReduce job")


def job_ids(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """Job ids; the ids of MapReduce sessions work too (they name their job)."""
    return _items(_job_ids(incomplete), "MapReduce job") + _items(_session_ids(incomplete), "session")


def template_names(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    """Registered template names (PRODIGY_HOME/templates and the current repository's .prodigy/templates)."""
    from pathlib import Path

    from prodigy import paths

    folders = [Path.cwd() / ".prodigy" / "templates", paths.templates_dir()]
    names = sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob(f"{incomplete}*")
                    if p.suffix in (".yml", ".yaml")}) if "/" not in incomplete else []
    return _items(names, "template")


def template_names_or_files(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    return template_names(ctx, param, incomplete) + workflow_files(ctx, param, incomplete)
