"""``poetry torch install`` without --cuda/--cpu/--rocm on a machine-local choice: the chosen
variant's source, and nothing edited (pyproject.toml and poetry-torch.lock stay as they are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.targets import VARIANT_ENV
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.plan import plan_install


PYPROJECT = """[project]
name = "demo"
version = "0.1.0"

[[tool.poetry.source]]
name = "pytorch_cuda_cu129"
url = "https://mirror.example/whl/cu129"
priority = "explicit"

[tool.poetry-torch]
packages = ["torch"]
"""


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(VARIANT_ENV, raising=False)
    monkeypatch.delenv(INDEX_BASE_ENV, raising=False)
    file = tmp_path / "pyproject.toml"
    file.write_text(PYPROJECT, encoding="utf-8")
    return file


def test_committed_variant_plans_as_before(path: Path) -> None:
    plan = plan_install(path, variant=None)
    assert not plan.local and not plan.edit.changed
    assert plan.index_url == "https://mirror.example/whl/cu129"


def test_env_override_plans_no_edit(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    plan = plan_install(path, variant=None)
    assert plan.local and not plan.edit.changed
    assert str(plan.variant) == "cpu"
    assert plan.index_url == "https://mirror.example/whl/cpu"
    assert plan.settings.choice is not None and plan.settings.choice.rule == "env"
    assert plan.settings.package_names == ("torch",)
    assert path.read_text("utf-8") == PYPROJECT


def test_env_override_with_index_base_option(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    plan = plan_install(path, variant=None, index_base="http://127.0.0.1:9/whl")
    assert plan.index_url == "http://127.0.0.1:9/whl/cpu" and plan.local


def test_named_packages_with_an_override_refused(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    with pytest.raises(ConfigError, match="chosen by env"):
        plan_install(path, variant=None, requested=("torch==2.8.0",))


def test_explicit_flag_beats_the_override(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    plan = plan_install(path, variant=None)
    assert plan.local
    from poetry_torch_plugin.core.variants import parse_cuda

    plan = plan_install(path, variant=parse_cuda("12.8"))
    assert not plan.local and plan.edit.changed  # --cuda commits, as before
