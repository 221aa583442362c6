"""Composed workflows through the CLI: --param/--param-file, validate with file and line, the kept resolved
form on resume, sub-workflows, and `prodigy template`."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy import paths
from prodigy.state import sessions

TEMPLATE = """
    name: deploy-template
    parameters:
      required:
        - {name: environment, type: String, validation: "matches('^(dev|staging|prod)$')"}
      optional:
        - {name: replicas, type: Number, default: 1}
    commands:
      - shell: echo "deploy ${environment} x${replicas}" >> ledger
"""


def _ledger(work: Path) -> list[str]:
    path = work / "ledger"
    return path.read_text().splitlines() if path.exists() else []


def test_a_template_parameter_overridden_by_param(invoke, work: Path, write_workflow) -> None:
    write_workflow(TEMPLATE, name="tpl.yml")
    use = write_workflow("template:\n  source: {file: tpl.yml}\n  with: {environment: dev}\n", name="use.yml")
    code, _, err = invoke("run", str(use), "-p", str(work), "--param", "replicas=3", "--param", "environment=prod")
    assert code == 0, err
    (work / "params.json").write_text(json.dumps({"replicas": 5}))
    code, _, err = invoke("run", str(use), "-p", str(work), "--param-file", str(work / "params.json"))
    assert code == 0, err
    assert _ledger(work) == ["deploy prod x3", "deploy dev x5"]


def test_bad_parameter_values_are_refused_before_a_session(invoke, work: Path, write_workflow) -> None:
    tpl = write_workflow(TEMPLATE, name="tpl.yml")
    use = write_workflow("template:\n  source: {file: tpl.yml}\n  with: {environment: dev}\n", name="use.yml")
    code, _, err = invoke("run", str(use), "-p", str(work), "--param", "environment=qa")
    assert code == 2 and "fails the validation" in err and f"{tpl}:4" in err
    assert "with the same --param values" in err
    code, _, err = invoke("run", str(tpl), "-p", str(work))
    assert code == 2 and "environment: required parameter has no value" in err
    assert invoke("run", str(use), "-p", str(work), "--param", "=x")[0] == 2
    assert sessions.all_ids() == []


def test_validate_names_the_file_and_line_of_the_part_at_fault(invoke, work: Path, write_workflow) -> None:
    base = write_workflow("commands:\n  - shell: echo ok\n  - shell: echo ${x|nope}\n", name="base.yml")
    child = write_workflow("extends: base.yml\nenv: {A: b}\n", name="child.yml")
    code, out, _ = invoke("validate", str(child))
    assert code == 2 and f"{base}:3" in out
    tpl = write_workflow(TEMPLATE, name="tpl.yml")
    code, out, _ = invoke("validate", str(tpl))
    assert code == 0 and "warning" in out and "required parameter has no value" in out
    code, out, _ = invoke("validate", str(tpl), "--param", "environment=prod")
    assert code == 0 and "composed from 1 file(s); parameters environment='prod', replicas=1" in out


def test_resume_runs_the_kept_resolved_form_and_reports_the_change(invoke, work: Path, write_workflow) -> None:
    base = write_workflow("""
        env: {WHO: original}
        commands:
          - shell: echo "one $WHO" >> ledger
          - shell: test -f fixed
          - shell: echo "three $WHO" >> ledger
    """, name="base.yml")
    child = write_workflow("extends: base.yml\n", name="child.yml")
    assert invoke("run", str(child), "-p", str(work))[0] == 1
    (session_id,) = sessions.all_ids()
    assert paths.composed_file(session_id).is_file()
    base.write_text(base.read_text().replace("original", "changed"))
    (work / "fixed").touch()
    code, out, err = invoke("resume", session_id)
    assert code == 0, err
    assert f"changed since the session started: {base} (changed)" in out
    assert f"prodigy resume {session_id} --workflow {child}" in out
    assert _ledger(work) == ["one original", "three original"]


def test_resume_with_workflow_composes_again_from_the_current_files(invoke, work: Path, write_workflow) -> None:
    base = write_workflow("""
        env: {WHO: original}
        commands:
          - shell: test -f fixed
          - shell: echo "two $WHO" >> ledger
    """, name="base.yml")
    child = write_workflow("extends: base.yml\n", name="child.yml")
    invoke("run", str(child), "-p", str(work))
    (session_id,) = sessions.all_ids()
    base.write_text(base.read_text().replace("original", "changed"))
    (work / "fixed").touch()
    code, _, err = invoke("resume", session_id, "--workflow", str(child))
    assert code == 0, err
    assert _ledger(work) == ["two changed"]


def test_subworkflows_run_in_order_each_its_own_resumable_session(invoke, work: Path, write_workflow) -> None:
    write_workflow("- shell: echo artifact-1 && echo build >> ledger\n  capture: artifact\n", name="build.yml")
    write_workflow('- shell: echo "test $ART" >> ledger && test -f fixed\n', name="test.yml")
    parent = write_workflow("""
        name: pipeline
        workflows:
          - {name: build, source: build.yml, outputs: [artifact]}
          - name: test
            source: test.yml
            inputs: {ART: "${build.artifact}"}
        commands:
          - shell: echo "final ${build.artifact}" >> ledger
    """, name="pipeline.yml")
    code, out, _ = invoke("run", str(parent), "-p", str(work), "--json")
    data = json.loads(out)
    assert code == 1 and data["kind"] == "workflows"
    assert [(c["name"], c["status"]) for c in data["children"]] == [("build", "completed"), ("test", "failed")]
    assert data["not_run"] == ["pipeline"]
    build_session = data["children"][0]["session_id"]
    assert sessions.load(build_session).extra["parent"] == {"session_id": data["session_id"], "name": "build"}
    (work / "fixed").touch()
    code, out, err = invoke("resume", data["session_id"], "--json")
    assert code == 0, err
    again = json.loads(out)
    assert [c["status"] for c in again["children"]] == ["skipped", "completed", "completed"]
    assert _ledger(work) == ["build", "test artifact-1", "test artifact-1", "final artifact-1"]
    assert invoke("resume", data["session_id"])[0] == 5


def test_template_commands(invoke, work: Path, write_workflow, monkeypatch) -> None:
    monkeypatch.chdir(work)
    tpl = write_workflow(TEMPLATE, name="tpl.yml")
    code, out, err = invoke("template", "register", str(tpl), "-n", "deploy", "-d", "Deploy it", "-t", "ci,deploy")
    assert code == 0, err
    assert (paths.templates_dir() / "deploy.yml").read_text() == tpl.read_text()
    assert invoke("template", "register", str(tpl), "-n", "deploy")[0] == 2
    assert invoke("template", "register", str(tpl), "-n", "deploy", "--force", "-t", "ci", "-t", "deploy")[0] == 0
    listed = json.loads(invoke("template", "list", "--json")[1])
    assert [(t["name"], t["tags"], t["scope"]) for t in listed["templates"]] == [("deploy", ["ci", "deploy"], "global")]
    shown = json.loads(invoke("template", "show", "deploy", "--json")[1])
    assert [p["name"] for p in shown["parameters"]] == ["environment", "replicas"]
    assert shown["parameters"][0]["required"] and shown["parameters"][1]["default"] == 1
    assert json.loads(invoke("template", "search", "DEPLOY", "--json")[1])["count"] == 1
    assert json.loads(invoke("template", "search", "dep", "--by-tag", "--json")[1])["count"] == 0
    code, out, _ = invoke("template", "validate", "deploy")
    assert code == 0 and "a valid template" in out and "replicas (Number, optional, default 1)" in out
    use = write_workflow("template:\n  source: deploy\n  with: {environment: staging}\n", name="use.yml")
    assert invoke("run", str(use), "-p", str(work))[0] == 0
    assert _ledger(work) == ["deploy staging x1"]
    (work / ".prodigy" / "templates").mkdir(parents=True)
    (work / ".prodigy" / "templates" / "deploy.yml").write_text("- shell: echo local >> ledger\n")
    assert invoke("run", str(use), "-p", str(work))[0] == 0  # the repository's own template wins
    assert _ledger(work)[-1] == "local"
    assert invoke("template", "delete", "deploy", "-y")[0] == 2  # the local one is the repository's
    (work / ".prodigy" / "templates" / "deploy.yml").unlink()
    assert invoke("template", "delete", "deploy")[0] == 2  # no terminal, no -y
    assert invoke("template", "delete", "deploy", "-y")[0] == 0
    assert invoke("template", "show", "deploy")[0] == 2


def test_template_validate_and_register_refuse_broken_files(invoke, work: Path, write_workflow) -> None:
    bad = write_workflow("commands:\n  - shel: x\n", name="bad.yml")
    code, out, _ = invoke("template", "validate", str(bad))
    assert code == 2 and f"{bad}:2" in out
    code, _, err = invoke("template", "register", str(bad))
    assert code == 2 and "Not registered" in err
    assert invoke("template", "register", str(work / "missing.yml"))[0] == 2
    assert invoke("template", "register", str(bad), "-n", "../x")[0] == 2


def test_a_damaged_kept_form_is_a_clear_state_error_and_workflow_gets_out(invoke, work: Path,
                                                                          write_workflow) -> None:
    write_workflow("commands:\n  - shell: test -f fixed\n  - shell: echo two >> ledger\n", name="base.yml")
    child = write_workflow("extends: base.yml\n", name="child.yml")
    invoke("run", str(child), "-p", str(work))
    (session_id,) = sessions.all_ids()
    kept = paths.composed_file(session_id)
    kept.write_text("{broken")
    code, _, err = invoke("resume", session_id)
    assert code == 6 and str(kept) in err
    kept.write_text('{"schema_version": 1, "composition": {"path": "/x.yml", "resolved": [1]}}')
    code, _, err = invoke("resume", session_id)
    assert code == 6 and f"--workflow {child}" in err
    kept.write_text("{broken")
    (work / "fixed").touch()
    code, _, err = invoke("resume", session_id, "--workflow", str(child))
    assert code == 0, err
    assert _ledger(work) == ["two"]
