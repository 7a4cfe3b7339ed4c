"""Apple (sw_vers, sysctl), Jetson (nv_tegra_release, device tree) and Windows tool paths."""

from __future__ import annotations

import platform
import shutil

from pathlib import Path

import pytest

from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.machine import Jetson
from poetry_torch_plugin.core.machine import jetson_line
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine import probes
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.machine.intel import parse_xpu_smi_discovery
from poetry_torch_plugin.machine.probes import apple_silicon
from poetry_torch_plugin.machine.probes import mps_usable
from poetry_torch_plugin.machine.probes import nvml_library_names
from poetry_torch_plugin.machine.probes import parse_compatible
from poetry_torch_plugin.machine.probes import parse_sw_vers
from poetry_torch_plugin.machine.probes import parse_sysctl
from poetry_torch_plugin.machine.probes import parse_tegra_release
from poetry_torch_plugin.machine.probes import probe_jetson
from poetry_torch_plugin.machine.probes import windows_tool


MACHINES = Path(__file__).resolve().parents[2] / "fixtures" / "machines"
FACTS = load_facts()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (read(MACHINES / "apple-m2/sw_vers.txt"), "14.5"),
        (read(MACHINES / "apple-m1-rosetta/sw_vers.txt"), "13.6.7"),
        ("ProductName:\tMac OS X\nProductVersion:\t10.15.7\nBuildVersion:\t19H2026\n", "10.15.7"),
        ("sw_vers: command not found\n", None),
    ],
)
def test_parse_sw_vers(text: str, expected: str | None) -> None:
    assert parse_sw_vers(text) == expected


@pytest.mark.parametrize(
    ("text", "silicon"),
    [
        (read(MACHINES / "apple-m2/sysctl.txt"), True),
        (read(MACHINES / "apple-m1-rosetta/sysctl.txt"), True),
        # an Intel Mac: hw.optional.arm64 is missing, so sysctl prints only the brand
        ("machdep.cpu.brand_string: Intel(R) Core(TM) i7-8850H CPU @ 2.60GHz\n", False),
        ("", False),
    ],
)
def test_apple_silicon_from_sysctl(text: str, silicon: bool) -> None:
    assert apple_silicon(parse_sysctl(text)) is silicon


@pytest.mark.parametrize(
    ("macos", "arm64", "silicon", "expected"),
    [
        ("14.5", True, True, True),
        ("12.3", True, True, True),
        ("12.2.1", True, True, False),  # pytorch/pytorch#78343: MPS built, not available
        ("13.6.7", False, True, False),  # Rosetta 2: an x86_64 Python has no MPS
        ("14.5", False, False, False),  # an Intel Mac
        (None, True, True, False),
    ],
)
def test_mps_usable(macos: str | None, arm64: bool, silicon: bool, expected: bool) -> None:
    assert mps_usable(macos, arm64, silicon) is expected


def test_version_tuple() -> None:
    assert version_tuple("14.5") == (14, 5)
    assert version_tuple("13.6.7") == (13, 6, 7)
    assert version_tuple(None) == ()
    assert version_tuple("14.5") < version_tuple("14.10")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (read(MACHINES / "jetson-orin-jp5/root/etc/nv_tegra_release"), "R35.4.1"),
        (read(MACHINES / "jetson-orin-jp6/root/etc/nv_tegra_release"), "R36.4.3"),
        (
            "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64\n",
            "R32.7.4",
        ),
        ("garbage\n", None),
    ],
)
def test_parse_tegra_release(text: str, expected: str | None) -> None:
    assert parse_tegra_release(text) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ((MACHINES / "jetson-orin-jp5/root/proc/device-tree/compatible").read_bytes(), "tegra234"),
        (b"nvidia,p3710-0010\x00nvidia,tegra264\x00", "tegra264"),
        (b"raspberrypi,5-model-b\x00brcm,bcm2712\x00", None),
        (b"", None),
    ],
)
def test_parse_compatible(data: bytes, expected: str | None) -> None:
    assert parse_compatible(data) == expected


def test_probe_jetson_reads_the_device_tree_and_l4t(tmp_path: Path) -> None:
    assert probe_jetson(tmp_path) is None  # not a Jetson
    jetson = probe_jetson(MACHINES / "jetson-orin-jp6/root")
    assert jetson == Jetson(
        "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", "tegra234", "R36.4.3"
    )
    # Only the release file (a container that hides /proc/device-tree): still a Jetson.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_bytes(
        (MACHINES / "jetson-orin-jp5/root/etc/nv_tegra_release").read_bytes()
    )
    only_l4t = probe_jetson(tmp_path)
    assert only_l4t == Jetson("NVIDIA Jetson", None, "R35.4.1")
    assert only_l4t is not None and not only_l4t.runs_pytorch_cuda_wheels


def test_jetson_thor_takes_pytorch_s_sbsa_wheels() -> None:
    """Thor (tegra264, JetPack 7) runs SBSA CUDA: its GPU is judged like a GH200's."""
    thor = machine_from_dict(
        {
            "platform": "linux-aarch64",
            "nvidia": {
                "driver_version": "580.00",
                "cuda_driver_version": [13, 0],
                "gpus": [{"name": "NVIDIA Thor", "compute_capability": [11, 0]}],
            },
            "jetson": {"model": "NVIDIA Jetson AGX Thor Developer Kit", "soc": "tegra264"},
        }
    )
    assert thor.jetson is not None and thor.jetpack_only is None
    picked, reason = choose_auto_variant(FACTS, thor, "2.11.0")
    assert picked == "cu130", reason


def test_a_jetpack_jetson_gets_one_line_everywhere() -> None:
    """auto, an explicit --cuda and check's verdict share jetson_line's words."""
    orin = machine_from_dict(
        {
            "platform": "linux-aarch64",
            "jetson": {"model": "NVIDIA Jetson AGX Orin", "soc": "tegra234", "l4t": "R36.4.3"},
        }
    )
    assert orin.jetpack_only is not None
    line = jetson_line(orin.jetpack_only)
    assert "sm_87" in line and "JetPack" in line and "\n" not in line
    picked, reason = choose_auto_variant(FACTS, orin, "2.11.0")
    assert picked == "cpu" and reason.startswith(line)
    fit = judge_variant(FACTS, orin, parse_cuda("12.6"), "2.11.0", option="--cuda 12.6")
    assert fit.refusal is not None and line in fit.refusal and fit.forcible
    assert [finding.code for finding in fit.findings] == ["jetson-needs-jetpack"]
    assert "\n" not in fit.refusal


def test_windows_tool_falls_back_to_the_driver_folders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system32, nvsmi = tmp_path / "System32", tmp_path / "NVSMI"
    monkeypatch.setattr(probes, "WINDOWS_NVIDIA_DIRS", (system32, nvsmi))
    monkeypatch.setattr(shutil, "which", lambda name, *_a, **_k: None)
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    assert windows_tool("nvidia-smi") is None
    nvsmi.mkdir()
    (nvsmi / "nvidia-smi.exe").write_bytes(b"")
    assert windows_tool("nvidia-smi") == str(nvsmi / "nvidia-smi.exe")
    system32.mkdir()
    (system32 / "nvidia-smi.exe").write_bytes(b"")
    assert windows_tool("nvidia-smi") == str(system32 / "nvidia-smi.exe")
    assert nvml_library_names() == (
        "nvml.dll",
        str(system32 / "nvml.dll"),
        str(nvsmi / "nvml.dll"),
    )
    # Elsewhere only PATH counts, and NVML is libnvidia-ml.so.1.
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert windows_tool("nvidia-smi") is None
    assert nvml_library_names() == ("libnvidia-ml.so.1",)


# Verbatim from Intel's "XPU System Management Interface User Guide" (intel/xpumanager,
# doc/smi_user_guide.md, the `xpu-smi discovery -j` example).
XPU_SMI_DOC_SAMPLE = """{
    "device_list": [
        {
            "device_id": 0,
            "device_name": "Intel(R) Graphics [0x020a]",
            "device_type": "GPU",
            "pci_bdf_address": "0000:4d:00.0",
            "pci_device_id": "0x20a",
            "uuid": "00000000-0000-0000-0000-020a00008086",
            "vendor_name": "Intel(R) Corporation"
        }
    ]
}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (XPU_SMI_DOC_SAMPLE, ("0x020a",)),
        (read(MACHINES / "intel-max1550/xpu-smi-discovery.json"), ("0x0bd5", "0x0bd5")),
        ('{"device_list": []}', ()),
        ("xpu-smi: error while loading shared libraries", ()),
        ('{"device_list": [{"pci_device_id": "n/a"}]}', ()),
    ],
)
def test_parse_xpu_smi_discovery(text: str, expected: tuple[str, ...]) -> None:
    assert parse_xpu_smi_discovery(text) == expected


@pytest.mark.parametrize(
    ("macos", "torch", "warned"),
    [
        ("13.6.7", "2.11.0", True),
        ("14.5", "2.11.0", False),
        ("13.6.7", "2.8.0", False),
        (None, "2.11.0", False),
    ],
)
def test_auto_on_a_mac_names_the_macos_mps_needs(
    macos: str | None, torch: str, warned: bool
) -> None:
    data = {"platform": "darwin-arm64", "mps": True, **({"macos": macos} if macos else {})}
    picked, reason = choose_auto_variant(FACTS, machine_from_dict(data), torch)
    assert picked == "cpu" and "include MPS" in reason
    assert ("needs macOS >= 14.0" in reason) is warned, reason
