"""``plan_install``: the URL a variant switch writes (issue 12, item 22)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.service.install import plan_install


if TYPE_CHECKING:
    from pathlib import Path

PYPROJECT = """[project]
name = "demo"
version = "0.1.0"

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "pytorch_cuda_cu129"
url = "{url}"
priority = "explicit"
"""


@pytest.fixture(autouse=True)
def _no_base_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)


@pytest.mark.parametrize(
    ("old", "given", "new"),
    [
        (
            "https://mirror.corp/pytorch/whl/cu129",
            None,
            "https://mirror.corp/pytorch/whl/cu128",
        ),
        (
            "https://mirror.corp/pytorch/whl/cu129/",
            None,
            "https://mirror.corp/pytorch/whl/cu128",
        ),
        (
            "https://download.pytorch.org/whl/cu129",
            None,
            "https://download.pytorch.org/whl/cu128",
        ),
        (
            "https://mirror.corp/pytorch/whl/cu129",
            "https://other.corp/whl",
            "https://other.corp/whl/cu128",
        ),
    ],
)
def test_switch_keeps_the_mirror_of_the_source_url(
    tmp_path: Path, old: str, given: str | None, new: str
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT.format(url=old))
    plan = plan_install(path, variant=parse_cuda("12.8"), index_base=given)
    assert plan.source.url.rstrip("/") == new
    assert f'url = "{new}"' in plan.edit.text


def test_the_variable_never_reaches_the_source_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POETRY_TORCH_INDEX_BASE is this machine's mirror: a switch keeps the base the file
    names, and a new source gets PyTorch's URL (issue 23, item 7)."""
    monkeypatch.setenv("POETRY_TORCH_INDEX_BASE", "https://env.corp/whl")
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT.format(url="https://mirror.corp/pytorch/whl/cu129"))
    plan = plan_install(path, variant=parse_cuda("12.8"))
    assert plan.source.url.rstrip("/") == "https://mirror.corp/pytorch/whl/cu128"
    path.write_text(PYPROJECT.format(url="https://download.pytorch.org/whl/cu129"))
    plan = plan_install(path, variant=parse_cuda("12.8"))
    assert plan.source.url.rstrip("/") == "https://download.pytorch.org/whl/cu128"
    assert "env.corp" not in plan.edit.text


def test_updated_line_says_what_changed(tmp_path: Path) -> None:
    """ "Updated pyproject.toml: source …" only when the source changed (issue 12, item 28)."""
    from poetry_torch_plugin.service.install import what_changed

    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT.format(url="https://download.pytorch.org/whl/cu129"))
    named = plan_install(path, variant=None, requested=("torch",))
    assert named.edit.changed
    assert what_changed(named) == 'packages = ["torch"]'
    switched = plan_install(path, variant=parse_cuda("12.8"))
    assert what_changed(switched).startswith("source <info>pytorch_cuda_cu128</info>")
    path.write_text(
        PYPROJECT.format(url="https://download.pytorch.org/whl/cu129").replace(
            'priority = "explicit"', 'priority = "supplemental"'
        )
        + '\n[tool.poetry-torch]\npackages = ["torch", "torchvision", "torchaudio"]\n'
    )
    explicit = plan_install(path, variant=None)
    assert explicit.edit.changed
    assert (
        what_changed(explicit) == "source <info>pytorch_cuda_cu129</info> entry (priority explicit)"
    )
