"""The e2e tests' Project helper: how it removes packages from the project venv."""

from __future__ import annotations

import subprocess

from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project


def project(tmp_path: Path) -> Project:
    return Project(tmp_path, tmp_path / "poetry", {"PIP_INDEX_URL": "x", "UV_CACHE_DIR": "y"})


def test_uninstall_uses_uv_where_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ran: list[tuple[list[str], dict[str, str]]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append((argv, kwargs["env"]))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr("poetry_torch_plugin.installer.uv.find_uv", lambda: "/bin/uv")
    monkeypatch.setattr(subprocess, "run", run)
    project(tmp_path).uninstall("torch", "torchvision")
    ((argv, env),) = ran
    python = str(tmp_path / ".venv" / "bin" / "python")
    assert argv == [
        "/bin/uv",
        "pip",
        "uninstall",
        "--no-config",
        "--python",
        python,
        "torch",
        "torchvision",
    ]
    assert "PIP_INDEX_URL" not in env and "UV_CACHE_DIR" not in env


def test_uninstall_falls_back_to_pip_without_uv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr("poetry_torch_plugin.installer.uv.find_uv", lambda: None)
    monkeypatch.setattr(Project, "pip", lambda self, *args: asked.append(args))
    project(tmp_path).uninstall("torch")
    assert asked == [("uninstall", "-y", "torch")]
