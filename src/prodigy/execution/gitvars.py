"""${step.*} and ${workflow.*} git context variables (book/src/variables/available-variables.md,
git-context-advanced.md): the changes of the step that ran last (inside a step's own handlers and validation,
that step's) and of the whole run so far, with the `:json`, `:lines`, `:csv` and `:GLOB` modifiers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prodigy.git.context import Changes
from prodigy.workflow.list_modifiers import FileList

LIST_FIELDS = ("files_added", "files_modified", "files_deleted", "files_changed", "commits")
COUNT_FIELDS = ("commit_count", "insertions", "deletions")
_LIST_KEY = re.compile(r"^(step|workflow)\.(files_added|files_modified|files_deleted|files_changed|commits)$")
def step_variables(changes: Changes) -> dict[str, Any]:
    return _variables("step", changes)


def _variables(scope: str, changes: Changes) -> dict[str, Any]:
    changed = sorted({*changes.files_added, *changes.files_modified, *changes.files_deleted})
    return {
        f"{scope}.files_added": FileList(changes.files_added),
        f"{scope}.files_modified": FileList(changes.files_modified),
        f"{scope}.files_deleted": FileList(changes.files_deleted),
        f"{scope}.files_changed": FileList(changed),
        f"{scope}.commits": FileList(changes.commits),
        f"{scope}.commit_count": len(changes.commits),
        f"{scope}.insertions": changes.insertions,
        f"{scope}.deletions": changes.deletions,
    }


def merged_workflow(variables: Mapping[str, Any], changes: Changes) -> dict[str, Any]:
    """The run's cumulative changes: what earlier steps changed plus this step's."""
    def listed(field: str) -> list[str]:
        value = variables.get(f"workflow.{field}")
        return list(value) if isinstance(value, (list, tuple)) else []

    added = set(listed("files_added")) | set(changes.files_added)
    deleted = set(listed("files_deleted")) | set(changes.files_deleted)
    modified = (set(listed("files_modified")) | set(changes.files_modified)) - added
    commits = listed("commits") + [c for c in changes.commits if c not in set(listed("commits"))]
    total = Changes(tuple(sorted(added)), tuple(sorted(modified)), tuple(sorted(deleted)), tuple(commits),
                    int(variables.get("workflow.insertions") or 0) + changes.insertions,
                    int(variables.get("workflow.deletions") or 0) + changes.deletions)
    return _variables("workflow", total)


def empty_workflow() -> dict[str, Any]:
    return {**_variables("workflow", Changes()), **_variables("step", Changes())}


def revive(variables: dict[str, Any]) -> dict[str, Any]:
    """Git lists read back from a checkpoint or the journal are plain JSON lists again: make them FileLists."""
    for key, value in variables.items():
        if isinstance(value, list) and not isinstance(value, FileList) and _LIST_KEY.match(key):
            variables[key] = FileList(value)
    return variables


_GIT_REF = re.compile(r"\$\{?(?:step|workflow)\.(?:files_|commit|insertions|deletions)")


def needed(workflow: Any) -> bool:
    """Track git changes only for workflows that use ${step.*}/${workflow.*} git variables or outputs:."""
    from prodigy.workflow.model import nested_steps

    def texts(step: Any) -> list[str]:
        found = [step.command, step.when or "", *(v for _, v in step.env)]
        if step.write_file:
            found += [step.write_file.path, step.write_file.content]
        return found

    pending = [s for steps in workflow.phase_steps().values() for s in steps]
    if workflow.merge:
        pending += list(workflow.merge.steps)
    while pending:
        step = pending.pop()
        if step.outputs or any(_GIT_REF.search(t) for t in texts(step)):
            return True
        pending.extend(nested_steps(step))
    return False


def builtin_variables(workflow: Any, session_id: str, inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """${workflow.name}, ${workflow.id} (the session id), ${workflow.iteration} (-n), and empty git context."""
    iteration = (inputs or {}).get("ITERATION", "1")
    values: dict[str, Any] = {"workflow.name": workflow.name, "workflow.id": session_id,
                              "workflow.iteration": int(iteration) if str(iteration).isdigit() else iteration}
    if needed(workflow):
        values.update(empty_workflow())
    return values
