"""Poetry's multiple-constraints form in ``with_choice`` and ``poetry torch install``'s plan:
the entry for this kind of machine chooses, from its own declared source (its URL and name, so
its login), and the plan leaves the user's entries and sources as written."""

from __future__ import annotations

import platform
import sys

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.targets import VARIANT_ENV
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.install import plan_install
from poetry_torch_plugin.service.settings import with_choice


if TYPE_CHECKING:
    from pathlib import Path

MIRROR = "https://mirror.example/pytorch/whl"
FORM = f"""[project]
name = "demo"
version = "0.1"

[tool.poetry.dependencies]
torch = [
  {{ version = "2.9.0", source = "pytorch_cuda_cu129", markers = "sys_platform == 'linux' and platform_machine == 'x86_64'" }},
  {{ version = "2.9.0", source = "pytorch_cuda_cu128", markers = "sys_platform == 'linux' and platform_machine == 'aarch64'" }},
  {{ version = "2.9.0", source = "pytorch_cpu", markers = "sys_platform == 'darwin'" }},
]

[[tool.poetry.source]]
name = "pytorch_cuda_cu129"
url = "{MIRROR}/cu129"
priority = "explicit"

[[tool.poetry.source]]
name = "pytorch_cuda_cu128"
url = "https://other.example/simple/cuda-12.8/"
priority = "explicit"

[[tool.poetry.source]]
name = "pytorch_cpu"
url = "{MIRROR}/cpu"
priority = "explicit"

[tool.poetry-torch]
packages = ["torch", "torchvision", "torchaudio"]
"""


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(VARIANT_ENV, raising=False)
    monkeypatch.setenv(INDEX_BASE_ENV, "http://127.0.0.1:9/whl")  # a mirror: never written
    monkeypatch.setattr(sys, "platform", "linux")
    written = tmp_path / "pyproject.toml"
    written.write_text(FORM, encoding="utf-8")
    return written


def chosen(path: Path) -> tuple[str, str, str, str, bool]:
    settings = with_choice(read_config(parse_toml(path.read_text("utf-8"))), path)
    assert settings.choice is not None
    (source,) = settings.sources
    choice = settings.choice
    return str(choice.variant), choice.detail, source.name, source.url, choice.machine_local


def test_this_machine_kinds_entry_chooses_from_its_declared_source(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert chosen(path) == (
        "cu129",
        '[tool.poetry.dependencies] torch entry 1, read as linux-x86_64 = "cu129"',
        "pytorch_cuda_cu129",
        f"{MIRROR}/cu129",
        False,  # the committed source's variant
    )
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    # another source, as declared: its URL is no sibling of the committed one's
    assert chosen(path) == (
        "cu128",
        '[tool.poetry.dependencies] torch entry 2, read as linux-aarch64 = "cu128"',
        "pytorch_cuda_cu128",
        "https://other.example/simple/cuda-12.8/",
        True,
    )


def test_an_override_takes_the_declared_source_of_its_variant(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    variant, detail, name, url, local = chosen(path)
    assert (variant, name, url, local) == ("cpu", "pytorch_cpu", f"{MIRROR}/cpu", True)
    assert detail == f"{VARIANT_ENV}=cpu"
    # declared nowhere: derived next to the committed source (the variable is only where this
    # machine fetches from, issue 23 item 7)
    monkeypatch.setenv(VARIANT_ENV, "cu126")
    assert chosen(path)[2:4] == ("pytorch_cuda_cu129", f"{MIRROR}/cu126")


def test_the_plan_for_the_committed_variant_changes_nothing(path: Path) -> None:
    plan = plan_install(path, variant=parse_cuda("12.9"))
    assert not plan.edit.changed
    assert plan.edit.text == FORM
    assert plan.source.name == "pytorch_cuda_cu129"


def test_a_switch_that_would_rewrite_the_entries_is_refused(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_install(path, variant=parse_cuda("12.8"))
    message = str(caught.value)
    assert "Poetry's multiple-constraints form (committed source pytorch_cuda_cu129)" in message
    assert "POETRY_TORCH_VARIANT=cu128" in message and "\n" not in message
    assert path.read_text("utf-8") == FORM


def test_for_an_entry_disagreeing_with_the_form_is_refused_unwritten(path: Path) -> None:
    from poetry_torch_plugin.project.edits import set_target

    with pytest.raises(ConfigError, match="disagree on linux-x86_64"):
        set_target(path, "linux-x86_64", "cpu")
    assert path.read_text("utf-8") == FORM
    assert set_target(path, "windows", "cu129") is not None  # a kind the entries leave free
    assert 'windows = "cu129"' in path.read_text("utf-8")
