"""The docs say what the code does (issue 23, item 10).

Two conventions make the docs checkable:

* ``[tool.poetry-torch]`` keys: the table under ``## `[tool.poetry-torch]``` in
  docs/configuration.md has one row per key the configuration reader knows, and
  troubleshooting.md's unknown-key message lists them all.
* Quoted messages: the backticked text of the *message* column of troubleshooting.md's table,
  and every line starting ``poetry-torch: `` inside a fenced code block of README.md or
  docs/*.md, is a message the plugin prints, word for word, where ``…`` stands for text left
  out (and the table's messages may stop early or start late: they are abridged).  Each must
  fit one string of the package's code (an f-string's ``{…}`` fits anything, backticks are
  left out), with most of its text coming from that string's own text.
"""

from __future__ import annotations

import ast
import re

from functools import cache
from pathlib import Path

import pytest

from poetry_torch_plugin.core.config import KNOWN_KEYS
from poetry_torch_plugin.errors import render


ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "poetry_torch_plugin"
DOCS = ROOT / "docs"
STAR = "\0"  # any text: ``…`` in the docs, ``{value}`` in an f-string
PREFIX = "poetry-torch: "
GRAM = 10
MARKUP = re.compile(r"</?(?:error|info|warning|comment|c1|c2|b|fg=[a-z]+|options=[a-z]+)?>")


def _pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return MARKUP.sub("", node.value)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(MARKUP.sub("", value.value))
            else:
                parts.append(STAR)
        return re.sub(f"{STAR}+", STAR, "".join(parts))
    return None


def _error_line(node: ast.expr, constants: dict[str, str]) -> str | None:
    """``SomeError(what, kept=…, next=…)``: the line ``str()`` of it renders
    (``errors.render``), a field that is no string (a variable) as STAR, a module's string
    constant as its text."""
    if not isinstance(node, ast.Call) or len(node.args) != 1:
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    given = {k.arg: k.value for k in node.keywords if k.arg in ("kept", "next")}
    if not name.endswith("Error") or not given:
        return None

    def field(arg: ast.expr) -> str:
        if isinstance(arg, ast.Name) and arg.id in constants:
            return constants[arg.id]
        return _pattern(arg) or STAR

    what = _pattern(node.args[0])
    if what is None:
        return None
    return render(what, **{key: field(value) for key, value in given.items()})


@cache
def code_strings() -> tuple[str, ...]:
    """Every string and f-string of the package, ``{value}`` as STAR, cleo markup removed;
    an error raised with fields counts as the one line it renders."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            if isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.expr):
                pattern = _error_line(node, constants) or _pattern(node)
                if pattern and len(pattern.replace(STAR, "")) >= 12:
                    # a table cell's code span cannot hold backticks: compare without them
                    found.add(pattern.removeprefix(PREFIX).replace("`", ""))
    return tuple(sorted(found))


@cache
def code_grams() -> frozenset[str]:
    """Every GRAM characters of the strings' own text (not crossing a ``{value}``)."""
    return frozenset(
        part[k : k + GRAM]
        for code in code_strings()
        for part in code.split(STAR)
        for k in range(len(part) - GRAM + 1)
    )


def _elsewhere(doc: str) -> list[bool]:
    """Which characters of ``doc`` some string of the code also has, GRAM at a time: the text
    an f-string's ``{value}`` stands for often comes from another string."""
    seen = [False] * len(doc)
    grams = code_grams()
    for k in range(len(doc) - GRAM + 1):
        if doc[k : k + GRAM] in grams:
            seen[k : k + GRAM] = [True] * GRAM
    return seen


def explained(doc: str, code: str) -> tuple[int, int] | None:
    """How much of ``doc``'s text a string both patterns match can explain: ``(own, all)``,
    ``own`` the characters matched by ``code``'s own text, ``all`` those plus the ones its
    ``{value}``s take that other strings of the code hold; None when no string matches both
    (STAR matches any text)."""
    elsewhere = _elsewhere(doc)
    n, m = len(doc), len(code)
    none = (-1, -1)  # no match; real scores are never negative
    # best[i][j]: the best (all, own) for doc[i:] against code[j:]
    best = [[none] * (m + 1) for _ in range(n + 1)]
    best[n][m] = (0, 0)
    for i in range(n, -1, -1):
        row, below = best[i], best[i + 1] if i < n else None
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            score = none
            if i < n and doc[i] == STAR:
                assert below is not None
                score = max(below[j], row[j + 1] if j < m else none)
            elif j < m and code[j] == STAR:
                score = row[j + 1]
                if below is not None and below[j] != none:
                    gain = int(elsewhere[i])
                    score = max(score, (below[j][0] + gain, below[j][1]))
            elif below is not None and j < m and doc[i] == code[j] and below[j + 1] != none:
                score = (below[j + 1][0] + 1, below[j + 1][1] + 1)
            row[j] = score
    found = best[0][0]
    return (found[1], found[0]) if found != none else None


def _all_in(code: str, doc: str) -> bool:
    """Every piece of ``code``'s own text is somewhere in ``doc``."""
    return all(part in doc for part in code.split(STAR) if part)


def found_in_code(message: str, *, excerpt: bool = False) -> bool:
    """``excerpt``: the message may also leave out text at its start and end."""
    doc = re.sub(r"\s*…\s*", STAR, message.removeprefix(PREFIX).replace("`", ""))
    if excerpt:
        doc = f"{STAR}{doc}{STAR}"
    doc = re.sub(f"{STAR}+", STAR, doc)
    literal = [part for part in doc.split(STAR) if part.strip()]
    text = sum(len(part) for part in literal)
    # cheap first: the strings that hold the most 8-character pieces of the message, and
    # those whose own text is all in the message (short ones: "{problem}; reinstalling …")
    probes = {part[k : k + 8] for part in literal for k in range(0, max(len(part) - 7, 1), 4)}
    hits = [(sum(probe in code for probe in probes), code) for code in code_strings()]
    likely = {code for count, code in sorted(hits, reverse=True)[:8] if count}
    likely |= {code for code in code_strings() if _all_in(code, doc)}
    for code in sorted(likely):
        score = explained(doc, code)
        # one string of the code gives the message its shape and a good part of its text;
        # the rest is values (paths, versions) and text other strings give those values
        if score is not None and score[0] >= min(20, text) and score[1] >= 0.6 * text:
            return True
    return False


def troubleshooting_messages() -> list[str]:
    messages = []
    for line in (DOCS / "troubleshooting.md").read_text(encoding="utf-8").splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) >= 3 and not line.startswith("| situation"):
            messages += re.findall(r"`([^`]+)`", cells[1])
    return messages


def code_block_messages() -> list[str]:
    messages = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside and line.strip().startswith(PREFIX):
                messages.append(line.strip())
    return messages


def test_the_conventions_find_messages() -> None:
    assert len(troubleshooting_messages()) >= 30
    assert code_block_messages()


@pytest.mark.parametrize("message", troubleshooting_messages())
def test_a_troubleshooting_message_is_in_the_code(message: str) -> None:
    assert found_in_code(message, excerpt=True), message


@pytest.mark.parametrize("message", code_block_messages())
def test_a_quoted_message_line_is_in_the_code(message: str) -> None:
    assert found_in_code(message), message


def test_the_documented_keys_are_the_known_keys() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    section = text.split("## `[tool.poetry-torch]`", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE))
    assert documented == KNOWN_KEYS


def test_the_unknown_key_message_lists_every_key() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    listed = re.search(r"has unknown key '\w+' \(known: ([a-z, -]+)\)", text)
    assert listed is not None
    assert listed.group(1).split(", ") == sorted(KNOWN_KEYS)
