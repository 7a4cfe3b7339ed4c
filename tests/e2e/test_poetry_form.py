"""Issue 14 item 1: Poetry's own multiple-constraints form for torch keeps working with the
plugin and is read as targets: each entry's markers say which machine kind it is for, its
source which build that kind installs (this machine is Linux x86_64)."""

from __future__ import annotations

import json

from pathlib import Path
from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENTRIES = (
    "torch = [\n"
    '    {version = "2.8.0", source = "pytorch_cuda_cu128",'
    " markers = \"sys_platform == 'linux' and platform_machine == 'x86_64'\"},\n"
    '    {version = "2.8.0", source = "pytorch_cuda_cu129",'
    " markers = \"sys_platform == 'linux' and platform_machine == 'aarch64'\"},\n"
    '    {version = "2.8.0", source = "pytorch_cpu", markers = "sys_platform == \'darwin\'"},\n'
    "]\n"
)


def committed(project: Project) -> dict[str, bytes]:
    names = ("pyproject.toml", "poetry.lock", "poetry-torch.lock")
    files: dict[str, Path] = {name: project.root / name for name in names}
    return {name: path.read_bytes() for name, path in files.items() if path.exists()}


def with_form(project: Project, server: IndexServer, entries: str = ENTRIES) -> None:
    text = project.pyproject.read_text().replace(
        "[tool.poetry]\npackage-mode = false\n",
        "[tool.poetry]\npackage-mode = false\n\n[tool.poetry.dependencies]\n" + entries,
    )
    for name, variant in (
        ("pytorch_cuda_cu129", "cu129"),
        ("pytorch_cuda_cu128", "cu128"),
        ("pytorch_cpu", "cpu"),
    ):
        text += (
            f'\n[[tool.poetry.source]]\nname = "{name}"\nurl = "{server.base}/{variant}"\n'
            'priority = "explicit"\n'
        )
    # the plugin's own table, as `poetry torch install` writes it on a project's first use
    text += '\n[tool.poetry-torch]\npackages = ["torch", "torchvision", "torchaudio"]\n'
    project.pyproject.write_text(text)


def test_multiple_constraints_form_is_read_as_targets(
    project: Project, index_server: IndexServer, uv_path: dict[str, str]
) -> None:
    with_form(project, index_server)
    before = project.pyproject.read_bytes()
    project.run("lock")
    project.run("install")
    project.run("check", "--lock")
    project.run("show")
    # the entry for this machine (linux x86_64) names pytorch_cuda_cu128: that build
    assert project.version_of("torch") == "2.8.0+cu128"
    assert project.version_of("torchvision") == "0.23.0+cu128"
    shown = project.run("torch", "check", check=False).stdout
    expected = (
        "cu128, chosen by target ([tool.poetry.dependencies] torch entry 1, read as"
        ' linux-x86_64 = "cu128")'
    )
    assert expected in shown, shown
    report = json.loads(project.run("torch", "check", "--json", check=False).stdout)
    assert report["project"]["variant_choice"]["rule"] == "target"
    assert report["project"]["variant_choice"]["committed"] == "cu128"

    # `poetry torch install` installs that build and leaves the user's entries as written
    project.run("torch", "install")
    assert project.version_of("torch") == "2.8.0+cu128"
    assert project.pyproject.read_bytes() == before
    files = committed(project)
    project.run("install")
    project.run("check", "--lock")
    project.run("show")
    assert committed(project) == files

    # the entries are targets: `poetry torch lock` locks each for its machine kind (issue 14
    # item 3), and a variant only this machine chooses is added to the lock first
    project.run("torch", "lock", "--add-variant", "cpu", extra_env=uv_path)
    project.run("torch", "lock", "--check")
    project.run("check", "--lock")  # Poetry's contract after a universal lock
    project.run("show")
    from poetry_torch_plugin.project.lockstate import read_lock

    lock = read_lock(project.root / "poetry-torch.lock")
    assert lock is not None
    kinds = {(entry.variant, entry.platform) for entry in lock.entries}
    assert {("cu129", "linux-aarch64"), ("cpu", "macos-arm64"), ("cpu", "linux-x86_64")} <= kinds
    files = committed(project)

    # this machine only, cpu: installed from the declared pytorch_cpu source; pyproject.toml
    # and both locks untouched
    ci = {"POETRY_TORCH_VARIANT": "cpu"}
    result = project.run("install", extra_env=ci)
    assert "reinstalling" in result.stderr, result.stderr
    assert project.version_of("torch") == "2.8.0+cpu"
    assert committed(project) == files
    project.run("install")  # back to this machine's entry
    assert project.version_of("torch") == "2.8.0+cu128"

    # a switch the entries would have to be rewritten for: refused in one line, nothing changed
    refused = project.run("torch", "install", "--cuda", "12.9", check=False)
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "multiple-constraints form" in lines[0], refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert committed(project) == files
    assert project.version_of("torch") == "2.8.0+cu128"


def test_multiple_constraints_form_that_cannot_be_mapped_is_refused(
    project: Project, index_server: IndexServer
) -> None:
    """An entry for Linux without a source: the plugin cannot tell which build PyPI's torch
    is, so every command stops in one line, before anything is locked or installed."""
    entries = ENTRIES.replace('source = "pytorch_cuda_cu128", ', "")
    with_form(project, index_server, entries)
    before = project.pyproject.read_bytes()
    for command in (("lock",), ("torch", "install")):
        result = project.run(*command, check=False)
        assert result.returncode != 0
        output = (result.stdout + result.stderr).strip()
        assert "Traceback" not in output
        said = [line for line in output.splitlines() if "poetry-torch" in line]
        assert len(said) == 1 and "torch entry 1 names no source" in said[0], output
        assert 'linux-x86_64 = "cu129"' in said[0]
    assert project.pyproject.read_bytes() == before
    assert not project.lock.exists()
