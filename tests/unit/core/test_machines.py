"""What ``--cuda auto`` picks on each kind of machine, and what an explicit ``--cuda 13.0``
says there (issue 13 item 8; the table in docs/machines.md).  The machines are fake-machine
data shaped after what detection reports for them."""

from __future__ import annotations

from typing import Any

import pytest

from poetry_torch_plugin.core.auto import choose_auto_variant
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict


FACTS = load_facts()


def nvidia(driver: str, cc: list[int], name: str, platform: str = "linux-x86_64") -> Any:
    gpus = [{"name": name, "compute_capability": cc}]
    return {"nvidia": {"driver_version": driver, "gpus": gpus}, "platform": platform}


MACHINES: dict[str, Any] = {
    "H100, driver 580": nvidia("580.65.06", [9, 0], "NVIDIA H100 80GB HBM3"),
    "A100, driver 535": nvidia("535.183.01", [8, 0], "NVIDIA A100-SXM4-80GB"),
    "V100, driver 535": nvidia("535.183.01", [7, 0], "Tesla V100-SXM2-32GB"),
    "RTX 4090 Linux, driver 550": nvidia("550.120", [8, 9], "NVIDIA GeForce RTX 4090"),
    "RTX 4090 Windows, driver 566": nvidia(
        "566.36", [8, 9], "NVIDIA GeForce RTX 4090", "windows-amd64"
    ),
    "RTX 5090, driver 575": nvidia("575.57.08", [12, 0], "NVIDIA GeForce RTX 5090"),
    "GH200 (aarch64), driver 580": nvidia(
        "580.65.06", [9, 0], "NVIDIA GH200 480GB", "linux-aarch64"
    ),
    "MI300X": {
        "rocm": "6.4.1",
        "platform": "linux-x86_64",
        "amd_gpus": [{"name": "AMD Instinct MI300X", "gfx": "gfx942"}],
    },
    "Radeon RX 7900 XTX": {
        "rocm": "6.4.1",
        "platform": "linux-x86_64",
        "amd_gpus": [{"name": "Radeon RX 7900 XTX", "gfx": "gfx1100"}],
    },
    "Intel Arc A770": {"platform": "linux-x86_64", "intel_gpus": [{"device_id": "0x56a0"}]},
    "Apple M-series Mac": {"mps": True, "platform": "darwin-arm64"},
    "CI runner, no GPU": {"platform": "linux-x86_64"},
}

# machine -> (auto for torch 2.11, what `--cuda 13.0` with torch 2.11 does: ok, note, refused)
EXPECTED = {
    "H100, driver 580": ("cu130", "ok"),
    "A100, driver 535": ("cu128", "refused: driver"),
    "V100, driver 535": ("cu126", "refused: driver, arch"),
    "RTX 4090 Linux, driver 550": ("cu128", "refused: driver"),
    "RTX 4090 Windows, driver 566": ("cu128", "ok"),
    "RTX 5090, driver 575": ("cu128", "refused: driver"),
    "GH200 (aarch64), driver 580": ("cu130", "ok"),
    "MI300X": ("rocm7.2", "note"),
    "Radeon RX 7900 XTX": ("rocm7.2", "note"),
    "Intel Arc A770": ("xpu", "note"),
    "Apple M-series Mac": ("cpu", "refused: macOS"),
    "CI runner, no GPU": ("cpu", "note"),
}


@pytest.mark.parametrize("name", MACHINES)
def test_auto_and_an_explicit_cuda_13(name: str) -> None:
    machine = machine_from_dict(MACHINES[name])
    auto, explicit = EXPECTED[name]
    picked, reason = choose_auto_variant(FACTS, machine, "2.11.0")
    assert picked == auto, reason
    fit = judge_variant(FACTS, machine, parse_cuda("13.0"), "2.11.0", option="--cuda 13.0")
    if explicit == "ok":
        assert fit.refusal is None and fit.notes == ()
    elif explicit == "note":
        assert fit.refusal is None and len(fit.notes) == 1
    else:
        assert fit.refusal is not None and "\n" not in fit.refusal
        for cause in explicit.removeprefix("refused: ").split(", "):
            word = {"driver": "NVIDIA driver", "arch": "architectures", "macOS": "macOS"}[cause]
            assert word in fit.refusal, fit.refusal
        if cause != "macOS":
            assert f"(picks {auto} here)" in fit.refusal
