"""Hand-written quoting lexer against tree-sitter's bash grammar, on the templates of the quoting property test.

    pip install tree-sitter tree-sitter-bash   # only for this comparison; prodigy does not depend on them
    python bench/quoting_grammar.py [--examples N]

For each generated template (nested quotes, $(...), backquotes inside double quotes and inside each other,
$'...', $"...", here-documents in command substitutions, case patterns) and hostile value, both renderers
quote the value for the context they find, and the result is run by dash and by bash as sh. A renderer fails
a case when a payload runs or the value does not arrive verbatim. The tree-sitter renderer classifies each
reference by its syntax-tree ancestors (string, raw_string, ansi_c_string, command_substitution,
arithmetic_expansion, heredoc_body) and applies the same quoting rules, one level of backquote escaping per
backquote ancestor. It shows where a grammar alone falls short: the bash grammar parses a backquote body as
written, without the unescaping the shell does first, and does not model dash.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "src")]

import test_quoting_properties as props  # noqa: E402  (the generators and shells of the property test)
from hypothesis import HealthCheck, given, settings  # noqa: E402

from prodigy.workflow.interpolate import InterpolationError, render_shell  # noqa: E402
from prodigy.workflow.shell_quoting import _escaped, _single_quoted  # noqa: E402


def tree_sitter_render(parser, template: str, value: str) -> str:
    source = template.encode()
    tree = parser.parse(source)
    spans: list[tuple[int, int, str]] = []

    def visit(node, ancestors):
        text = source[node.start_byte: node.end_byte]
        opaque = node.type in ("raw_string", "ansi_c_string", "heredoc_body", "string_content", "word")
        if (node.type == "expansion" and text == b"${v}") or (opaque and b"${v}" in text and not node.children):
            start = node.start_byte + (0 if node.type == "expansion" else text.index(b"${v}"))
            spans.append((start, start + 4, quote(node, ancestors, value)))
            return
        for child in node.children:
            visit(child, [*ancestors, node])

    def quote(node, ancestors, text):
        kinds = [a.type for a in [*ancestors, node]]
        innermost = next((k for k in reversed(kinds) if k in (
            "string", "raw_string", "ansi_c_string", "arithmetic_expansion", "heredoc_body", "command_substitution")),
            None)
        if innermost == "string":
            quoted = _escaped(text, '\\"$`')
        elif innermost == "raw_string":
            quoted = text.replace("'", "'\\''")
        elif innermost == "ansi_c_string":
            quoted = "'" + _single_quoted(text) + "$'"
        elif innermost == "heredoc_body":
            quoted = _escaped(text, "\\$`")
        else:
            quoted = _single_quoted(text)
        for ancestor in [*ancestors, node]:
            if ancestor.type == "command_substitution" and source[ancestor.start_byte:][:1] == b"`":
                quoted = _escaped(quoted, "\\$`")
        return quoted

    visit(tree.root_node, [])
    out = template
    for start, end, text in sorted(spans, reverse=True):
        out = out[:start] + text + out[end:]
    return out


def main() -> int:
    parser_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser_.add_argument("--examples", type=int, default=300)
    args = parser_.parse_args()
    try:
        import tree_sitter_bash
        from tree_sitter import Language, Parser
    except ImportError:
        print("needs: pip install tree-sitter tree-sitter-bash")
        return 2
    parser = Parser(Language(tree_sitter_bash.language()))
    tmp = Path(tempfile.mkdtemp())
    shells = props._shells(tmp)
    failures = {"hand-written lexer": 0, "tree-sitter bash": 0}
    examples = 0

    def fails(script: str, value: str) -> bool:
        for shell in shells:
            (tmp / props.PWNED).unlink(missing_ok=True)
            result = props._run(shell, script, tmp)
            if (tmp / props.PWNED).exists() or not props._expected_present(result.stdout, value):
                return True
        return False

    @settings(max_examples=args.examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(template=props.TEMPLATES, value=props.VALUES)
    def compare(template: str, value: str) -> None:
        nonlocal examples
        examples += 1
        try:
            ours = render_shell(template, {"v": value})
        except InterpolationError:
            ours = None  # refused with an error: safe
        if ours is not None and fails(ours, value):
            failures["hand-written lexer"] += 1
        if fails(tree_sitter_render(parser, template, value), value):
            failures["tree-sitter bash"] += 1

    compare()
    print(f"{examples} generated templates with hostile values, each run by dash and by bash as sh")
    for name, count in failures.items():
        print(f"  {name:20s} {count:4d} failing ({count / max(examples, 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
