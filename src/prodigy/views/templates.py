"""`prodigy template`: what a template file is (its parameters, kind, steps and problems), and the registry
listed and searched. The registry itself is state/templates.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.state import templates
from prodigy.workflow.compose_params import Definition, definitions
from prodigy.workflow.load import check_workflow, read_workflow_text
from prodigy.workflow.load_common import Problem
from prodigy.workflow.yamlsrc import parse_text


@dataclass(frozen=True)
class TemplateInfo:
    path: str
    kind: str | None  # standard | mapreduce | None (invalid)
    name: str | None
    steps: int
    subworkflows: tuple[str, ...]
    parameters: tuple[Definition, ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def describe(path: Path, search_dirs: tuple[Path, ...] = ()) -> TemplateInfo:
    """Check a template as a workflow (required parameters may lack values: that is a warning here)."""
    result = check_workflow(path, search_dirs=search_dirs)
    workflow = result.workflow
    data = parse_text(read_workflow_text(path.absolute()), path)
    found: list[Problem] = []
    defs = definitions(data.get("parameters") if isinstance(data, dict) else None, str(path), found)
    return TemplateInfo(path=str(path), kind=workflow.mode if workflow else None, name=workflow.name if workflow else None,
                        steps=len(workflow.steps) if workflow else 0,
                        subworkflows=tuple(s.name for s in workflow.subworkflows) if workflow else (),
                        parameters=tuple(defs), problems=result.problems)


def resolve(name_or_path: str, search_dirs: tuple[Path, ...] = ()) -> Path:
    """A registered template's name, or a file path."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate.absolute()
    return Path(templates.get(name_or_path, search_dirs).path)


def search(query: str, *, by_tag: bool = False, search_dirs: tuple[Path, ...] = ()) -> list[templates.Template]:
    wanted = query.lower()

    def hit(t: templates.Template) -> bool:
        tags = [tag.lower() for tag in t.meta.tags]
        if by_tag:
            return wanted in tags
        return wanted in t.name.lower() or wanted in (t.meta.description or "").lower() or any(wanted in x for x in tags)

    return [t for t in templates.all_templates(search_dirs) if hit(t)]


def parameter_json(d: Definition) -> dict[str, Any]:
    return {"name": d.name, "type": d.type, "required": d.required, "default": d.default if d.has_default else None,
            "has_default": d.has_default, "validation": d.validation, "description": d.description}
