"""`prodigy template register|list|show|delete|search|validate`: the template registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option

GROUP_EPILOG = """\b
Examples:
  prodigy template register templates/ci.yml --name standard-ci -t ci -t rust
  prodigy template list
  prodigy template show standard-ci
  prodigy template search deploy
  prodigy template validate templates/ci.yml
  prodigy template delete standard-ci -y
\b
Registered templates live in PRODIGY_HOME/templates/ (NAME.yml and NAME.yml.meta.json);
a repository's .prodigy/templates/NAME.yml is found first. A workflow uses one with
template: {source: NAME, with: {...}}; see docs/composition.md.
"""

REGISTER_EPILOG = """\b
Examples:
  prodigy template register ci.yml                       registered as "ci"
  prodigy template register ci.yml -n standard-ci -d "Build and test" --version 2.0.0
  prodigy template register ci.yml -t ci -t rust -a "Platform team" --force
\b
The file is checked first (as prodigy validate does; a required parameter without a
value is fine in a template) and copied into the registry.
"""


def _cwd() -> tuple[Path, ...]:
    return (Path.cwd(),)


@click.group(epilog=GROUP_EPILOG)
def template() -> None:
    """Register, list, show, search, validate and delete workflow templates."""


@template.command(epilog=REGISTER_EPILOG)
@click.argument("path", metavar="PATH", type=click.Path(dir_okay=False), shell_complete=complete.workflow_files)
@click.option("-n", "--name", metavar="NAME", help="The registry name (default: the file name without .yml).")
@click.option("-d", "--description", metavar="TEXT", help="What the template does.")
@click.option("--version", "version", default="1.0.0", show_default=True, metavar="V")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="A tag (repeatable, or comma-separated).")
@click.option("-a", "--author", metavar="NAME")
@click.option("-f", "--force", is_flag=True, help="Replace a template of the same name.")
@json_option
def register(path: str, name: str | None, description: str | None, version: str, tags: tuple[str, ...],
             author: str | None, force: bool, json_output: bool) -> int:
    """Add a workflow file to the template registry."""
    from prodigy.cli.render import console, emit_json
    from prodigy.errors import WorkflowFileError
    from prodigy.state import templates
    from prodigy.views.templates import describe
    from prodigy.workflow.load import read_workflow_text

    file = Path(path).expanduser().absolute()
    info = describe(file, _cwd())
    if info.errors:
        raise WorkflowFileError(f"Not registered: {info.errors[0]}" + (f" (and {len(info.errors) - 1} more)"
                                if len(info.errors) > 1 else ""), problems=info.errors,
                                hint=f"See every problem with: prodigy template validate {path}")
    tag_list = [t.strip() for value in tags for t in value.split(",") if t.strip()]
    meta = templates.TemplateMeta(name=name or file.stem, description=description, version=version, author=author,
                                  tags=tag_list, source=str(file))
    saved = templates.register(name or file.stem, read_workflow_text(file), meta, force=force)
    if json_output:
        emit_json(saved.to_json())
    else:
        console().print(f"Registered template {saved.name} ({saved.path}). Use it with: template: {{source: "
                        f"{saved.name}}}", markup=False)
    return 0


@template.command(name="list", epilog="""\b
Examples:
  prodigy template list
  prodigy template list -t ci --long
  prodigy template list --json
""")
@click.option("-t", "--tag", "tag", metavar="TAG", help="Only templates with this tag.")
@click.option("-l", "--long", "long_", is_flag=True, help="Also version, author, tags and path.")
@json_option
def list_(tag: str | None, long_: bool, json_output: bool) -> int:
    """List registered templates (the repository's .prodigy/templates first)."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.state import templates

    found = [t for t in templates.all_templates(_cwd()) if tag is None or tag.lower() in
             (x.lower() for x in t.meta.tags)]
    if json_output:
        emit_json({"templates": [t.to_json() for t in found], "count": len(found)})
        return 0
    _table(found, long_, console(), table, empty="No templates" + (f" tagged {tag!r}" if tag else "") +
           " yet: add one with prodigy template register FILE")
    return 0


def _table(found: list[Any], long_: bool, out: Any, table: Any, *, empty: str) -> None:
    if not found:
        out.print(empty, markup=False)
        return
    columns = ["name", "scope", "description"] + (["version", "author", "tags", "path"] if long_ else [])
    rows = [[t.name, t.scope, t.meta.description or "-"] +
            ([t.meta.version, t.meta.author or "-", ",".join(t.meta.tags) or "-", t.path] if long_ else [])
            for t in found]
    table(columns, rows, out=out)


@template.command(epilog="""\b
Examples:
  prodigy template show standard-ci
  prodigy template show standard-ci --json
""")
@click.argument("name", metavar="NAME", shell_complete=complete.template_names)
@json_option
def show(name: str, json_output: bool) -> int:
    """A template's metadata, parameters and text."""
    from prodigy.cli.render import console, emit_json, fields
    from prodigy.state import templates
    from prodigy.views.templates import describe, parameter_json
    from prodigy.workflow.load import read_workflow_text

    found = templates.get(name, _cwd())
    info = describe(Path(found.path), _cwd())
    text = read_workflow_text(Path(found.path))
    if json_output:
        emit_json({**found.to_json(), "kind": info.kind, "parameters": [parameter_json(d) for d in info.parameters],
                   "problems": [str(p) for p in info.problems], "text": text})
        return 0
    out = console()
    meta = found.meta
    fields([("Template", found.name), ("Scope", found.scope), ("Path", found.path), ("Description", meta.description),
            ("Version", meta.version), ("Author", meta.author), ("Tags", ", ".join(meta.tags) or None),
            ("Registered", meta.created_at), ("Updated", meta.updated_at), ("From", meta.source),
            ("Kind", info.kind)], out=out)
    _parameters(out, info.parameters)
    out.print("---", markup=False)
    out.print(text.rstrip("\n"), markup=False, highlight=False)
    return 0


def _parameters(out: Any, defs: Any) -> None:
    if not defs:
        out.print("Parameters: none", markup=False)
        return
    out.print("Parameters:", markup=False)
    for d in defs:
        default = f", default {d.default!r}" if d.has_default else ""
        check = f", validation {d.validation}" if d.validation else ""
        about = f": {d.description}" if d.description else ""
        out.print(f"  {d.name} ({d.type}, {'required' if d.required else 'optional'}{default}{check}){about}",
                  markup=False)


@template.command(epilog="""\b
Examples:
  prodigy template delete old-ci              asks first
  prodigy template delete old-ci -y
\b
Only PRODIGY_HOME/templates entries can be deleted here; a repository's
.prodigy/templates files belong to the repository (delete the file there).
""")
@click.argument("name", metavar="NAME", shell_complete=complete.template_names)
@click.option("-y", "--yes", "-f", "--force", "yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> int:
    """Remove a template from the registry."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console
    from prodigy.state import templates

    found = templates.get(name, _cwd())
    if found.scope == "local":
        from prodigy.errors import UsageError

        raise UsageError(f"Template {name!r} is the repository's own ({found.path}); delete or edit the file there.")
    if not confirm(f"Delete template {name} ({found.path})?", yes=yes,
                   refusal=f"Refusing to delete template {name!r} without confirmation.", hint="Pass -y to confirm."):
        console().print("Nothing was deleted.", markup=False)
        return 1
    path = templates.delete(name)
    console().print(f"Deleted template {name} ({path}).", markup=False)
    return 0


@template.command(epilog="""\b
Examples:
  prodigy template search deploy              name, description or tag
  prodigy template search rust --by-tag
""")
@click.argument("query", metavar="QUERY")
@click.option("-t", "--by-tag", is_flag=True, help="Match tags only (exactly, ignoring case).")
@json_option
def search(query: str, by_tag: bool, json_output: bool) -> int:
    """Find templates by name, description or tag."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.views.templates import search as find

    found = find(query, by_tag=by_tag, search_dirs=_cwd())
    if json_output:
        emit_json({"query": query, "templates": [t.to_json() for t in found], "count": len(found)})
        return 0
    _table(found, False, console(), table, empty=f"No template matches {query!r}.")
    return 0


@template.command(epilog="""\b
Examples:
  prodigy template validate templates/ci.yml
  prodigy template validate standard-ci        a registered one, by name
\b
Checks the file as a workflow, composition included, with every problem at its file and
line. A required parameter without a value is fine here (its users give one). Exit 2 on
errors.
""")
@click.argument("template_ref", metavar="PATH|NAME", shell_complete=complete.template_names_or_files)
@json_option
def validate(template_ref: str, json_output: bool) -> int:
    """Check a template file (or a registered template) and list its parameters."""
    from prodigy.cli.render import console, emit_json
    from prodigy.errors import ExitCode
    from prodigy.views.templates import describe, parameter_json
    from prodigy.views.templates import resolve as find

    path = find(template_ref, _cwd())
    info = describe(path, _cwd())
    if json_output:
        emit_json({"path": str(path), "valid": not info.errors, "kind": info.kind, "name": info.name,
                   "steps": info.steps, "subworkflows": list(info.subworkflows),
                   "parameters": [parameter_json(d) for d in info.parameters],
                   "problems": [{"severity": p.severity, "file": p.file, "line": p.line, "key": p.key,
                                 "message": p.message} for p in info.problems]})
        return int(ExitCode.USAGE if info.errors else ExitCode.OK)
    out = console()
    for problem in info.problems:
        if problem.severity == "warning" and "required parameter has no value" in problem.message:
            continue  # expected in a template
        out.print(f"{problem.severity} {problem}", markup=False)
    if info.errors:
        out.print(f"✖ {path}: {len(info.errors)} error(s)", markup=False)
        return int(ExitCode.USAGE)
    what = f"{info.kind} workflow" + (f" with {info.steps} step(s)" if info.kind == "standard" else "")
    out.print(f"✔ {path}: a valid template ({what})", markup=False)
    _parameters(out, info.parameters)
    return 0
