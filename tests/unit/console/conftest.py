"""The ``poetry torch`` commands run in-process, as poetry-plugin-export tests its command: a
real Poetry ``Application`` with the real plugin activated, driven by cleo's CommandTester."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cleo.testers.command_tester import CommandTester
from poetry.console.application import Application

from poetry_torch_plugin.plugin import TorchApplicationPlugin


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, the working directory of the commands."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def tester(project_dir: Path) -> Callable[[str], CommandTester]:
    """``tester("torch check")``: that command of a Poetry application with the plugin loaded."""
    application = Application()
    TorchApplicationPlugin().activate(application)

    def find(name: str) -> CommandTester:
        return CommandTester(application.find(name))

    return find
