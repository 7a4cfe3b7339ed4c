"""An explicit ``--cuda X.Y`` / ``--rocm X.Y`` this machine cannot run is refused before anything
is downloaded (issue 13 item 3); unchecked facts only warn; no GPU at all only notes."""

from __future__ import annotations

from typing import Any

from poetry_torch_plugin.core.facts import Checked
from poetry_torch_plugin.core.facts import Facts
from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict


FACTS = load_facts()
CU130 = Variant("cuda", (13, 0))
CU126 = Variant("cuda", (12, 6))


def nvidia(driver: str, cc: tuple[int, int], name: str, **extra: Any) -> Any:
    return machine_from_dict(
        {
            "nvidia": {
                "driver_version": driver,
                "gpus": [{"name": name, "compute_capability": list(cc)}],
                **extra,
            },
            "platform": "linux-x86_64",
        }
    )


H100_550 = nvidia("550.54.15", (9, 0), "NVIDIA H100 80GB HBM3", cuda_driver_version=[12, 4])
H100_580 = nvidia("580.65.06", (9, 0), "NVIDIA H100 80GB HBM3", cuda_driver_version=[13, 0])
P100_580 = nvidia("580.65.06", (6, 0), "Tesla P100-PCIE-16GB")


def test_a_driver_older_than_the_floor_is_refused_in_one_line() -> None:
    fit = judge_variant(FACTS, H100_550, CU130, "2.11.0", option="--cuda 13.0")
    assert fit.refusal is not None
    assert "\n" not in fit.refusal
    assert fit.refusal.startswith("--cuda 13.0 cannot run on this machine:")
    # what was found, what is needed, that nothing changed, what to run
    assert (
        "NVIDIA driver 550.54.15 (for NVIDIA H100 80GB HBM3 (sm_90)) is older than the 580 that"
        " CUDA 13.x builds need (it runs CUDA up to 12.4)" in fit.refusal
    )
    assert "Nothing was downloaded or changed" in fit.refusal
    assert "`poetry torch install --cuda auto` (picks cu128 here)" in fit.refusal
    assert "`poetry torch install --cuda 12.8`" in fit.refusal
    assert "--force" in fit.refusal
    assert fit.problem is not None and "550.54.15" in fit.problem


def test_a_new_enough_driver_and_a_listed_architecture_go_ahead_silently() -> None:
    fit = judge_variant(FACTS, H100_580, CU130, "2.11.0")
    assert fit == judge_variant(FACTS, H100_580, CU130, "2.11.0", option="--cuda cu130")
    assert not fit.refused
    assert fit.notes == ()


def test_a_gpu_missing_from_a_checked_arch_list_is_refused() -> None:
    fit = judge_variant(FACTS, P100_580, CU130, "2.11.0", option="--cuda 13.0")
    assert fit.refusal is not None
    assert "GPU 0 (Tesla P100-PCIE-16GB, sm_60) is not among the architectures of cu130" in (
        fit.refusal
    )
    # cu126 of 2.11 still carries sm_60
    assert "(picks cu126 here)" in fit.refusal
    assert "`poetry torch install --cuda 12.6`" in fit.refusal


def test_an_unchecked_arch_list_only_warns() -> None:
    # 2.10's cu130 list is not checked against its source
    fit = judge_variant(FACTS, P100_580, CU130, "2.10.0")
    assert not fit.refused
    assert len(fit.notes) == 1
    assert "sm_60" in fit.notes[0] and "unchecked" in fit.notes[0]


def test_an_unchecked_driver_floor_only_warns() -> None:
    # The Windows 12.x floor (528.33) is not checked: a warning, not a refusal
    machine = machine_from_dict(
        {
            "nvidia": {
                "driver_version": "527.10",
                "gpus": [{"name": "RTX 4090", "compute_capability": [8, 9]}],
            },
            "platform": "windows-amd64",
        }
    )
    fit = judge_variant(FACTS, machine, CU126, "2.11.0")
    assert not fit.refused
    assert any("528.33" in note and "unchecked" in note for note in fit.notes)


def test_the_driver_reporting_an_older_cuda_refuses_even_on_an_unchecked_floor() -> None:
    machine = machine_from_dict(
        {
            "nvidia": {
                "driver_version": "527.10",
                "cuda_driver_version": [12, 0],
                "gpus": [{"name": "RTX 4090", "compute_capability": [8, 9]}],
            },
            "platform": "windows-amd64",
        }
    )
    assert judge_variant(FACTS, machine, CU126, "2.11.0").refused


def test_no_gpu_goes_ahead_with_a_note() -> None:
    fit = judge_variant(FACTS, machine_from_dict({}), CU130, "2.11.0")
    assert not fit.refused
    assert fit.notes == (
        "No NVIDIA GPU found on this machine: installing cu130 anyway, unchecked (torch will"
        " fall back to the CPU here).",
    )
    rocm = judge_variant(FACTS, machine_from_dict({}), Variant("rocm", (6, 4)), None)
    assert not rocm.refused and "No AMD GPU or ROCm runtime" in rocm.notes[0]


def test_cpu_is_never_refused() -> None:
    assert judge_variant(FACTS, H100_550, Variant("cpu"), None) == judge_variant(
        FACTS, H100_550, Variant("cpu"), "2.11.0"
    )
    assert not judge_variant(FACTS, H100_550, Variant("cpu"), None).refused


MI300X = machine_from_dict(
    {
        "rocm": "7.2.0",
        "platform": "linux-x86_64",
        "amd_gpus": [{"name": "AMD Instinct MI300X", "gfx": "gfx942"}],
    }
)
IGPU = machine_from_dict(
    {"platform": "linux-x86_64", "amd_gpus": [{"name": "AMD Radeon Graphics", "gfx": "gfx1036"}]}
)
ROCM72 = Variant("rocm", (7, 2))


def gfx_checked(facts: Facts) -> Facts:
    """The facts with every ROCm gfx list marked as checked (none is, in facts.json yet)."""

    def build(row: Any) -> Any:
        if row.gfx is None:
            return row
        return replace(row, gfx=Checked(row.gfx.value, row.gfx.source, True))

    releases = tuple(
        replace(release, builds=tuple(build(row) for row in release.builds))
        for release in facts.releases
    )
    return replace(facts, releases=releases)


def test_a_listed_gfx_goes_ahead() -> None:
    assert judge_variant(FACTS, MI300X, ROCM72, "2.11.0") == judge_variant(
        gfx_checked(FACTS), MI300X, ROCM72, "2.11.0"
    )
    assert not judge_variant(FACTS, MI300X, ROCM72, "2.11.0").refused


def test_an_unlisted_gfx_warns_on_unchecked_facts_and_is_refused_on_checked_ones() -> None:
    fit = judge_variant(FACTS, IGPU, ROCM72, "2.11.0", option="--rocm 7.2")
    assert not fit.refused
    assert (
        "GPU 0 (AMD Radeon Graphics, gfx1036) is not among the gfx targets of rocm7.2"
        in (fit.notes[0])
    )
    assert "unchecked" in fit.notes[0]
    checked = judge_variant(gfx_checked(FACTS), IGPU, ROCM72, "2.11.0", option="--rocm 7.2")
    assert checked.refusal is not None
    assert checked.refusal.startswith("--rocm 7.2 cannot run on this machine: AMD GPU 0")
    assert "Nothing was downloaded or changed" in checked.refusal
    assert "(picks cpu here)" in checked.refusal and "--cpu" in checked.refusal


def test_auto_on_an_amd_only_machine_picks_a_rocm_build_with_its_gfx() -> None:
    name, reason = choose_auto_variant(FACTS, MI300X, "2.11.0")
    assert name == "rocm7.2"
    assert "AMD Instinct MI300X (gfx942)" in reason and "with kernels for it" in reason
    # ROCm's GPU list only matters for AMD: the rocm runtime alone still picks ROCm
    runtime_only = machine_from_dict({"rocm": "6.4.1", "platform": "linux-x86_64"})
    assert choose_auto_variant(FACTS, runtime_only, "2.8.0")[0] == "rocm6.4"
    name, reason = choose_auto_variant(FACTS, IGPU, "2.11.0")
    assert name == "cpu"
    assert "no ROCm build of torch 2.11 has kernels for it" in reason


MAC = machine_from_dict({"mps": True, "platform": "darwin-arm64"})


def test_cuda_on_a_mac_is_refused_in_one_line_pointing_at_the_default_build() -> None:
    fit = judge_variant(FACTS, MAC, CU130, None, option="--cuda 13.0")
    assert fit.refusal == (
        "--cuda 13.0: PyTorch publishes no CUDA builds for macOS (this is darwin-arm64, Apple"
        " MPS available); nothing was changed. Run `poetry torch install --cpu` (or `--cuda"
        " auto`, which picks it): the macOS wheels, the same as PyPI's, include MPS."
    )
    assert not fit.forcible  # no such wheel exists: --force cannot help
    assert judge_variant(FACTS, MAC, Variant("rocm", (6, 4)), None).refused
    assert judge_variant(FACTS, MAC, Variant("xpu"), None).refused
    assert not judge_variant(FACTS, MAC, Variant("cpu"), None).refused
    # and --cuda auto on a Mac picks that build
    assert choose_auto_variant(FACTS, MAC, None)[0] == "cpu"


def test_xpu_is_installed_with_a_note() -> None:
    fit = judge_variant(
        FACTS, machine_from_dict({"platform": "linux-x86_64"}), Variant("xpu"), None
    )
    assert not fit.refused
    assert "No Intel GPU found" in fit.notes[0]
