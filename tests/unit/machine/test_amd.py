"""AMD GPUs and their gfx targets from the KFD topology, amd-smi and rocminfo (issue 13 item 4),
read from the outputs in tests/fixtures/amd."""

from __future__ import annotations

import json

from pathlib import Path

import pytest

from poetry_torch_plugin.core.machine import AmdGpu
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.machine import amd
from poetry_torch_plugin.machine.amd import gfx_from_target_version
from poetry_torch_plugin.machine.amd import parse_amd_smi_asic
from poetry_torch_plugin.machine.amd import parse_kfd_properties
from poetry_torch_plugin.machine.amd import parse_rocminfo
from poetry_torch_plugin.machine.amd import probe_amd_gpus
from poetry_torch_plugin.machine.amd import probe_kfd
from poetry_torch_plugin.machine.detect import machine_from_dict


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "amd"
MI300X = AmdGpu(0, "AMD GPU", "gfx942")


@pytest.mark.parametrize(
    ("value", "gfx"),
    [
        (90402, "gfx942"),
        (90010, "gfx90a"),
        (90008, "gfx908"),
        (110000, "gfx1100"),
        (120001, "gfx1201"),
        (90500, "gfx950"),
        (0, None),
        (91600, None),
    ],
)
def test_gfx_from_target_version(value: int, gfx: str | None) -> None:
    assert gfx_from_target_version(value) == gfx


def test_kfd_topology_mi300x() -> None:
    assert probe_kfd(FIXTURES / "kfd-mi300x") == (MI300X, AmdGpu(1, "AMD GPU", "gfx942"))


def test_kfd_topology_rx7900xtx() -> None:
    assert probe_kfd(FIXTURES / "kfd-rx7900xtx") == (AmdGpu(0, "AMD GPU", "gfx1100"),)


def test_kfd_cpu_node_and_other_vendors_are_not_amd_gpus() -> None:
    nodes = FIXTURES / "kfd-mi300x/sys/class/kfd/kfd/topology/nodes"
    assert parse_kfd_properties((nodes / "0/properties").read_text()) is None
    assert parse_kfd_properties("gfx_target_version 90402\nvendor_id 32902\n") is None
    assert parse_kfd_properties("") is None


def test_no_kfd_means_no_gpu(tmp_path: Path) -> None:
    assert probe_kfd(tmp_path) == ()


def test_rocminfo_lists_gpu_agents_only() -> None:
    mi300x = parse_rocminfo((FIXTURES / "rocminfo-mi300x.txt").read_text())
    assert mi300x == (AmdGpu(0, "AMD Instinct MI300X", "gfx942"),)
    radeon = parse_rocminfo((FIXTURES / "rocminfo-rx7900xtx.txt").read_text())
    assert radeon == (
        AmdGpu(0, "Radeon RX 7900 XTX", "gfx1100"),
        AmdGpu(1, "AMD Radeon Graphics", "gfx1036"),
    )
    assert parse_rocminfo("") == ()
    assert parse_rocminfo("ROCk module is NOT loaded, possibly no GPU devices") == ()


def test_amd_smi_static_asic() -> None:
    gpus = parse_amd_smi_asic((FIXTURES / "amd-smi-static-asic-mi300x.json").read_text())
    assert gpus == (
        AmdGpu(0, "AMD Instinct MI300X", "gfx942"),
        AmdGpu(1, "AMD Instinct MI300X", "gfx942"),
    )
    assert parse_amd_smi_asic("not json") == ()
    assert parse_amd_smi_asic(json.dumps({"asic": {"target_graphics_version": "N/A"}})) == (
        AmdGpu(0, "AMD GPU", None),
    )


def test_probe_falls_back_to_rocminfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (FIXTURES / "rocminfo-rx7900xtx.txt").read_text()
    monkeypatch.setattr(
        "shutil.which", lambda name: "/opt/rocm/bin/rocminfo" if name == "rocminfo" else None
    )
    monkeypatch.setattr(amd, "tool_output", lambda argv: text)
    assert [gpu.gfx for gpu in probe_amd_gpus(tmp_path)] == ["gfx1100", "gfx1036"]
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert probe_amd_gpus(tmp_path) == ()


def test_fake_machine_round_trip_with_amd_gpus() -> None:
    data = {
        "nvidia": None,
        "nvcc": None,
        "mps": False,
        "rocm": "6.4.1",
        "platform": "linux-x86_64",
        "amd_gpus": [{"index": 0, "name": "AMD Instinct MI300X", "gfx": "gfx942"}],
    }
    machine = machine_from_dict(data)
    assert machine.amd_gpus == (AmdGpu(0, "AMD Instinct MI300X", "gfx942"),)
    assert machine.has_gpu
    assert json.loads(json.dumps(machine_to_dict(machine))) == data
    # no AMD GPU: the key is left out, as recorded before AMD detection
    assert "amd_gpus" not in machine_to_dict(machine_from_dict({}))
    with pytest.raises(ValueError, match="amd_gpus"):
        machine_from_dict({"amd_gpus": "gfx942"})
