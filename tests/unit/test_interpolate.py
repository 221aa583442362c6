"""Tests for ${...} interpolation; the shell-quoting tests run the real `sh -c`."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import ChainMap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.workflow.interpolate import (
    InterpolationError,
    Reference,
    lookup,
    references,
    render,
    render_shell,
    scope,
    to_text,
)

NASTY = [
    "",
    "plain",
    "two words",
    "it's",
    'say "hi"',
    "$(touch MARKER)",
    "`touch MARKER`",
    "a\nb\n",
    "*",
    "héllo wörld ✓",
    "\\ back\\slash \\n",
    "'; touch MARKER; '",
    '"; touch MARKER; "',
    "$HOME ${HOME} $$ $?",
    "-n",
    "x=1",
    "if",
    "\t tab",
    "EOF",
    "x\nEOF\ntouch MARKER\n",
]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def sh(script: str, cwd: Path | None = None) -> Ran:
    # Bytes, decoded by hand: text=True would turn a "\r" in a value into "\n".
    result = subprocess.run(["sh", "-c", script], capture_output=True, cwd=cwd, timeout=10)
    return Ran(result.returncode, result.stdout.decode("utf-8", "surrogateescape"),
               result.stderr.decode("utf-8", "replace"))


def sh_out(template: str, ctx: dict[str, Any], cwd: Path | None = None) -> str:
    result = sh(render_shell(template, ctx), cwd)
    assert result.returncode == 0, (render_shell(template, ctx), result.stderr)
    return result.stdout


# ----------------------------------------------------------------------------------------- lookup


class TestLookup:
    def test_flat_dotted_key_wins(self) -> None:
        assert lookup({"map.total": 3, "map": {"total": 9}}, "map.total") == (True, 3)

    def test_walks_dicts_and_lists(self) -> None:
        ctx = {"a": {"b": [{"c": "x"}, {"c": "y"}]}}
        assert lookup(ctx, "a.b[1].c") == (True, "y")
        assert lookup(ctx, "a.b.0.c") == (True, "x")

    def test_walks_into_json_string(self) -> None:
        ctx = {"captured": '{"files": ["a.py", "b.py"]}'}
        assert lookup(ctx, "captured.files[1]") == (True, "b.py")

    def test_flat_prefix_then_walk(self) -> None:
        ctx = {"map.results": '[{"item_id": "item_0"}]'}
        assert lookup(ctx, "map.results[0].item_id") == (True, "item_0")

    @pytest.mark.parametrize("path", ["missing", "a.nope", "a.b[5]", "a.b.x", "s.deeper"])
    def test_missing(self, path: str) -> None:
        assert lookup({"a": {"b": [1]}, "s": "text"}, path) == (False, None)

    def test_none_is_found(self) -> None:
        assert lookup({"a": None}, "a") == (True, None)

    def test_hyphenated_key(self) -> None:
        assert lookup({"item": {"file-name": "x"}}, "item.file-name") == (True, "x")

    def test_malformed_path_raises(self) -> None:
        with pytest.raises(InterpolationError):
            lookup({}, "a..b")

    def test_scope_layers_lowest_first(self) -> None:
        ctx = scope({"x": "env", "y": "env"}, {"x": "item"})
        assert isinstance(ctx, ChainMap)
        assert render("${x} ${y}", ctx) == "item env"


class TestToText:
    @pytest.mark.parametrize(
        ("value", "text"),
        [("s", "s"), (3, "3"), (1.0, "1.0"), (True, "true"), (False, "false"), (None, ""),
         ([1, "a"], '[1,"a"]'), ({"k": "ü"}, '{"k":"ü"}'), (ChainMap({"a": 1}), '{"a":1}')],
    )
    def test_rendering(self, value: Any, text: str) -> None:
        assert to_text(value) == text


# ----------------------------------------------------------------------------------------- render


class TestRender:
    CTX = {"name": "Ada", "n": 3, "items": ["a", "b"], "empty": "", "path": "/src/app/main.py",
           "item": {"path": "p.txt"}, "PROJECT": "demo"}

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("Hi ${name}", "Hi Ada"),
            ("${item.path} and $PROJECT", "p.txt and demo"),
            ("${items}", '["a","b"]'),
            ("${missing}", "${missing}"),
            ("${missing:-none}", "none"),
            ("${empty:-none}", "none"),
            ("${name:-none}", "Ada"),
            ("${missing:-a|b}", "a|b"),
            ("${name|upper} ${name|lower}", "ADA ada"),
            ("${items|length} ${name|length}", "2 3"),
            ("${name|json} ${items|json}", '"Ada" ["a","b"]'),
            ("${path|basename} ${path|dirname}", "main.py /src/app"),
            ("${missing|default:x} ${empty|default:x} ${n|default:x}", "x x 3"),
            ("${missing|lower|default:NONE}", "NONE"),
            ("${missing|default:NONE|lower}", "none"),
            ("${missing|upper}", "${missing|upper}"),
            ("${name|raw}", "Ada"),
            ("$1 $HOME $$ $? $(pwd) $((1+2)) $name", "$1 $HOME $$ $? $(pwd) $((1+2)) Ada"),
            ("${#x} ${x%.txt} ${HOME:=a} ${arr[@]} ${1}", "${#x} ${x%.txt} ${HOME:=a} ${arr[@]} ${1}"),
            ("${n}${n}", "33"),
            ("$$${n}", "$$3"),
        ],
    )
    def test_render(self, template: str, expected: str) -> None:
        assert render(template, self.CTX) == expected

    @pytest.mark.parametrize(
        ("template", "needle"),
        [("${x|nope}", "unknown filter 'nope'"), ("${x|}", "empty filter"), ("${x|upper:1}", "no argument"),
         ("${x|default}", "needs a value"), ("a ${x", "no closing"), ("${}", "variable name"),
         ("${ x}", "variable name"), ("${item.path%.txt}", "unexpected text"), ("${a..b}", "unexpected")],
    )
    def test_errors_name_the_reference(self, template: str, needle: str) -> None:
        with pytest.raises(InterpolationError) as info:
            render(template, {"x": 1})
        assert needle in str(info.value)
        assert info.value.position == template.index("$")


class TestReferences:
    def test_fields(self) -> None:
        refs = references("cp ${item.path|basename|default:x} $OUT ${a:-b} $1")
        assert refs == [
            Reference("item.path", "item", (("basename", None), ("default", "x")), None, 3, 34, True),
            Reference("OUT", "OUT", (), None, 35, 39, False),
            Reference("a", "a", (), "b", 40, 47, True),
        ]

    def test_shell_mode_skips_escaped(self) -> None:
        assert [r.name for r in references(r"echo \${a} '${b}' \$c ${d}", shell=True)] == ["b", "d"]
        assert [r.name for r in references(r"echo \${a}")] == ["a"]

    def test_reports_position_of_bad_filter(self) -> None:
        with pytest.raises(InterpolationError) as info:
            references("echo ok ${x|bogus}")
        assert info.value.position == 8


# ------------------------------------------------------------------------------ shell rendering


class TestShellRendering:
    def test_examples_from_the_brief(self) -> None:
        ctx = {"TIMEOUT_SECONDS": 300, "item": {"path": "file1.txt"}}
        assert render_shell("timeout ${TIMEOUT_SECONDS}s ./process.sh ${item.path}", ctx) == (
            "timeout '300's ./process.sh 'file1.txt'")
        awk = """awk '{print "Lines in " $2 ": " $1}'"""
        assert render_shell(awk, ctx) == awk
        assert render_shell('xargs -I {} echo "Found {} files"', ctx) == 'xargs -I {} echo "Found {} files"'
        assert render_shell("echo ${missing} $HOME", ctx) == "echo ${missing} $HOME"

    @pytest.mark.parametrize("value", NASTY)
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("printf '%s\\n' ${v}", "{v}\n"),
            ("printf '%s|' ${v}${v}", "{v}{v}|"),
            ('printf "%s" "${v}"', "{v}"),
            ('printf "%s" "[${v}] $HOME_NOT_SET"', "[{v}] "),
            ("printf '%s' '${v}'", "{v}"),
            ("printf '%s' 'a'${v}'b'", "a{v}b"),
            ("x=${v}; printf '%s' \"$x\"", "{v}"),
            ('printf "%s" "$(printf "%s" "${v}")"', "{r}"),
            ("printf '%s' \"$(printf '%s' ${v})\"", "{r}"),
            ("printf '%s' \"`printf '%s' ${v}`\"", "{r}"),
            ("x=`printf \"%s\" \"${v}\"`; printf '%s' \"$x\"", "{r}"),
            ("printf '%s' \"`printf '%s' '${v}'`\"", "{r}"),
            ("printf '%s' \"$(printf '%s' '${v}')\"", "{r}"),
            ("cat <<EOF\n${v}\nEOF", "{v}\n"),
            ("cat <<-EOF\n${v}\n\tEOF", "{v}\n"),
            ("cat <<'EOF'\n${v}\nEOF", "{v}\n"),
            ('cat << "EOF"\n${v}\nEOF\nprintf after', "{v}\nafter"),
            ("cat <<\\EOF\n${v}\nEOF", "{v}\n"),
            ("cat <<A; cat <<B\n${v}\nA\n[${v}]\nB", "{v}\n[{v}]\n"),
            ('x=$(cat <<EOF\n${v}\nEOF\n); printf "%s" "$x"', "{r}"),
            ("cat <<EOF\n$(printf '%s' ${v})\nEOF", "{r}\n"),
            ("printf '%s' ok # ${v} don't\nprintf '%s' \"${v}\"", "ok{v}"),
            ("if [ -n 1 ]; then\n  printf '%s' \"${v}\"\nelse\n  echo no\nfi", "{v}"),
            ("for f in 1; do printf '%s' ${v}; done", "{v}"),
            ("printf '%s' \\\"${v}\\' \\$x", '"{v}\'$x'),
            ("printf '%s' \"<<EOF ${v}\"", "<<EOF {v}"),
            ("printf '%s' '<<EOF' ${v}", "<<EOF{v}"),
        ],
    )
    def test_value_is_one_literal_string(self, template: str, expected: str, value: str, tmp_path: Path) -> None:
        if "<<-" in template and (value.startswith("\t") or "\n\t" in value):
            pytest.skip("<<- strips leading tabs from every body line, values included")
        out = sh_out(template, {"v": value}, tmp_path)
        # $(...) and `...` drop trailing newlines: {r} is the value as they return it.
        assert out == expected.replace("{v}", value).replace("{r}", value.rstrip("\n"))
        assert not (tmp_path / "MARKER").exists()

    def test_names_and_redirections(self, tmp_path: Path) -> None:
        ctx = {"item": {"name": "we ird's $(x)"}, "PROJECT_NAME": "my proj"}
        sh_out("cat > out-${item.name}.txt <<EOF\n$PROJECT_NAME\nEOF", ctx, tmp_path)
        assert (tmp_path / "out-we ird's $(x).txt").read_text() == "my proj\n"
        assert sh_out('wc -c < "out-${item.name}.txt"', ctx, tmp_path).strip() == "8"
        assert sh_out("echo $PROJECT_NAME", ctx) == "my proj\n"

    def test_dollar_name_only_for_known_variables(self) -> None:
        script = "set -- one two; x=local; echo $1 $x $item ${HOME_X:-d}"
        assert sh_out(script, {"item": "it"}) == "one local it d\n"

    def test_escaped_dollar_is_left_to_the_shell(self) -> None:
        assert sh_out(r'echo \${v} "\${v}" \$v', {"v": "x"}) == "${v} ${v} $v\n"

    @pytest.mark.parametrize(("value", "expected"), [("300", "301"), ("-5", "-4"), ("+7", "8"), ("010", "11")])
    def test_arithmetic_integers(self, value: str, expected: str) -> None:
        assert sh_out("echo $((${n} + 1)) $(( (n + 1) ))", {"n": value}) == f"{expected} 1\n"

    @pytest.mark.parametrize("value", ["1; touch MARKER", "$(touch MARKER)", "x[$(touch MARKER)]", "1.5", "", "HOME"])
    def test_arithmetic_rejects_non_integers(self, value: str) -> None:
        # Quoting cannot protect $((...)): dash runs $(...) even inside '...' there.
        with pytest.raises(InterpolationError, match=r"\$\{n\} at position 8 is inside shell arithmetic"):
            render_shell("echo $((${n} + 1))", {"n": value})

    def test_raw_is_shell_source(self) -> None:
        assert sh_out("${cmd|raw} | tr a-z A-Z", {"cmd": "echo hi; echo there"}) == "hi\nTHERE\n"

    def test_heredoc_delimiter_in_value_is_renamed(self, tmp_path: Path) -> None:
        script = render_shell("cat <<'EOF'\n${v}\nEOF\necho after", {"v": "EOF\ntouch MARKER"})
        assert "<<'Z_EOF'" in script
        assert sh(script, tmp_path).stdout == "EOF\ntouch MARKER\nafter\n"
        assert not (tmp_path / "MARKER").exists()

    def test_heredoc_avoids_dash_prefix_bug(self) -> None:
        # dash 0.5.12 corrupts a body line that starts with part of the delimiter then a non-ASCII char.
        script = render_shell("cat <<EOF\n${v}\nEOF", {"v": "EOé"})
        assert script.startswith("cat <<Z_EOF\n")
        assert sh_out("cat <<EOF\n${v}\nEOF", {"v": "EOé\nZé"}) == "EOé\nZé\n"

    def test_unterminated_heredoc_still_safe(self, tmp_path: Path) -> None:
        result = sh(render_shell("cat <<EOF\n${v}", {"v": "EOF\ntouch MARKER"}), tmp_path)
        assert not (tmp_path / "MARKER").exists()
        assert "touch MARKER" in result.stdout

    def test_newline_cannot_escape_a_comment(self, tmp_path: Path) -> None:
        value = "x\ntouch MARKER #'"
        assert sh_out("true # ${v}\necho done", {"v": value}, tmp_path) == "done\n"
        assert not (tmp_path / "MARKER").exists()

    def test_shell_only_expansion_with_quoted_brace(self, tmp_path: Path) -> None:
        # ${x-"}"} is the shell's; if the lexer ended it at the first brace, ${v} would be misquoted.
        script = 'x=; printf "%s" ${x-"}"}${v}'
        assert sh_out(script, {"v": "'; touch MARKER; '"}, tmp_path) == "'; touch MARKER; '"
        assert not (tmp_path / "MARKER").exists()

    def test_known_dollar_name_is_replaced_even_in_single_quotes(self) -> None:
        # Prodigy substitutes before the shell runs; a context variable shadows a shell variable.
        assert render_shell("awk '{print $item, $2}'", {"item": "x"}) == "awk '{print x, $2}'"

    def test_error_is_a_usage_error(self) -> None:
        from prodigy.errors import ExitCode, UsageError

        with pytest.raises(UsageError) as info:
            render_shell("echo ${x|shout}", {"x": 1})
        assert info.value.exit_code == ExitCode.USAGE

    def test_empty_value_unquoted_is_one_argument(self) -> None:
        assert sh_out('set -- ${v}; echo "$#"', {"v": ""}) == "1\n"

    def test_glob_is_not_expanded(self, tmp_path: Path) -> None:
        (tmp_path / "a.txt").write_text("")
        assert sh_out("echo ${v}", {"v": "*.txt"}, tmp_path) == "*.txt\n"

    def test_filters_in_shell(self) -> None:
        ctx = {"p": "/a b/c d.txt", "xs": ["it's", 2]}
        assert sh_out("echo ${p|basename} ${p|dirname|upper} ${xs|length}", ctx) == "c d.txt /A B 2\n"
        assert sh_out("printf '%s' '${xs|json}'", ctx) == '["it\'s",2]'


# --------------------------------------------------------------------------------- property test

PAYLOAD_PARTS = ["$(", ")", "`", "'", '"', ";", "\n", "touch MARKER", " ", "\\", "EOF", "$", "{", "}",
                 "#", "&&", "|", "\t", "'\\''", "*", "${v}", "$((", "))", "<<"]
text_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
payloads = st.lists(st.sampled_from(PAYLOAD_PARTS), max_size=12).map("".join)

# One script per example covers every context; its output must be exactly the values in order.
PROPERTY_SCRIPT = (
    "printf '%s\\n' ${v}\n"
    "printf '%s' \"${v}\"\n"
    "printf '%s' '${v}'\n"
    "cat <<EOF\n${v}\nEOF\n"
    "cat <<'EOF'\n${v}\nEOF\n"
    "printf '%s' \"$(printf '%s' ${v})\" \"`printf '%s' \"${v}\"`\"\n"
    "true # ${v}\n"
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(text_values, payloads))
def test_any_value_is_printed_verbatim_and_never_runs(value: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = sh(render_shell(PROPERTY_SCRIPT, {"v": value}), Path(tmp))
        marker_created = os.path.exists(os.path.join(tmp, "MARKER"))
    assert not marker_created
    trimmed = value.rstrip("\n")
    expected = f"{value}\n{value}{value}{value}\n{value}\n{trimmed}{trimmed}"
    assert result.stdout == expected, render_shell(PROPERTY_SCRIPT, {"v": value})


@settings(max_examples=100, deadline=None)
@given(st.one_of(text_values, payloads, st.integers(-(2**40), 2**40).map(str)))
def test_only_integers_enter_arithmetic(value: str) -> None:
    template = "echo $((${v} * 2))"
    if not re.fullmatch(r"[+-]?[0-9]+", value) or not -(2**63) <= int(value) < 2**63:
        with pytest.raises(InterpolationError):
            render_shell(template, {"v": value})
        return
    out = sh_out(template, {"v": value})
    if abs(int(value)) < 2**61:  # beyond that the doubling itself overflows in the shell
        assert out == f"{int(value) * 2}\n"
