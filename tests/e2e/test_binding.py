"""Poetry's own recipe, so the plugin can be removed (issue 22 item 8).

``poetry torch install`` binds the family's declarations to the plugin's source, as ``poetry
add --source`` would; with the plugin on, Poetry behaves as before (the hold-out keeps torch out
of poetry.lock); with it off (``--no-plugins``), Poetry alone locks and installs the same build
from the same local index, where it used to take PyPI's torch."""

from __future__ import annotations

import shutil

from typing import TYPE_CHECKING
from typing import Any

import pytest

from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def locked(project: Project) -> dict[str, Any]:
    """poetry.lock's packages by name."""
    return {p["name"]: p for p in loads(project.lock.read_text()).get("package", [])}


def works_with_the_plugin(project: Project, build: str) -> None:
    """``poetry install``, ``check --lock`` and ``show`` pass, torch stays out of poetry.lock."""
    project.run("install")
    project.run("check", "--lock")
    project.run("show")
    assert not {"torch", "torchvision", "torchaudio"} & set(locked(project))
    assert project.version_of("torch") == build


def without_the_plugin(project: Project, *install: str) -> dict[str, Any]:
    """``poetry --no-plugins lock`` and ``install`` into a fresh environment: what Poetry alone
    installs.  Returns poetry.lock's packages."""
    project.run("--no-plugins", "lock")
    project.run("--no-plugins", "check", "--lock")
    shutil.rmtree(project.venv)
    project.run("--no-plugins", "install", *install)
    return locked(project)


def _local_base(project: Project) -> tuple[str, ...]:
    """``--index-base`` naming the local index: Poetry without the plugin reads the committed
    source URL (``POETRY_TORCH_INDEX_BASE`` only steers the plugin, on this machine)."""
    return ("--index-base", project.env["POETRY_TORCH_INDEX_BASE"])


def test_a_project_declaration_is_bound_and_poetry_alone_installs_the_build(
    project: Project,
) -> None:
    text = project.pyproject.read_text()
    project.pyproject.write_text(
        text.replace(
            '    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch>=2.8",  # CUDA\n'
        )
    )
    result = project.run("torch", "install", "--cuda", "12.9", *_local_base(project))
    updated = next(line for line in result.stdout.splitlines() if "Updated pyproject" in line)
    assert updated.endswith(", torch ([tool.poetry.dependencies]) bound to pytorch_cuda_cu129."), (
        result.stdout
    )
    edited = project.pyproject.read_text()
    assert '    "torch>=2.8",  # CUDA\n' in edited
    assert '[tool.poetry.dependencies]\ntorch = {source = "pytorch_cuda_cu129"}\n' in edited
    assert project.version_of("torch") == "2.9.0+cu129"
    works_with_the_plugin(project, "2.9.0+cu129")
    assert project.pyproject.read_text() == edited

    packages = without_the_plugin(project)
    assert packages["torch"]["version"] == "2.9.0+cu129"
    assert packages["torch"]["source"]["reference"] == "pytorch_cuda_cu129"
    assert project.version_of("torch") == "2.9.0+cu129"  # not PyPI's torch (a cu128 inside)
    assert project.version_of("torchmetrics") == "1.0.0"

    # the plugin back: the lock Poetry alone wrote holds torch, and everything still passes
    project.run("install")
    project.run("check", "--lock")
    project.run("show")
    assert project.version_of("torch") == "2.9.0+cu129"


POETRY_DECLARED = """[tool.poetry]
package-mode = false

[tool.poetry.dependencies]
python = ">=3.9"
torchmetrics = ">=1.0"
torch = "^2.8"  # the CUDA build

[tool.poetry.group.vision.dependencies]
torchvision = { version = ">=0.23" }

[dependency-groups]
audio = ["torchaudio>=2.8"]

[[tool.poetry.source]]
name = "fakepypi"
url = "{pypi_url}"
priority = "primary"
"""


def test_poetry_and_group_declarations_are_bound_and_a_switch_moves_them(
    project: Project,
) -> None:
    pypi = loads(project.pyproject.read_text())["tool"]["poetry"]["source"][0]["url"]
    project.pyproject.write_text(POETRY_DECLARED.replace("{pypi_url}", pypi))
    project.run("torch", "install", "--cuda", "12.9", *_local_base(project))
    text = project.pyproject.read_text()
    assert 'torch = {version = "^2.8", source = "pytorch_cuda_cu129"}  # the CUDA build\n' in text
    assert 'torchvision = { version = ">=0.23", source = "pytorch_cuda_cu129" }\n' in text
    assert (
        '[tool.poetry.group.audio.dependencies]\ntorchaudio = {source = "pytorch_cuda_cu129"}\n'
    ) in text
    assert 'audio = ["torchaudio>=2.8"]\n' in text

    result = project.run("torch", "install", "--cuda", "12.8")
    assert "bound to pytorch_cuda_cu128" in result.stdout
    data = loads(project.pyproject.read_text())
    poetry = data["tool"]["poetry"]
    assert [s["name"] for s in poetry["source"]] == ["fakepypi", "pytorch_cuda_cu128"]
    assert poetry["dependencies"]["torch"] == {"version": "^2.8", "source": "pytorch_cuda_cu128"}
    assert poetry["group"]["vision"]["dependencies"]["torchvision"]["source"] == (
        "pytorch_cuda_cu128"
    )
    assert poetry["group"]["audio"]["dependencies"] == {
        "torchaudio": {"source": "pytorch_cuda_cu128"}
    }
    assert data["dependency-groups"] == {"audio": ["torchaudio>=2.8"]}
    works_with_the_plugin(project, "2.8.0+cu128")

    packages = without_the_plugin(project)
    for name, version in (("torch", "2.8.0"), ("torchvision", "0.23.0"), ("torchaudio", "2.8.0")):
        assert packages[name]["version"] == f"{version}+cu128"
        assert packages[name]["source"]["reference"] == "pytorch_cuda_cu128"
        assert project.version_of(name) == f"{version}+cu128"


def test_a_binding_to_the_users_own_source_is_left_alone(project: Project) -> None:
    base = project.env["POETRY_TORCH_INDEX_BASE"]
    text = project.pyproject.read_text().replace(
        '    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch>=2.8",\n'
    )
    project.pyproject.write_text(
        text
        + f'\n[[tool.poetry.source]]\nname = "pytorch"\nurl = "{base}/cu128"\n'
        + 'priority = "explicit"\n\n[tool.poetry.dependencies]\n'
        + 'torch = {source = "pytorch"}  # ours\n'
    )
    result = project.run("torch", "install", "--cuda", "12.9")
    assert (
        "torch in [tool.poetry.dependencies] stays bound to your source 'pytorch', which is not"
        " one of the plugin's; Poetry without the plugin installs it from there."
    ) in result.stdout
    assert 'torch = {source = "pytorch"}  # ours\n' in project.pyproject.read_text()
    assert "]) bound to pytorch_cuda" not in result.stdout
    assert project.version_of("torch") == "2.9.0+cu129"
    works_with_the_plugin(project, "2.9.0+cu129")


def test_targets_that_one_source_cannot_say_are_left_unbound(project: Project) -> None:
    text = project.pyproject.read_text().replace(
        '    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch>=2.8",\n'
    )
    project.pyproject.write_text(text + '\n[tool.poetry-torch.targets]\nmacos = "cpu"\n')
    result = project.run("torch", "install", "--cuda", "12.9", "--dry-run")
    assert (
        "The declarations of torch were not bound to pytorch_cuda_cu129:"
        " [tool.poetry-torch.targets] gives other machines cpu, which one source cannot say"
    ) in result.stdout
    assert "Would update pyproject.toml: source pytorch_cuda_cu129" in result.stdout
    assert "]) bound to pytorch_cuda" not in result.stdout
