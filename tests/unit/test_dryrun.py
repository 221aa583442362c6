"""--dry-run: the steps as they would run, with what is known before the run filled in; nothing runs."""

from __future__ import annotations

from pathlib import Path

from prodigy.workflow.dryrun import dry_run
from prodigy.workflow.load import load_workflow


def _load(tmp_path: Path, text: str):
    path = tmp_path / "wf.yml"
    path.write_text(text)
    return load_workflow(path)


def test_standard_steps_get_env_inputs_and_profile(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    workflow = _load(tmp_path, f"""
env:
  GREETING: hello
  TOKEN: {{secret: true, value: s3cret}}
  STAMP: {{command: "touch {marker}; date"}}
profiles:
  prod: {{GREETING: bonjour}}
commands:
  - shell: echo $GREETING ${{ARG}} ${{TOKEN}} ${{STAMP}}
  - claude: "/fix ${{ARG}} using ${{shell.output}}"
    when: "${{ARG}} == 1"
    on_failure:
      commands:
        - shell: echo retry ${{ARG}}
      max_attempts: 3
""")
    plan = dry_run(workflow, inputs={"ARG": "42"}, profile="prod", label="ARG=42")
    assert not marker.exists()  # the dynamic env command did not run
    (phase,) = plan.phases
    first, second = phase.steps
    assert first.text == "echo 'bonjour' '42' '***' ${STAMP}"
    assert "s3cret" not in repr(plan)
    assert first.unresolved == ("STAMP",)
    assert plan.deferred and "STAMP" in plan.deferred[0]
    assert second.text == "/fix 42 using ${shell.output}" and second.unresolved == ("shell.output",)
    assert "when: ${ARG} == 1" in second.notes
    title, handlers = second.handlers[0]
    assert title == "on_failure (up to 3 attempts)" and handlers[0].text == "echo retry '42'"


def test_mapreduce_phases_and_map_details(tmp_path: Path) -> None:
    workflow = _load(tmp_path, """
mode: mapreduce
name: mr
env: {N: "3"}
setup:
  - shell: make items
map:
  input: "find . -name '*.md'"
  filter: "size > 1"
  max_parallel: ${N}
  agent_template:
    - shell: process ${item.path}
reduce:
  - shell: echo ${map.successful}
merge:
  - shell: git merge ${merge.source_branch}
""")
    plan = dry_run(workflow)
    names = [p.name for p in plan.phases]
    assert names == ["setup", "map", "reduce", "merge"]
    details = dict(plan.phases[1].details)
    assert details["input"] == "find . -name '*.md'" and details["max_parallel"] == "3"
    assert details["filter"] == "size > 1"
    assert plan.phases[1].steps[0].unresolved == ("item.path",)
    assert plan.phases[3].steps[0].where == "merge[1]"
