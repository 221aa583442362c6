"""prodigy validate: references that can never resolve, with file and line (issue 15)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from prodigy.workflow.load import check_workflow


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return [f"{p.severity} {p.line} {p.message}" for p in check_workflow(path).problems]


def test_misspelt_ids_fields_and_phase_only_variables(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        name: refs
        mode: mapreduce
        setup:
          - shell: echo 3
            capture: count
        map:
          input: items.json
          agent_template:
            - shell: echo ${item.path} ${count} ${map.key} ${worker.id}
              capture: per_item
              id: scan
            - claude: "/fix ${scan.outpt} ${map.total}"
            - shell: echo ${later_one} ${reslt.output}
            - shell: echo x
              capture: later_one
        reduce:
          - shell: echo ${map.sucessful} ${per_item} ${item.path} ${count} ${map.success_rate}
        """)
    assert found == [
        "error 12 ${scan.outpt} can never resolve: step id 'scan' has no output 'outpt' (it has duration, "
        "exit_code, output, stderr, success)",
        "error 12 ${map.total} can never resolve in a map agent: ${map.*} counts and results exist only in the "
        "reduce phase (${map.key} is the item's key)",
        "error 13 ${later_one} can never resolve here: 'later_one' is captured by a later step (line 14)",
        "error 13 ${reslt.output} can never resolve: no step captures 'reslt' and it is not a built-in variable",
        "error 17 ${map.sucessful} can never resolve: ${map.*} has no 'sucessful' (did you mean 'successful'?)",
        "error 17 ${per_item} can never resolve here: 'per_item' is captured in a map agent (its captures stay "
        "inside that agent)",
        "error 17 ${item.path} can never resolve here: it is defined only in the map phase (agent_template) or a "
        "foreach `do:`",
    ]


def test_handlers_validation_foreach_and_outputs_scopes(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        - shell: make
          id: build
          outputs:
            log: {file_pattern: "*.log"}
          on_failure:
            shell: echo ${error.message} ${error.mesage}
        - shell: echo ${build.log} ${build.logs} ${error.message}
        - foreach:
            foreach: [a, b]
            do:
              - shell: echo ${item} ${index}/${total}
        - shell: "true"
          validate:
            shell: "true"
            on_incomplete:
              claude: "/fill ${validation.gaps}"
        - claude: "/next ${validation.completion} ${NOT_DEFINED} ${step.files_adde}"
        """)
    assert found == [
        "error 6 ${error.mesage} can never resolve: ${error.*} has no 'mesage' (did you mean 'message'?)",
        "error 7 ${build.logs} can never resolve: step id 'build' has no output 'logs' (it has duration, exit_code, "
        "log, output, stderr, success)",
        "error 7 ${error.message} can never resolve here: it is defined only in on_failure handlers",
        "warning 17 ${NOT_DEFINED} is not set by the workflow; it must be in the environment when the step runs, or "
        "the step fails before the agent sees it",
        "error 17 ${step.files_adde} can never resolve: ${step.*} has no 'files_adde' (did you mean 'files_added'?)",
    ]


def test_shell_variables_defaults_and_env_names_are_not_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        env:
          TARGET: release
        commands:
          - shell: for f in *; do echo ${f}; done; echo ${HOME} ${TARGET} ${x:-fallback} $ARG ${env.PATH}
          - claude: "/ship ${TARGET} ${ARG} ${ARG_2} ${workflow.name} ${missing:-none}"
        """) == []
