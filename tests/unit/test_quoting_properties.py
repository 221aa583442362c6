"""Property tests for render_shell: generated templates that nest quoting contexts (double and single quotes,
$(...), backquotes inside double quotes and inside each other, $'...', $"...", here-documents inside command
substitutions, case patterns inside $(...)), rendered with hostile values and run by BOTH dash and bash as
/bin/sh (bash through a `sh` symlink first on PATH, so it runs in POSIX mode as it would as /bin/sh).

Every generated template prints the value between two markers. The properties: the value's payloads never
run (no marker file appears), and the value arrives byte for byte (inside $'...' under dash, where $' is not
special, the text around the value may differ; the value itself does not).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.workflow.interpolate import InterpolationError, SecretEnv, render_shell

EXAMPLES = int(os.environ.get("PRODIGY_QUOTING_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

PWNED = "PWNED"  # a payload that runs creates this file in the script's folder
ATOMS = ["'", '"', "`", "\\", "$", "$(touch PWNED)", "`touch PWNED`", "; touch PWNED;", "\n", ")", "}", "((",
         "EOF", "\nEOF\ntouch PWNED\n", "*", "#", "\\'", '\\"', "\\`", "$'", '$"', "'\\''", "%s", "\t", "a b",
         "é", "esac", ";;", "|", "&", "<", ">", "${x}", "$((1))", "\\\\", "\\n", "\r"]
VALUES = st.lists(st.one_of(st.sampled_from(ATOMS), st.text(alphabet="ab ;'\"`$()\\", max_size=4)),
                  min_size=1, max_size=6).map("".join)
REF = "${v}"


@dataclass(frozen=True)
class Shell:
    name: str
    argv: list[str]
    env: dict[str, str]


def _shells(tmp: Path) -> list[Shell]:
    shells = []
    if shutil.which("dash"):
        shells.append(Shell("dash", [shutil.which("dash"), "-c"], dict(os.environ)))
    if shutil.which("bash"):
        bin_dir = tmp / "bash-as-sh"
        bin_dir.mkdir(exist_ok=True)
        link = bin_dir / "sh"
        if not link.exists():
            link.symlink_to(shutil.which("bash"))
        shells.append(Shell("bash as sh", ["sh", "-c"],
                            {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}))
    return shells


@pytest.fixture(scope="module")
def shells(tmp_path_factory: pytest.TempPathFactory) -> list[Shell]:
    found = _shells(tmp_path_factory.mktemp("shells"))
    if len(found) < 2:
        pytest.skip("needs both dash and bash (apt-get install dash bash); scripts/install-test-deps.sh installs them")
    return found


# ---------------------------------------------------------------- templates that nest contexts
#
# Each generator returns template text that, run by the shell, prints L<value>R where the reference is;
# `dq` says whether the text is inside double quotes (which changes how a backquote body is written).


def _backquoted(body: str, dq: bool) -> str:
    """Write `body` as a backquote substitution the way a script author would: \\ and ` escaped one level,
    and " too when the backquotes are inside double quotes ($ needs no escaping there)."""
    chars = '\\`"' if dq else "\\`"
    return "`" + "".join("\\" + c if c in chars else c for c in body) + "`"


def word(depth: int) -> st.SearchStrategy[str]:
    """Template text that prints L<value>R, usable as a command argument (unquoted context)."""
    leaf = st.sampled_from([f"L{REF}R", f"'L{REF}R'", f'"L{REF}R"', f"$'L{REF}R'", f'$"L{REF}R"'])
    if depth == 0:
        return leaf
    inner = command(depth - 1)
    # (An unquoted $(...) would be split into words by the shell: the value would not arrive whole by design,
    # so unquoted substitutions appear below as assignments, which are not split.)
    return st.one_of(
        leaf,
        inner.map(lambda c: f'"$({c})"'),
        inner.map(lambda c: '"' + _backquoted(c, True) + '"'),
        in_dquotes(depth - 1).map(lambda d: f'"{d}"'),
    )


def in_dquotes(depth: int) -> st.SearchStrategy[str]:
    """Text inside "..." that prints L<value>R."""
    leaf = st.just(f"L{REF}R")
    if depth == 0:
        return leaf
    inner = command(depth - 1)
    return st.one_of(leaf, inner.map(lambda c: f"$({c})"), inner.map(lambda c: _backquoted(c, True)))


def command(depth: int) -> st.SearchStrategy[str]:
    """A command that prints L<value>R (no trailing newline needed: command substitution strips them)."""
    words = word(depth)
    heredoc_body = st.sampled_from([f"L{REF}R"]) if depth == 0 else st.one_of(
        st.just(f"L{REF}R"), command(depth - 1).map(lambda c: f"$({c})"))
    return st.one_of(
        words.map(lambda w: f"printf '%s' {w}"),
        heredoc_body.map(lambda b: f"cat <<EOF\n{b}\nEOF\n"),
        st.just(f"cat <<'EOF'\nL{REF}R\nEOF\n"),
        st.just(f"cat <<-EOF\n\tL{REF}R\n\tEOF\n"),
        words.map(lambda w: f"case x in x) printf '%s' {w};; esac"),
        words.map(lambda w: f"case x in (x) printf '%s' {w};; *) :;; esac"),
        words.map(lambda w: f"{{ printf '%s' {w}; }}"),
        words.map(lambda w: f"x=$(printf '%s' {w}); printf '%s' \"$x\""),
        words.map(lambda w: "x=" + _backquoted(f"printf '%s' {w}", False) + "; printf '%s' \"$x\""),
    )


TEMPLATES = command(2).map(lambda c: f"{c}\nprintf '\\n'")


def _run(shell: Shell, script: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*shell.argv, script], cwd=cwd, env=shell.env, capture_output=True, timeout=10)


def _expected_present(output: bytes, value: str) -> bool:
    # Under dash, $'...' is $ then '...': the $' that resumes the string after the value prints a $.
    data = value.encode("utf-8", "surrogateescape")
    return b"L" + data + b"R" in output or b"L" + data + b"$R" in output


@SETTINGS
@given(template=TEMPLATES, value=VALUES)
def test_nested_templates_never_run_a_value_and_print_it_verbatim(shells: list[Shell], tmp_path: Path,
                                                                  template: str, value: str) -> None:
    try:
        script = render_shell(template, {"v": value})
    except InterpolationError as exc:  # refused with a clear error (e.g. a value the heredoc cannot hold)
        assert "position" in str(exc)
        return
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    for shell in shells:
        (folder / PWNED).unlink(missing_ok=True)
        result = _run(shell, script, folder)
        assert not (folder / PWNED).exists(), f"{shell.name} ran a payload:\n{template}\n---\n{script}"
        text = value.rstrip("\n") if template.startswith(("$(", "`")) else value
        assert _expected_present(result.stdout, value) or _expected_present(result.stdout, text), (
            f"{shell.name} did not print the value verbatim\ntemplate:\n{template}\nscript:\n{script}\n"
            f"stdout: {result.stdout!r}\nstderr: {result.stderr!r}")


# ---------------------------------------------------------------- the cases the issue found, pinned


@pytest.mark.parametrize("template", [
    'printf "%s\\n" "a `printf %s \\"${v}\\"` b"',  # \" inside backquotes inside "...": the shell unescapes first
    "x=`y=\\`printf '%s' ${v}\\`; printf '%s' \"$y\"`; printf '%s\\n' \"$x\"",  # nested backquotes
    "printf '%s\\n' $'[${v}]'",  # ANSI-C quoting under bash
    'printf "%s\\n" $"[${v}]"',
    'printf "%s\\n" "$(cat <<EOF\n${v}\nEOF\n)"',  # a here-document inside a command substitution
    'printf "%s\\n" "$(case x in x) printf %s ${v};; esac)"',  # a case pattern's ) does not end $(
])
@pytest.mark.parametrize("value", ["\\\"; touch PWNED; \\\"", "'; touch PWNED; '", "\\'; touch PWNED; '",
                                   "$(touch PWNED)", "`touch PWNED`", "\\`touch PWNED\\`"])
def test_the_nested_quoting_holes_are_closed(shells: list[Shell], tmp_path: Path, template: str,
                                             value: str) -> None:
    script = render_shell(template, {"v": value})
    for shell in shells:
        (tmp_path / PWNED).unlink(missing_ok=True)
        result = _run(shell, script, tmp_path)
        assert not (tmp_path / PWNED).exists(), f"{shell.name}:\n{script}"
        assert value.encode() in result.stdout, (shell.name, script, result.stdout, result.stderr)


@pytest.mark.parametrize("template", ["(( n = ${v} ))", "[[ 1 -eq ${v} ]]", "let n=${v}", "echo $[${v} + 1]",
                                      "[[ ${v} -lt 3 ]]"])
def test_bash_arithmetic_contexts_take_only_integers(shells: list[Shell], tmp_path: Path, template: str) -> None:
    """bash evaluates these as arithmetic even when the value is quoted: a[$(cmd)] would run cmd."""
    with pytest.raises(InterpolationError, match="integer"):
        render_shell(template, {"v": "a[$(touch PWNED)]"})
    script = render_shell(template, {"v": "7"})
    for shell in shells:
        _run(shell, script, tmp_path)
        assert not (tmp_path / PWNED).exists()


@pytest.mark.parametrize("template,where", [
    ("echo `echo ${v}", "unterminated `...` starting at position 5"),
    ('echo "$(echo ${v}"', 'unterminated "..." starting at position 5'),
    ("echo '${v}", "unterminated '...' starting at position 5"),
])
def test_a_template_left_in_an_open_context_is_refused_with_where(template: str, where: str) -> None:
    with pytest.raises(InterpolationError, match=r"position") as exc:
        render_shell(template, {"v": "x"})
    assert where in str(exc.value)


# ---------------------------------------------------------------- secrets go through the environment


@SETTINGS
@given(template=TEMPLATES, value=VALUES.map(lambda v: f"tok-{v}-en"))
def test_a_secret_value_is_never_in_the_script_and_still_arrives(shells: list[Shell], tmp_path: Path,
                                                                 template: str, value: str) -> None:
    secrets = SecretEnv(lambda text: value in text)
    try:
        script = render_shell(template, {"v": value}, secrets=secrets)
    except InterpolationError as exc:
        assert "quoted here-document" in str(exc) or "NUL" in str(exc), exc
        return
    assert value not in script and secrets.env == {"PRODIGY_SECRET_0": value}
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    for shell in shells:
        (folder / PWNED).unlink(missing_ok=True)
        result = subprocess.run([*shell.argv, script], cwd=folder, env={**shell.env, **secrets.env},
                                capture_output=True, timeout=10)
        assert not (folder / PWNED).exists(), (shell.name, script)
        assert _expected_present(result.stdout, value) or _expected_present(result.stdout, value.rstrip("\n")), (
            shell.name, template, script, result.stdout, result.stderr)


def test_a_secret_cannot_be_inserted_raw() -> None:
    with pytest.raises(InterpolationError, match="cannot be inserted |raw"):
        render_shell("echo ${v|raw}", {"v": "tok"}, secrets=SecretEnv(lambda text: "tok" in text))
