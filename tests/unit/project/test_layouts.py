"""Golden layouts: what ``poetry torch install`` leaves of pyproject.toml (issue 12, item 16).

Each layout is edited twice (the source added, then switched to another variant) and must keep
the file's own line endings, every comment, no doubled blank line, and a blank line before
each table the plugin appends; the result is valid TOML that says what was asked."""

from __future__ import annotations

import re

import pytest
import tomlkit

from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.project.edits import apply_install_edits
from tests.support.toml import loads


CU129 = Source("pytorch_cuda_cu129", "https://download.pytorch.org/whl/cu129", "explicit")
CU128 = Source("pytorch_cuda_cu128", "https://download.pytorch.org/whl/cu128", "explicit")

PEP621 = (
    "# the demo  \n"
    '[project]\nname = "demo"\nversion = "0.1.0"\n'
    'dependencies = [\n    "torch>=2.7",  # the GPU build, see below\n    "numpy",\n]\n'
)

LAYOUTS = {
    "pep621-lf": PEP621 + "\n[tool.poetry]\npackage-mode = false\n",
    "pep621-crlf": (PEP621 + "\n[tool.poetry]\npackage-mode = false\n").replace("\n", "\r\n"),
    "no-final-newline": PEP621 + "\n[tool.poetry]\npackage-mode = false",
    "crlf-no-final-newline": (PEP621 + "\n[tool.poetry]\npackage-mode = false").replace(
        "\n", "\r\n"
    ),
    "tabs": PEP621.replace("    ", "\t") + "\n[tool.poetry]\n\tpackage-mode = false\n",
    "trailing-comments": (
        PEP621 + "\n[tool.poetry]  # poetry's own table\npackage-mode = false  # an app\n"
        "# the end\n"
    ),
    "poetry-deps-comment": (
        '[tool.poetry]\nname = "demo"\nversion = "0.1.0"\ndescription = ""\nauthors = []\n\n'
        "[tool.poetry.dependencies]\n"
        'python = "^3.10"\ntorch = "^2.7"  # keep this comment on the torch line\n'
    ),
    "existing-source-crlf": (
        PEP621 + "\n[tool.poetry]\npackage-mode = false\n\n"
        "[[tool.poetry.source]]\n"
        'name = "pytorch_cuda_cu126"  # the old one\nurl = "https://download.pytorch.org/whl/cu126"\n'
        'priority = "explicit"\n'
    ).replace("\n", "\r\n"),
    "table-after-tool": (
        PEP621 + "\n[tool.poetry]\npackage-mode = false\n\n[tool.ruff]\nline-length = 99\n"
    ),
    "blank-lines-at-end": PEP621 + "\n[tool.poetry]\npackage-mode = false\n\n\n",
    "existing-plugin-table": (
        PEP621 + "\n[tool.poetry]\npackage-mode = false\n\n"
        '[tool.poetry-torch]  # the plugin\npackages = ["torch"]  # only torch\n'
    ),
    "private-source-first": (
        PEP621 + "\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\n"
        'name = "corp"  # the company index\nurl = "https://pypi.corp/simple"\n'
        'priority = "primary"\n'
    ),
}


def edit(text: str, source: Source) -> str:
    document = tomlkit.parse(text)
    current = read_config(document, declared=False)
    return apply_install_edits(
        document,
        source=source,
        configured=current.written,
        requested=parse_requirements((), where="cli", require_torch=False),
        original_text=text,
    ).text


def comments(text: str) -> list[str]:
    return [match.strip() for match in re.findall(r"#[^\r\n]*", text)]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_survives_add_then_switch(name: str) -> None:
    original = LAYOUTS[name]
    added = edit(original, CU129)
    switched = edit(added, CU128)
    for text in (added, switched):
        if "\r\n" in original:
            assert "\n" not in text.replace("\r\n", ""), repr(text)
        else:
            assert "\r" not in text
        lines = text.replace("\r\n", "\n").split("\n")
        for comment in comments(original):
            if "pytorch_cuda_cu126" in comment or "old one" in comment:
                continue
            assert comment in text, (comment, text)
        assert "\n\n\n" not in text.replace("\r\n", "\n").rstrip("\n") + "\n", repr(text)
        for index, line in enumerate(lines):
            if line.startswith("[") and index > 0:
                assert lines[index - 1].strip() == "" or lines[index - 1].startswith("#"), (
                    index,
                    text,
                )
        data = loads(text)
        names = [s["name"] for s in data["tool"]["poetry"]["source"]]
        assert sum(n.startswith("pytorch") for n in names) == 1, names
    assert "pytorch_cuda_cu128" in switched
    assert "pytorch_cuda_cu129" not in switched
    assert edit(switched, CU128) == switched  # idempotent
