"""A library keeps its torch requirement: the declarations stay where the user wrote them."""

from __future__ import annotations

import zipfile

from typing import TYPE_CHECKING

import pytest

from packaging.requirements import Requirement

from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


LIBRARY = """# A library published to PyPI: torch is a run-time requirement of its wheel.
[project]
name = "torchlib"
version = "0.3.0"
description = "Layers for torch"
requires-python = ">=3.9"
authors = [{name = "Lib Author", email = "lib@example.org"}]
dependencies = [
    "torch>=2.8",  # the wheel must keep this
    "tinydep>=1.0",
]

[[tool.poetry.source]]
name = "fakepypi"  # the stand-in for PyPI
url = "{pypi_url}"
priority = "primary"

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
"""


def test_library_keeps_requires_dist_torch(project: Project) -> None:
    pypi_url = loads(project.pyproject.read_text())["tool"]["poetry"]["source"][0]["url"]
    project.pyproject.write_text(LIBRARY.replace("{pypi_url}", pypi_url))
    (project.root / "torchlib").mkdir()
    (project.root / "torchlib" / "__init__.py").write_text("")

    project.run("torch", "install", "--cuda", "12.9")
    assert project.version_of("torch") == "2.9.0+cu129"
    text = project.pyproject.read_text()
    assert '    "torch>=2.8",  # the wheel must keep this\n' in text
    data = loads(text)
    assert data["project"]["dependencies"] == ["torch>=2.8", "tinydep>=1.0"]
    assert data["tool"]["poetry-torch"]["packages"] == ["torch", "torchvision", "torchaudio"]

    project.run("build", "--format", "wheel")
    (wheel,) = (project.root / "dist").glob("torchlib-0.3.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("torchlib-0.3.0.dist-info/METADATA").decode()
    requires = {
        str(Requirement(line.split(":", 1)[1]))
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert requires == {"torch>=2.8", "tinydep>=1.0"}  # poetry-core writes "torch (>=2.8)"

    project.run("--no-plugins", "check")
