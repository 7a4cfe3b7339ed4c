"""``poetry torch install --cuda auto``: the torch pin it reads and the build it picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from poetry_torch_plugin.core.auto import choose
from poetry_torch_plugin.core.auto import pinned_torch_version
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.project.read import configured_packages


FACTS = load_facts()
H100 = machine_from_dict(
    {
        "nvidia": {
            "driver_version": "580.159.04",
            "cuda_driver_version": [13, 0],
            "gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}],
        }
    }
)
NO_GPU = machine_from_dict({})


@pytest.mark.parametrize(
    ("requirements", "version"),
    [
        (["torch==2.8.0"], "2.8.0"),
        (["torchvision", "torch == 2.7.1+cu128"], "2.7.1"),
        (["torch==2.9.*"], "2.9"),
        (["torch>=2.7,<2.9"], None),
        (["torchvision==0.23.0"], None),
        (["not a requirement ===", "torch===2.6.0"], "2.6.0"),
        ([], None),
    ],
)
def test_pinned_torch_version(requirements: list[str], version: str | None) -> None:
    assert pinned_torch_version(requirements) == version


def test_command_line_pin_beats_the_configured_one() -> None:
    choice = choose(FACTS, H100, ["torch==2.8.0"], ["torch==2.6.0"])
    assert choice.torch_version == "2.8.0"
    # cu129 is 2.8's experimental build: the stable cu128 comes first.
    assert choice.variant == Variant("cuda", (12, 8))
    assert "torch 2.8" in choice.reason
    # 2.6: cu126 is experimental, cu124 the newest stable build.
    assert choose(FACTS, H100, ["torchvision"], ["torch==2.6.0"]).variant == Variant(
        "cuda", (12, 4)
    )


def test_no_gpu_means_cpu() -> None:
    choice = choose(FACTS, NO_GPU)
    assert choice.variant == Variant("cpu")
    assert choice.reason == "no NVIDIA GPU found"


def test_configured_packages(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.poetry-torch]\npackages = ["torch==2.8.0", "torchvision"]\n')
    assert configured_packages(pyproject) == ("torch==2.8.0", "torchvision")
    pyproject.write_text("[tool.poetry]\npackage-mode = false\n")
    assert configured_packages(pyproject) == ()
    pyproject.write_text("[broken")
    assert configured_packages(pyproject) == ()
