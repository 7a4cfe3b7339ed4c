"""``poetry torch install --cuda auto``: the torch pin it reads and the build it picks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.fit import pinned_torch_version
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.project.files import configured_packages


if TYPE_CHECKING:
    from collections.abc import Callable


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
H100_CUDA13 = machine_from_dict(
    {
        "nvidia": {
            "driver_version": "595.45.04",
            "cuda_driver_version": [13, 2],
            "gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}],
        }
    }
)


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


def index_without(*missing: str) -> tuple[dict[str, int], Callable[[Variant], str | None]]:
    """A live-index answer for ``choose``: the variants in ``missing`` lack torchaudio; the
    count of questions per variant comes back too."""
    asked: dict[str, int] = {}

    def published(variant: Variant) -> str | None:
        asked[variant.index_name] = asked.get(variant.index_name, 0) + 1
        if variant.index_name in missing:
            return "torchaudio not published for cp312 linux_x86_64"
        return ""

    return asked, published


FAMILY = ["torch==2.9.0", "torchvision", "torchaudio"]


def test_a_candidate_the_index_lacks_is_dropped_for_the_next() -> None:
    asked, published = index_without("cu128")
    # 2.9: cu128 and cu126 stable, cu130 experimental; an H100 on driver 580 runs them all
    choice = choose(FACTS, H100, (), FAMILY, published=published)
    assert choice.variant == Variant("cuda", (12, 6))
    assert choice.dropped == ("cu128: torchaudio not published for cp312 linux_x86_64",)
    assert "skipped cu128 (not on the index)" in choice.reason
    assert asked == {"cu128": 1, "cu126": 1}  # asked in order, stopping at the first that fits


def test_stable_before_experimental_and_experimental_last() -> None:
    _, published = index_without("cu128", "cu126")
    choice = choose(FACTS, H100, (), FAMILY, published=published)
    assert choice.variant == Variant("cuda", (13, 0))  # the experimental build, last resort
    assert [line.split(":")[0] for line in choice.dropped] == ["cu128", "cu126"]


def test_no_candidate_left_means_cpu_with_every_drop_named() -> None:
    _, published = index_without("cu130", "cu128", "cu126")
    choice = choose(FACTS, H100, (), FAMILY, published=published)
    assert choice.variant == Variant("cpu")
    assert len(choice.dropped) == 3


def test_an_unreadable_index_leaves_the_facts_to_decide() -> None:
    def offline(variant: Variant) -> str | None:
        return None

    facts_only = choose(FACTS, H100, ["torch==2.12.0"], ["torch", "torchaudio"])
    with_offline = choose(
        FACTS, H100, ["torch==2.12.0"], ["torch", "torchaudio"], published=offline
    )
    assert with_offline == facts_only
    assert with_offline.dropped == ()


def test_the_live_index_beats_the_facts_companion_table() -> None:
    """2.12's cu132 is experimental and the facts say torchaudio is not published there; an
    index whose stable builds lack torchaudio but whose cu132 has it gets cu132."""
    _, published = index_without("cu130", "cu126")
    choice = choose(
        FACTS,
        H100_CUDA13,
        ["torch==2.12.0"],
        ["torch", "torchaudio"],
        published=published,
    )
    assert choice.variant == Variant("cuda", (13, 2))
    facts_only = choose(FACTS, H100_CUDA13, ["torch==2.12.0"], ["torch", "torchaudio"])
    assert facts_only.variant == Variant("cuda", (13, 0))


def test_rocm_and_xpu_candidates_are_checked_too() -> None:
    mi300 = machine_from_dict({"amd_gpus": [{"name": "AMD Instinct MI300X", "gfx": "gfx942"}]})
    _, published = index_without("rocm6.4")
    choice = choose(FACTS, mi300, ["torch==2.9.0"], ["torch"], published=published)
    assert choice.variant.index_name == "rocm6.3"
    assert choice.dropped[0].startswith("rocm6.4: ")
    _, published = index_without("rocm6.4", "rocm6.3")
    none = choose(FACTS, mi300, ["torch==2.9.0"], ["torch"], published=published)
    assert none.variant == Variant("cpu")
    assert "no ROCm build of torch 2.9 has every configured package" in none.reason
    arc = machine_from_dict(
        {"intel_gpus": [{"name": "Intel Arc A770", "device_id": "0x56a0", "xpu": True}]}
    )
    _, published = index_without("xpu")
    no_xpu = choose(FACTS, arc, ["torch==2.9.0"], ["torch"], published=published)
    assert no_xpu.variant == Variant("cpu")
    assert no_xpu.dropped == ("xpu: torchaudio not published for cp312 linux_x86_64",)
