"""The whole story, with the real poetry executable, real pip and a real local index."""

from __future__ import annotations

import shlex

from typing import TYPE_CHECKING

import pytest

from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def locked_names(project: Project) -> set[str]:
    data = loads(project.lock.read_text())
    return {package["name"] for package in data.get("package", [])}


def assert_cu129(project: Project) -> None:
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchvision") == "0.24.0+cu129"
    assert project.version_of("torchaudio") == "2.9.0+cu129"
    assert project.python("import torch; print(torch.version.cuda)") == "12.9"


@pytest.mark.smoke
def test_install_survives_every_poetry_command_and_switches(real_project: Project) -> None:
    """On PyTorch's own page shape (torch on another host, the rest root-relative)."""
    project = real_project
    walk_scenario(project)


def walk_scenario(project: Project) -> None:
    original = project.pyproject.read_text()

    result = project.run("torch", "install", "--cuda", "12.9")
    assert "pytorch_cuda_cu129" in result.stdout
    assert_cu129(project)
    text = project.pyproject.read_text()
    assert text.startswith(original.split("\n", 1)[0])  # the comment survived
    data = loads(text)
    sources = {s["name"]: s for s in data["tool"]["poetry"]["source"]}
    assert sources["pytorch_cuda_cu129"]["priority"] == "explicit"
    assert sources["pytorch_cuda_cu129"]["url"].endswith("/whl/cu129")
    assert data["tool"]["poetry-torch"]["packages"] == ["torch", "torchvision", "torchaudio"]

    # lock: torchmetrics depends on torch, yet no torch-family package is locked
    project.run("lock")
    names = locked_names(project)
    assert "torchmetrics" in names
    assert not names & {"torch", "torchvision", "torchaudio", "nvidia-fakeblas-cu12"}
    assert_cu129(project)

    # install, update, add, sync: the build survives each one
    for command in (("install",), ("update",), ("add", "tinydep"), ("sync",)):
        result = project.run(*command)
        assert_cu129(project)
        assert "torch (" not in result.stdout, result.stdout  # Poetry never touched torch
    assert project.version_of("torchmetrics") == "1.0.0"
    assert project.version_of("tinydep") == "1.1.0"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.9.1"  # sync kept torch's runtime
    assert not locked_names(project) & {"torch", "nvidia-fakeblas-cu12"}

    # the build lost (replaced by PyPI's) and brought back by the next Poetry command
    project.pip(
        "install",
        "--index-url",
        project.env["POETRY_TORCH_INDEX_BASE"].rsplit("/whl", 1)[0] + "/pypi/simple/",
        "torch==2.8.0",
        "torchvision==0.23.0",
        "torchaudio==2.8.0",
    )
    assert project.version_of("torch") == "2.8.0+cu128"  # a PyPI build, from version.py
    result = project.run("install")
    assert "reinstalling" in result.stderr
    assert_cu129(project)

    # removed entirely, brought back
    project.uninstall("torch")
    project.run("install")
    assert_cu129(project)

    # a no-op install says nothing about torch (one line at -v)
    quiet = project.run("install")
    assert "poetry-torch" not in quiet.stdout + quiet.stderr
    loud = project.run("install", "-v")
    assert "poetry-torch: torch, torchvision, torchaudio match cu129" in loud.stdout + loud.stderr

    # switch to 12.8: exactly one pytorch source remains
    project.run("torch", "install", "--cuda", "cu128")
    assert project.version_of("torch") == "2.8.0+cu128"
    assert project.version_of("torchvision") == "0.23.0+cu128"
    data = loads(project.pyproject.read_text())
    pytorch = [
        s["name"] for s in data["tool"]["poetry"]["source"] if s["name"].startswith("pytorch")
    ]
    assert pytorch == ["pytorch_cuda_cu128"]
    project.run("lock")
    project.run("sync")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_locked")
def test_skip_and_dry_run_leave_the_environment_alone(project: Project) -> None:
    project.uninstall("torch")
    project.run("install", extra_env={"POETRY_TORCH_SKIP": "1"})
    assert project.version_of("torch") is None
    project.run("install", "--dry-run")
    assert project.version_of("torch") is None
    project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"


@pytest.mark.smoke
def test_incompatible_torch_requirement_is_a_conflict(project: Project) -> None:
    project.run("torch", "install", "--cuda", "12.9", "torch<2.9")
    assert project.version_of("torch") == "2.8.0+cu129"
    result = project.run("add", "torch@^2.9.0", check=False)
    assert result.returncode != 0
    assert "torch" in result.stderr + result.stdout
    # after Poetry's own explanation, one line naming both sides
    ours = [line for line in result.stderr.splitlines() if line.startswith("poetry-torch:")]
    assert len(ours) == 1, result.stderr
    assert "torch (^2.9.0)" in ours[0] and "2.8.0+cu129" in ours[0], ours[0]
    # the advice is in PEP 440, keeps the variant, and the plugin accepts it (issue 23, item 3)
    suggested = 'poetry torch install --cuda 12.9 "torch>=2.9.0,<3.0.0"'
    assert f"`{suggested}`" in ours[0], ours[0]
    project.run(*shlex.split(suggested)[1:])
    assert project.version_of("torch") == "2.9.0+cu129"
