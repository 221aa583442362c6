"""Workflow files -> model: both standard forms, MapReduce basics, and every error kind with file:line:key."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from prodigy.errors import WorkflowFileError
from prodigy.workflow.load import check_workflow, load_workflow, parse_duration


def write(tmp_path: Path, text: str, name: str = "wf.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    return [str(p) for p in check_workflow(path).problems]


def only_error(path: Path) -> str:
    errors = [str(p) for p in check_workflow(path).errors]
    assert len(errors) == 1, errors
    return errors[0]


# ---------------------------------------------------------------- valid forms


def test_bare_list_form(tmp_path: Path) -> None:
    path = write(tmp_path, """
        - shell: echo one
        - claude: /prodigy-lint
        - shell: |
            echo multi
            echo line
    """)
    wf = load_workflow(path)
    assert wf.mode == "standard" and not wf.is_mapreduce
    assert wf.name == "wf"
    assert [s.kind for s in wf.steps] == ["shell", "claude", "shell"]
    assert wf.steps[2].command == "echo multi\necho line\n"
    assert [s.line for s in wf.steps] == [1, 2, 3]
    assert wf.path == path and len(wf.sha256) == 64


def test_mapping_form_with_name_env_and_step_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: build
        mode: standard
        env:
          GREETING: hello
          COUNT: 3
          FLAG: true
        commands:
          - name: first
            shell: echo $GREETING
            timeout: 5m
            capture: out
            capture_format: lines
            working_dir: sub
            env:
              LOCAL: x
            when: "${GREETING} == 'hello'"
            commit_required: true
          - write_file:
              path: out/result.json
              content: '{"a": 1}'
              format: json
              create_dirs: true
    """)
    wf = load_workflow(path)
    assert wf.name == "build"
    assert {k: v.value for k, v in wf.env} == {"GREETING": "hello", "COUNT": "3", "FLAG": "true"}
    first, second = wf.steps
    assert first.name == "first" and first.timeout == 300.0
    assert first.capture == "out" and first.capture_format == "lines"
    assert first.working_dir == "sub" and first.env == (("LOCAL", "x"),)
    assert first.when == "${GREETING} == 'hello'" and first.commit_required is True
    assert second.kind == "write_file" and second.write_file is not None
    assert second.write_file.path == "out/result.json" and second.write_file.format == "json"
    assert second.write_file.create_dirs is True


def test_bare_string_slash_command_is_a_claude_step(tmp_path: Path) -> None:
    wf = load_workflow(write(tmp_path, "- /prodigy-code-review\n"))
    assert wf.steps[0].kind == "claude" and wf.steps[0].command == "/prodigy-code-review"


def test_mapreduce_basics(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: fanout
        mode: mapreduce
        setup:
          - shell: echo '[1,2]' > items.json
        map:
          input: items.json
          json_path: "$[*]"
          agent_template:
            - shell: echo ${item}
          max_parallel: 3
          filter: "x > 1"
        reduce:
          - shell: echo ${map.successful}
        error_policy:
          on_item_failure: skip
          max_failures: 2
    """)
    wf = load_workflow(path)
    assert wf.is_mapreduce and wf.name == "fanout"
    assert wf.setup is not None and len(wf.setup.steps) == 1
    assert wf.map is not None
    assert (wf.map.input, wf.map.json_path, wf.map.max_parallel, wf.map.filter) == ("items.json", "$[*]", 3, "x > 1")
    assert len(wf.map.agent_template) == 1 and len(wf.reduce) == 1
    assert wf.error_policy.on_item_failure == "skip" and wf.error_policy.max_failures == 2


def test_mapreduce_without_map_or_template_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: mapreduce\nreduce:\n  - shell: echo\n")
    assert any("map" in p and "needs a `map:` phase" in p for p in problems(path))
    path = write(tmp_path, "mode: mapreduce\nmap:\n  input: x.json\n", "m2.yml")
    assert any("map.agent_template" in p for p in problems(path))


def test_json_workflow_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"name": "j", "commands": [{"shell": "echo 1e5", "timeout": 1e1},
                                                          {"shel": "x"}]}, indent=1))
    result = check_workflow(path)
    errors = [str(p) for p in result.errors]
    assert any(e.startswith(f"{path}:") and "commands[1].shel: unknown key; did you mean 'shell'?" in e
               for e in errors), errors
    assert all(p.line is not None for p in result.errors), errors
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps([{"shell": "echo 1e5", "timeout": 1e1}]))
    wf = load_workflow(ok)
    assert wf.steps[0].command == "echo 1e5" and wf.steps[0].timeout == 10.0


def test_json_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"commands": [\n{"shell": "echo hi"},\n]}')
    with pytest.raises(WorkflowFileError) as exc:
        check_workflow(path)
    assert f"{path}:3:1: invalid JSON" in exc.value.message


def test_json_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('[\n {"shell": "a",\n  "shell": "b"}\n]\n')
    assert f"{path}:3: commands[0].shell: duplicate key" in only_error(path)


# ---------------------------------------------------------------- errors


def test_malformed_yaml_names_line_column_and_quoting_hint(tmp_path: Path) -> None:
    path = write(tmp_path, """
        - shell: echo ok
        - shell: echo id: 1
    """)
    with pytest.raises(WorkflowFileError) as exc:
        check_workflow(path)
    assert exc.value.message.startswith(f"{path}:2:17: invalid YAML")
    assert "mapping values are not allowed" in exc.value.message
    assert exc.value.hint and "Quote" in exc.value.hint


def test_other_yaml_errors_have_a_location_but_no_quoting_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: [unclosed\n")
    with pytest.raises(WorkflowFileError) as exc:
        check_workflow(path)
    assert exc.value.message.startswith(f"{path}:2:1: invalid YAML")
    assert exc.value.hint is None


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, """
        commands:
          - shell: echo hi
            captur: x
    """)
    assert only_error(path) == f"{path}:3: commands[0].captur: unknown key; did you mean 'capture'?"


def test_unknown_key_without_a_near_match_lists_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo hi\n  zzzzzz: 1\n")
    error = only_error(path)
    assert f"{path}:2: commands[0].zzzzzz: unknown key; valid keys:" in error and "capture_output" in error


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ncomands:\n  - shell: echo\n")
    errs = problems(path)
    assert f"{path}:2: comands: unknown key; did you mean 'commands'?" in errs


def test_unsupported_key_is_named_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo\n  goal_seek: {goal: x}\n")
    assert "commands[0].goal_seek: 'goal_seek' is not supported by prodigy: removed in the original" in only_error(path)


def test_step_with_no_command(tmp_path: Path) -> None:
    path = write(tmp_path, "- name: nothing\n  timeout: 5\n")
    assert only_error(path) == (f"{path}:1: commands[0]: no command: a step needs exactly one of shell, claude, "
                                "write_file, foreach, analyze")


def test_step_with_two_commands(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo a\n- shell: echo a\n  claude: /b\n")
    assert only_error(path) == (f"{path}:2: commands[1]: two commands in one step (shell, claude); split them "
                                "into separate steps")


def test_empty_command_string(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: ''\n")
    assert "commands[0].shell: expected a non-empty command string" in only_error(path)


def test_bare_shell_string_step_is_an_error_with_a_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "- echo hi\n")
    assert "write `- shell: echo hi`" in only_error(path)


@pytest.mark.parametrize("target", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_write_file_path_cannot_escape(tmp_path: Path, target: str) -> None:
    path = write(tmp_path, f"""
        - write_file:
            path: {target}
            content: hi
    """)
    assert only_error(path) == (f"{path}:2: commands[0].write_file.path: the path must stay inside the working "
                                "directory (no absolute paths, no '..')")


def test_write_file_bad_format_and_mode(tmp_path: Path) -> None:
    path = write(tmp_path, """
        - write_file:
            path: a.txt
            content: hi
            format: toml
            mode: rwx
    """)
    errs = problems(path)
    assert any(":4: commands[0].write_file.format: expected text, json or yaml, got 'toml'" in e for e in errs)
    assert any(":5: commands[0].write_file.mode: expected an octal mode" in e for e in errs)


def test_bad_capture_format(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo x\n  capture: X\n  capture_format: xml\n")
    assert only_error(path) == (f"{path}:3: commands[0].capture_format: expected one of string, json, number, "
                                "lines, boolean, got 'xml'")


def test_capture_format_without_capture_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo x\n  capture_format: json\n")
    result = check_workflow(path)
    assert not result.errors
    assert [str(w) for w in result.warnings] == [f"{path}:2: commands[0].capture_format: has no effect without "
                                                 "`capture:`"]


def test_bad_capture_name_and_timeout(tmp_path: Path) -> None:
    path = write(tmp_path, "- shell: echo x\n  capture: 'not a name'\n  timeout: soon\n")
    errs = problems(path)
    assert any(":2: commands[0].capture: expected a variable name" in e for e in errs)
    assert any(":3: commands[0].timeout: expected a positive number of seconds" in e for e in errs)


def test_on_failure_forms(tmp_path: Path) -> None:
    path = write(tmp_path, """
        commands:
          - shell: make test
            on_failure:
              claude: "/fix ${shell.output}"
              max_attempts: 3
              fail_workflow: false
          - shell: make lint
            on_failure:
              - shell: echo one
              - shell: echo two
          - shell: x
            on_failure:
              commands:
                - shell: echo a
              max_retries: 2
          - shell: y
            on_failure:
              fail_workflow: true
          - shell: z
            on_failure: echo handled
          - shell: z
            on_failure: /prodigy-fix
    """)
    handlers = [s.on_failure for s in load_workflow(path).steps]
    assert all(h is not None for h in handlers)
    first, listed, commands, flag, text, slash = handlers
    assert (first.max_attempts, first.fail_workflow, first.steps[0].kind) == (3, False, "claude")
    assert [s.command for s in listed.steps] == ["echo one", "echo two"] and listed.max_attempts == 1
    assert commands.max_attempts == 3 and commands.steps[0].command == "echo a"
    assert flag.steps == () and flag.fail_workflow is True
    assert (text.steps[0].kind, text.steps[0].command, text.fail_workflow) == ("shell", "echo handled", None)
    assert slash.steps[0].kind == "claude"


@pytest.mark.parametrize("body, message", [
    ("on_failure: 5", "expected a command string, a list of steps"),
    ("on_failure: {}", "needs a handler command (shell or claude) or commands: [...]"),
    ("on_failure: {shell: x, max_attempts: 0}", "max_attempts: expected a positive integer, got 0"),
    ("on_failure: {commands: [{shell: x}], bogus: 1}", "bogus: unknown key next to `commands:`"),
])
def test_on_failure_errors(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, f"- shell: z\n  {body}\n")
    error = only_error(path)
    assert error.startswith(f"{path}:2: commands[0].on_failure") and message in error


def test_on_exit_code_forms_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """
        - shell: z
          on_exit_code:
            2: echo two
            3:
              shell: echo three
            4: /prodigy-fix
    """)
    codes = load_workflow(path).steps[0].on_exit_code
    assert [(c, s[0].kind, s[0].command) for c, s in codes] == [
        (2, "shell", "echo two"), (3, "shell", "echo three"), (4, "claude", "/prodigy-fix")]
    bad = write(tmp_path, "- shell: z\n  on_exit_code:\n    abc: echo no\n", "bad.yml")
    assert only_error(bad) == f"{bad}:3: commands[0].on_exit_code.abc: exit codes must be integers"
    bad2 = write(tmp_path, "- shell: z\n  on_exit_code: [1]\n", "bad2.yml")
    assert "expected a mapping of exit code to a step" in only_error(bad2)


def test_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: a
        name: b
        commands:
          - shell: echo y
            shell: echo z
    """)
    errs = problems(path)
    assert f"{path}:2: name: duplicate key (the later value would silently win)" in errs
    assert f"{path}:5: commands[0].shell: duplicate key (the later value would silently win)" in errs


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, """
        - shell: echo hi
          captur: x
        - name: nothing
        - shell: echo a
          claude: /b
    """)
    result = check_workflow(path)
    assert [p.line for p in result.errors] == [2, 3, 4]
    with pytest.raises(WorkflowFileError) as exc:
        load_workflow(path)
    assert "(and 2 more problems)" in exc.value.message
    assert len(exc.value.problems) == 3
    assert "prodigy validate" in (exc.value.hint or "")


def test_env_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """
        env:
          "BAD NAME": x
          LIST: [1, 2]
          ODD:
            shape: 1
        commands:
          - shell: echo
    """)
    errs = problems(path)
    assert any(":2: env.BAD NAME: an environment variable name must match" in e for e in errs)
    assert any(":3: env.LIST: expected a string value, got a list" in e for e in errs)
    assert any(":4: env.ODD: expected a string value, got a mapping" in e for e in errs)


def test_unknown_mode_and_empty_file(tmp_path: Path) -> None:
    assert "unknown mode 'parallel'" in only_error(write(tmp_path, "mode: parallel\ncommands: []\n"))
    assert "the file is empty" in only_error(write(tmp_path, "# nothing\n", "empty.yml"))
    assert "needs `commands:`" in only_error(write(tmp_path, "name: x\n", "nocmd.yml"))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(WorkflowFileError, match="Workflow file not found"):
        check_workflow(tmp_path / "missing.yml")
    with pytest.raises(WorkflowFileError, match="it is a directory"):
        check_workflow(tmp_path)
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"- shell: \xff\xfe\n")
    with pytest.raises(WorkflowFileError, match="not UTF-8"):
        check_workflow(binary)


@pytest.mark.parametrize("value, seconds", [
    (30, 30.0), (2.5, 2.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("250ms", 0.25), ("0", None),
    (0, None), (-1, None), ("soon", None), (True, None),
])
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds
