"""Which vendors' probes run (device nodes), and how NVML is opened (issue 24 item 1)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.machine import amd
from poetry_torch_plugin.machine import detect
from poetry_torch_plugin.machine import intel
from poetry_torch_plugin.machine import nvml
from poetry_torch_plugin.machine import probes


def _root(tmp_path: Path, *nodes: str) -> Path:
    for node in nodes:
        path = tmp_path / node
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    (tmp_path / "dev").mkdir(exist_ok=True)
    return tmp_path


# The real gate, not the conftest's every-family stand-in.
PRESENT = detect.present_families


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        pytest.param((), detect.Families(False, False, False), id="ci-runner"),
        pytest.param(
            ("dev/nvidia0", "dev/nvidiactl", "dev/nvidia-uvm"),
            detect.Families(True, False, False),
            id="nvidia-container",
        ),
        pytest.param(
            ("proc/driver/nvidia/version",), detect.Families(True, False, False), id="proc"
        ),
        pytest.param(("dev/dxg",), detect.Families(True, False, False), id="wsl2"),
        pytest.param(
            ("dev/nvhost-ctrl", "dev/nvmap"), detect.Families(True, False, False), id="jetson"
        ),
        pytest.param(
            ("dev/kfd", "dev/dri/renderD128", "dev/dri/card0"),
            detect.Families(False, True, True),
            id="amd",
        ),
        pytest.param(("dev/dri/card0",), detect.Families(False, False, False), id="display-only"),
    ],
)
def test_present_families_on_linux(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    nodes: tuple[str, ...],
    expected: detect.Families,
) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    assert PRESENT(_root(tmp_path, *nodes)) == expected


@pytest.mark.parametrize(("system", "nvidia"), [("Windows", True), ("Darwin", False)])
def test_present_families_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, system: str, nvidia: bool
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    assert PRESENT(tmp_path) == detect.Families(nvidia=nvidia, amd=True, intel=True)


def _refuse(name: str) -> Any:
    def probe(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"{name} ran on a machine without its device nodes")

    return probe


def test_detect_machine_skips_absent_vendors(monkeypatch: pytest.MonkeyPatch) -> None:
    """No device node of any vendor: no NVML, no nvidia-smi, no vendor tool, no sysfs walk."""
    monkeypatch.delenv(detect.FAKE_MACHINE_ENV, raising=False)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    for module, name in (
        (nvml, "probe_nvml"),
        (probes, "probe_nvidia_smi"),
        (probes, "probe_proc_driver"),
        (probes, "probe_rocm"),
        (amd, "probe_amd_gpus"),
        (intel, "probe_intel_gpus"),
    ):
        monkeypatch.setattr(module, name, _refuse(name))
    monkeypatch.setattr(probes, "probe_nvcc", lambda: None)
    monkeypatch.setattr(probes, "probe_jetson", lambda: None)
    monkeypatch.setattr(probes, "rocm_version_file", lambda: "6.4.1")
    machine = detect.detect_machine(families=detect.Families(False, False, False))
    assert machine == Machine(None, None, False, "6.4.1", "linux-x86_64")


def test_absent_vendors_probe_modules_are_not_imported() -> None:
    """Where no AMD or Intel GPU's nodes are, their probe modules are not even imported (as
    NVML's, where no NVIDIA driver is): ``poetry torch check`` loads what it runs."""
    code = (
        "import sys\n"
        "from poetry_torch_plugin.machine import detect\n"
        "detect.detect_machine(use_nvml=False, families=detect.Families(False, False, False))\n"
        "print(sorted(m for m in ('amd', 'intel', 'nvml')"
        " if f'poetry_torch_plugin.machine.{m}' in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != detect.FAKE_MACHINE_ENV}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "[]"


def test_nvml_is_opened_by_name_without_find_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """As NVML's own bindings do: ``ctypes.CDLL("libnvidia-ml.so.1")``; find_library would run
    ``ldconfig -p`` and then gcc where the library is missing."""
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(ctypes.util, "find_library", _refuse("find_library"))
    opened: list[str] = []

    def cdll(name: str) -> Any:
        opened.append(name)
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert nvml.probe_nvml() is None
    assert opened == ["libnvidia-ml.so.1"]


def test_nvml_on_windows_tries_nvml_dll_then_the_driver_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    monkeypatch.setattr(ctypes.util, "find_library", _refuse("find_library"))
    opened: list[str] = []

    def cdll(name: str) -> Any:
        opened.append(name)
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert nvml.probe_nvml() is None
    assert opened[0] == "nvml.dll"
    assert [Path(name).name for name in opened[1:]] == ["nvml.dll", "nvml.dll"]
