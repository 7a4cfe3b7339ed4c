"""Intel GPUs from ``/sys/class/drm/*/device`` (issue 13 item 5): vendor 0x8086 display
controllers, named by family, and whether PyTorch's xpu builds support them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.machine import IntelGpu
from poetry_torch_plugin.core.machine import intel_gpu
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.core.variants import XPU
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.machine.intel import parse_drm_device
from poetry_torch_plugin.machine.intel import probe_intel_gpus


if TYPE_CHECKING:
    from pathlib import Path

FACTS = load_facts()


def sysfs(root: Path, cards: dict[str, tuple[str, str, str]]) -> Path:
    """A ``sys/class/drm`` with ``cardN`` (and its ``renderD`` twin) -> a PCI device folder
    holding ``vendor``, ``device`` and ``class``, as the kernel lays it out."""
    drm = root / "sys/class/drm"
    drm.mkdir(parents=True)
    for number, (card, (vendor, device, pci_class)) in enumerate(cards.items()):
        pci = root / f"sys/devices/pci0000:00/0000:0{number}:00.0"
        pci.mkdir(parents=True)
        (pci / "vendor").write_text(vendor + "\n")
        (pci / "device").write_text(device + "\n")
        (pci / "class").write_text(pci_class + "\n")
        (drm / card).mkdir()
        (drm / card / "device").symlink_to(pci)
        (drm / f"{card}-DP-1").mkdir()  # a connector: not a card
        render = drm / f"renderD{128 + number}"
        render.mkdir()
        (render / "device").symlink_to(pci)
    return root


def test_arc_a770_next_to_an_nvidia_card(tmp_path: Path) -> None:
    root = sysfs(
        tmp_path,
        {"card0": ("0x8086", "0x56a0", "0x030000"), "card1": ("0x10de", "0x2684", "0x030000")},
    )
    assert probe_intel_gpus(root) == (IntelGpu(0, "0x56a0", "Intel Arc A-series", True),)


def test_data_center_gpu_max_and_an_old_igpu(tmp_path: Path) -> None:
    root = sysfs(
        tmp_path,
        {
            "card0": ("0x8086", "0x3e92", "0x030000"),  # UHD Graphics 630
            "card1": ("0x8086", "0x0bd5", "0x038000"),  # Data Center GPU Max 1550
        },
    )
    assert probe_intel_gpus(root) == (
        IntelGpu(0, "0x3e92", "Intel GPU", False),
        IntelGpu(1, "0x0bd5", "Intel Data Center GPU Max", True),
    )


def test_no_drm_means_no_intel_gpu(tmp_path: Path) -> None:
    assert probe_intel_gpus(tmp_path) == ()


@pytest.mark.parametrize(
    ("files", "device"),
    [
        (("0x8086", "0x56a0", "0x030000"), "0x56a0"),
        (("0x8086\n", "0xE20B\n", "0x030000\n"), "0xe20b"),
        (("0x8086", "0x1234", "0x060400"), None),  # a bridge, not a display controller
        (("0x1002", "0x744c", "0x030000"), None),
        (("0x8086", "", "0x030000"), None),
    ],
)
def test_parse_drm_device(files: tuple[str, str, str], device: str | None) -> None:
    assert parse_drm_device(*files) == device


def test_families() -> None:
    assert intel_gpu(0, "0xE20B") == IntelGpu(0, "0xe20b", "Intel Arc B-series", True)
    assert intel_gpu(0, "0x56c0").name == "Intel Data Center GPU Flex"
    assert intel_gpu(0, "0x7d55").xpu
    assert not intel_gpu(0, "0x9a49").xpu  # Iris Xe


ARC = machine_from_dict({"platform": "linux-x86_64", "intel_gpus": [{"device_id": "0x56a0"}]})
UHD = machine_from_dict({"platform": "linux-x86_64", "intel_gpus": [{"device_id": "0x3e92"}]})


def test_fake_machine_round_trip() -> None:
    assert ARC.intel_gpus == (IntelGpu(0, "0x56a0", "Intel Arc A-series", True),)
    assert ARC.has_gpu and not UHD.has_gpu
    data = machine_to_dict(ARC)
    assert list(data["intel_gpus"]) == [
        {"index": 0, "device_id": "0x56a0", "name": "Intel Arc A-series", "xpu": True}
    ]
    assert machine_from_dict(data) == ARC
    with pytest.raises(ValueError, match="device_id"):
        machine_from_dict({"intel_gpus": [{}]})


def test_auto_picks_xpu_when_an_xpu_gpu_is_the_only_accelerator() -> None:
    name, reason = choose_auto_variant(FACTS, ARC, "2.11.0")
    assert name == "xpu"
    assert "Intel Arc A-series (0x56a0) found and no NVIDIA or AMD GPU" in reason
    assert choose_auto_variant(FACTS, UHD, "2.11.0")[0] == "cpu"
    # torch 2.4 has no xpu build in the facts
    assert choose_auto_variant(FACTS, ARC, "2.4.0")[0] == "cpu"


def test_explicit_xpu_checks_for_an_intel_gpu() -> None:
    assert judge_variant(FACTS, ARC, XPU, None).notes == ()
    assert "not among the Intel GPUs" in judge_variant(FACTS, UHD, XPU, None).notes[0]
    assert "No Intel GPU found" in judge_variant(FACTS, machine_from_dict({}), XPU, None).notes[0]
