"""Composable workflows: imports, extends, template, parameters, sub-workflows; problems at the file and line
of the part at fault; the kept form and what changed since."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy import paths
from prodigy.errors import UsageError, WorkflowFileError
from prodigy.workflow import compose
from prodigy.workflow.compose_params import ParamInput, param_input, parse_param
from prodigy.workflow.load import check_workflow, load_workflow


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path, **kwargs) -> list[str]:
    return [str(p) for p in check_workflow(path, **kwargs).problems]


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base.yml", """
        name: base
        env: {APP: service, LEVEL: info}
        commands:
          - shell: echo base
    """)
    child = write(tmp_path, "child.yml", """
        extends: base.yml
        name: child
        env: {LEVEL: debug, NEW: x}
    """)
    workflow = load_workflow(child)
    assert workflow.name == "child"
    assert {k: v.value for k, v in workflow.env} == {"APP": "service", "LEVEL": "debug", "NEW": "x"}
    assert [s.command for s in workflow.steps] == ["echo base"]
    replaced = write(tmp_path, "replaced.yml", "extends: base.yml\ncommands:\n  - shell: echo mine\n")
    assert [s.command for s in load_workflow(replaced).steps] == ["echo mine"]
    assert set(workflow.composition["sources"]) == {str(tmp_path / "base.yml"), str(child)}


def test_layered_extends_and_a_bare_list_base(tmp_path: Path) -> None:
    write(tmp_path, "steps.yml", "- shell: echo one\n- shell: echo two\n")
    write(tmp_path, "middle.yml", "extends: steps.yml\nenv: {A: '1'}\n")
    top = write(tmp_path, "top.yml", "extends: middle.yml\nenv: {B: '2'}\n")
    workflow = load_workflow(top)
    assert len(workflow.steps) == 2 and dict((k, v.value) for k, v in workflow.env) == {"A": "1", "B": "2"}


def test_imports_in_order_selective_and_unknown_names(tmp_path: Path) -> None:
    write(tmp_path, "common.yml", """
        env: {SHARED: yes-shared, OTHER: other}
        profiles:
          prod: {SHARED: prod}
        commands:
          - shell: echo imported
    """)
    main = write(tmp_path, "main.yml", """
        imports:
          - path: common.yml
            selective: [env]
        commands:
          - shell: echo main
    """)
    workflow = load_workflow(main)
    assert dict((k, v.value) for k, v in workflow.env)["SHARED"] == "yes-shared"
    assert workflow.profiles == () and [s.command for s in workflow.steps] == ["echo main"]
    bad = write(tmp_path, "bad.yml", "imports:\n  - path: common.yml\n    selective: [nope]\ncommands: []\n")
    assert any("bad.yml:3: imports[0].selective: not in the imported file: nope" in p for p in problems(bad))


def test_template_from_a_file_with_parameters_and_override(tmp_path: Path) -> None:
    write(tmp_path, "tpl.yml", """
        name: tpl
        parameters:
          required:
            - name: environment
              type: String
              validation: "matches('^(dev|prod)$')"
          optional:
            - {name: replicas, type: Number, default: 1}
        commands:
          - shell: deploy ${environment} ${replicas}
            timeout: ${replicas}
    """)
    use = write(tmp_path, "use.yml", """
        name: use
        template:
          source: {file: tpl.yml}
          with: {environment: dev}
          override:
            name: overridden
    """)
    workflow = load_workflow(use)
    assert dict(workflow.parameters) == {"environment": "dev", "replicas": 1}
    assert workflow.name == "use"  # the file's own keys win over the template and its override
    assert workflow.steps[0].timeout == 1.0  # a whole-value ${param} takes the value when composed
    assert workflow.steps[0].command == "deploy ${environment} ${replicas}"  # inside text: at run time
    cli = load_workflow(use, params=param_input(("replicas=4", "environment=prod"), None))
    assert dict(cli.parameters) == {"environment": "prod", "replicas": 4}


def test_parameter_precedence_cli_over_file_over_with_over_defaults_over_default(tmp_path: Path) -> None:
    write(tmp_path, "tpl.yml", """
        parameters:
          optional:
            - {name: a, default: from-default}
            - {name: b, default: from-default}
            - {name: c, default: from-default}
            - {name: d, default: from-default}
            - {name: e, default: from-default}
        defaults: {a: from-defaults, b: from-defaults, c: from-defaults, d: from-defaults}
        commands: []
    """)
    use = write(tmp_path, "use.yml", "template:\n  source: {file: tpl.yml}\n  with: {a: w, b: w, c: w}\n")
    given = ParamInput(cli={"a": "cli"}, cli_text={"a": "cli"}, file={"a": "file", "b": "file"})
    workflow = load_workflow(use, params=given)
    assert dict(workflow.parameters) == {"a": "cli", "b": "file", "c": "w", "d": "from-defaults",
                                         "e": "from-default"}


def test_parameter_errors_name_where_the_value_and_definition_are(tmp_path: Path) -> None:
    tpl = write(tmp_path, "tpl.yml", """
        parameters:
          required:
            - {name: env, type: String, validation: "in(['dev', 'prod'])"}
            - {name: n, type: Number}
        commands: []
    """)
    use = write(tmp_path, "use.yml", "template:\n  source: {file: tpl.yml}\n  with: {env: qa, n: 'x', zz: 1}\n")
    found = problems(use, strict=True)
    assert any(f"{use}:3: env: \"qa\" (from with:) fails the validation" in p and f"{tpl}:3" in p for p in found)
    assert any(f"{use}:3: n: expected Number, got String" in p for p in found)
    assert any(f"{use}:3: zz: unknown parameter" in p for p in found)
    bare = problems(tpl)  # validate without values: a warning
    assert [p for p in check_workflow(tpl).problems if p.severity == "warning"]
    assert any("env: required parameter has no value" in p for p in bare)
    assert check_workflow(tpl, strict=True).errors


def test_string_parameters_keep_the_text_of_a_cli_value(tmp_path: Path) -> None:
    wf = write(tmp_path, "wf.yml", """
        parameters:
          required: [{name: version, type: String}, {name: count, type: Number}, {name: tags, type: Array}]
        commands: []
    """)
    workflow = load_workflow(wf, params=param_input(("version=1.0", "count=3", 'tags=["a"]'), None))
    assert dict(workflow.parameters) == {"version": "1.0", "count": 3, "tags": ["a"]}


def test_params_without_declarations_are_variables(tmp_path: Path) -> None:
    wf = write(tmp_path, "wf.yml", "- shell: echo ${who}\n")
    workflow = load_workflow(wf, params=param_input(("who=world",), None))
    assert dict(workflow.parameters) == {"who": "world"} and workflow.composition is not None
    assert load_workflow(wf).composition is None  # no --param: not composed at all


def test_param_parsing_and_param_files(tmp_path: Path) -> None:
    assert parse_param("n=3") == ("n", 3, "3")
    assert parse_param("s=hello world") == ("s", "hello world", "hello world")
    assert parse_param('o={"a": 1}')[1] == {"a": 1}
    with pytest.raises(UsageError):
        parse_param("novalue")
    (tmp_path / "p.json").write_text('{"a": 1, "b": "x"}')
    (tmp_path / "p.yml").write_text("a: 2\n")
    assert param_input(("b=cli",), str(tmp_path / "p.json")).given == {"a": 1, "b": "cli"}
    assert param_input((), str(tmp_path / "p.yml")).file == {"a": 2}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="mapping"):
        param_input((), str(tmp_path / "bad.json"))
    with pytest.raises(UsageError, match="Cannot read"):
        param_input((), str(tmp_path / "missing.json"))


def test_registry_templates_local_first_then_prodigy_home(tmp_path: Path) -> None:
    global_tpl = paths.templates_dir() / "ci.yml"
    global_tpl.parent.mkdir(parents=True)
    global_tpl.write_text("commands:\n  - shell: echo global\n")
    use = write(tmp_path, "use.yml", "template:\n  source: ci\n")
    assert load_workflow(use, search_dirs=(tmp_path,)).steps[0].command == "echo global"
    write(tmp_path, ".prodigy/templates/ci.yml", "commands:\n  - shell: echo local\n")
    assert load_workflow(use, search_dirs=(tmp_path,)).steps[0].command == "echo local"
    reg = write(tmp_path, "reg.yml", "template:\n  source: {registry: nope}\n")
    assert any("reg.yml:2: template.source: template 'nope' is not in the registry" in p
               for p in problems(reg, search_dirs=(tmp_path,)))


def test_problems_are_reported_at_the_file_and_line_of_the_part_at_fault(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yml", """
        name: base
        commands:
          - shell: echo ok
          - shel: typo
    """)
    child = write(tmp_path, "child.yml", "extends: base.yml\nenv: {A: b}\n")
    assert f"{base}:4: commands[1].shel: unknown key" in problems(child)[0]
    broken = write(tmp_path, "broken.yml", "commands:\n  - shell: [unclosed\n")
    user = write(tmp_path, "user.yml", "extends: broken.yml\n")
    assert problems(user)[0].startswith(f"{broken}:")
    missing = write(tmp_path, "missing.yml", "name: m\nextends: nowhere.yml\n")
    assert problems(missing)[0].startswith(f"{missing}:2: extends: Workflow file not found")


def test_cycles_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "extends: b.yml\n")
    b = write(tmp_path, "b.yml", "extends: a.yml\n")
    found = problems(tmp_path / "a.yml")
    assert found == [f"{b}:1: extends: circular dependency: a.yml -> b.yml -> a.yml"]


def test_subworkflows_with_parameters_and_refused_keys(tmp_path: Path) -> None:
    write(tmp_path, "child.yml", """
        parameters:
          optional: [{name: level, type: Number, default: 1}]
        commands:
          - shell: echo ${level}
    """)
    parent = write(tmp_path, "parent.yml", """
        name: parent
        workflows:
          - name: first
            source: child.yml
            parameters: {level: 3}
            outputs: [x]
          - name: second
            source: child.yml
            inputs: {V: "${first.x}"}
            continue_on_error: true
    """)
    workflow = load_workflow(parent)
    assert [s.name for s in workflow.subworkflows] == ["first", "second"]
    assert dict(workflow.subworkflows[0].workflow.parameters) == {"level": 3}
    assert dict(workflow.subworkflows[1].workflow.parameters) == {"level": 1}
    assert workflow.subworkflows[1].continue_on_error and workflow.subworkflows[1].inputs == (("V", "${first.x}"),)
    bad = write(tmp_path, "bad.yml", """
        workflows:
          - name: a
            source: child.yml
            parallel: true
          - name: a
            source: child.yml
            timeout: 5
    """)
    found = problems(bad)
    assert any("bad.yml:4: workflows[0].parallel: sub-workflows run one after another" in p for p in found)
    assert any("workflows[1].name: a second sub-workflow named 'a'" in p for p in found)
    assert any("workflows[1].timeout" in p for p in found)


def test_an_import_alias_is_a_subworkflow_source(tmp_path: Path) -> None:
    write(tmp_path, "deploy.yml", "commands:\n  - shell: echo deploy\n")
    parent = write(tmp_path, "parent.yml", """
        imports:
          - {path: deploy.yml, alias: prod-deploy}
        workflows:
          - {name: deploy, source: prod-deploy}
    """)
    workflow = load_workflow(parent)
    assert workflow.steps == () and workflow.subworkflows[0].workflow.steps[0].command == "echo deploy"


def test_the_kept_form_runs_what_started_and_reports_changes(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yml", "env: {WHO: first}\ncommands:\n  - shell: echo $WHO\n")
    child = write(tmp_path, "child.yml", "extends: base.yml\n")
    workflow = load_workflow(child)
    kept = compose.from_kept(workflow.composition)
    assert kept.sha256 == workflow.sha256 and [s.command for s in kept.steps] == ["echo $WHO"]
    assert compose.changed_sources(workflow.composition) == []
    base.write_text("env: {WHO: second}\ncommands:\n  - shell: echo $WHO\n")
    changed = compose.changed_sources(workflow.composition)
    assert [c[0] for c in changed] == [str(base)] and changed[0][2] is not None
    assert dict((k, v.value) for k, v in compose.from_kept(workflow.composition).env) == {"WHO": "first"}
    base.unlink()
    assert compose.changed_sources(workflow.composition)[0][2] is None


def test_composed_from_an_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bin.yml").write_bytes(b"\xff\xfe")
    user = write(tmp_path, "user.yml", "extends: bin.yml\n")
    assert "not UTF-8" in problems(user)[0]
    with pytest.raises(WorkflowFileError):
        load_workflow(user)
