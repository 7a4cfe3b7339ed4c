"""Issue 13 item 8: recorded machines, fed through the real probes and parsers.

Each folder under ``tests/fixtures/machines`` holds what a machine's own tools print (nvidia-smi,
rocminfo, amd-smi, nvcc, sw_vers, sysctl), NVML's answers (``nvml.json``, served through ctypes
to ``machine/nvml.py``) and a ``root/`` of the files detection reads (``/proc``, ``/sys``,
``/etc/nv_tegra_release``, ``/opt/rocm``).  Only the tools and the platform are replaced: every
probe, parser and decision is the shipped one.  The table in docs/machines.md is generated from
the same run (``WRITE_MACHINES_DOC=1`` rewrites it), so the two cannot drift.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import platform
import shutil

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine import amd
from poetry_torch_plugin.machine import detect
from poetry_torch_plugin.machine import intel
from poetry_torch_plugin.machine import nvml as nvml_probe
from poetry_torch_plugin.machine import probes
from poetry_torch_plugin.machine.probes import QUERY_COLUMNS
from poetry_torch_plugin.process import Finished


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "machines"
DOC = Path(__file__).resolve().parents[3] / "docs" / "machines.md"
RECORDED = {path.name for path in FIXTURES.iterdir() if (path / "machine.json").is_file()}
FACTS = load_facts()
TORCH = "2.11.0"
START, END = "<!-- machines:start -->", "<!-- machines:end -->"
# The shipped probes, taken before any test patches them, to be called with a fixture root.
PROBE_PROC, PROBE_AMD, PROBE_INTEL, PROBE_JETSON = (
    probes.probe_proc_driver,
    amd.probe_amd_gpus,
    intel.probe_intel_gpus,
    probes.probe_jetson,
)

# The tool -> the file holding its output; a tool is installed where its file exists.
TOOLS = {
    "nvidia-smi": "nvidia-smi.txt",
    "nvcc": "nvcc-version.txt",
    "rocminfo": "rocminfo.txt",
    "amd-smi": "amd-smi-static-asic.json",
    "sw_vers": "sw_vers.txt",
    "sysctl": "sysctl.txt",
    "xpu-smi": "xpu-smi-discovery.json",
}


class RecordedNvml:
    """libnvidia-ml / nvml.dll answering from ``nvml.json`` (what NVML returned there)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @staticmethod
    def _set(pointer: Any, value: int) -> None:
        pointer._obj.value = value

    def nvmlInit_v2(self) -> int:
        return 0

    def nvmlShutdown(self) -> int:
        return 0

    def nvmlSystemGetDriverVersion(self, buffer: Any, length: Any) -> int:
        buffer.value = self.data["nvmlSystemGetDriverVersion"].encode()
        return 0

    def nvmlSystemGetCudaDriverVersion_v2(self, pointer: Any) -> int:
        self._set(pointer, self.data["nvmlSystemGetCudaDriverVersion_v2"])
        return 0

    def nvmlDeviceGetCount_v2(self, pointer: Any) -> int:
        self._set(pointer, len(self.data["devices"]))
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, pointer: Any) -> int:
        pointer._obj.value = index.value + 1
        return 0

    def _device(self, handle: Any) -> dict[str, Any]:
        return dict(self.data["devices"][handle.value - 1])

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, length: Any) -> int:
        buffer.value = self._device(handle)["nvmlDeviceGetName"].encode()
        return 0

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any, major: Any, minor: Any) -> int:
        cc = self._device(handle)["nvmlDeviceGetCudaComputeCapability"]
        self._set(major, cc[0])
        self._set(minor, cc[1])
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle: Any, pointer: Any) -> int:
        pointer._obj.total = self._device(handle)["nvmlDeviceGetMemoryInfo.total"]
        return 0

    def nvmlDeviceGetMigMode(self, handle: Any, current: Any, pending: Any) -> int:
        mig = self._device(handle)["nvmlDeviceGetMigMode.current"]
        if mig is None:
            return 3  # NVML_ERROR_NOT_SUPPORTED
        self._set(current, mig)
        return 0


def _answer(folder: Path, argv: list[str]) -> Finished:
    tool, args = Path(argv[0]).name.removesuffix(".exe"), argv[1:]
    if tool == "nvidia-smi" and args:
        query = [f"--query-gpu={','.join(QUERY_COLUMNS)}", "--format=csv,noheader,nounits"]
        if args != query:
            return Finished(2, "", f'Field "{args[0]}" is not a valid field to query.\n')
        return Finished(0, (folder / "nvidia-smi-query.csv").read_text(encoding="utf-8"), "")
    expected = {
        "nvidia-smi": [],
        "nvcc": ["--version"],
        "rocminfo": [],
        "amd-smi": ["static", "--asic", "--json"],
        "sw_vers": [],
        "sysctl": ["machdep.cpu.brand_string", "hw.optional.arm64"],
        "xpu-smi": ["discovery", "-j"],
    }
    if tool == "amd-smi" and args == ["version"]:
        return Finished(1, "", "")  # the ROCm version comes from /opt/rocm/.info/version
    assert expected.get(tool) == args, f"a probe ran {argv}, which no recording answers"
    return Finished(0, (folder / TOOLS[tool]).read_text(encoding="utf-8"), "")


def detect_recorded(
    slug: str, monkeypatch: pytest.MonkeyPatch, *, nvml: bool = True, smi: bool = True
) -> Machine:
    """``detect_machine()`` on the recorded machine ``slug``."""
    folder = FIXTURES / slug
    about = json.loads((folder / "machine.json").read_text(encoding="utf-8"))
    root = folder / "root"
    monkeypatch.delenv(detect.FAKE_MACHINE_ENV, raising=False)
    monkeypatch.delenv("ROCM_PATH", raising=False)
    monkeypatch.setattr(platform, "system", lambda: about["system"])
    monkeypatch.setattr(platform, "machine", lambda: about["machine"])
    monkeypatch.setattr(platform, "mac_ver", lambda: (about.get("mac_ver", ""), ("", "", ""), ""))
    on_path = {tool for tool, name in TOOLS.items() if (folder / name).is_file()}
    if not about.get("path_has_nvidia_smi", True) or not smi:
        on_path.discard("nvidia-smi")
    if not smi:
        root_smi = ("Windows/System32", "Program Files/NVIDIA Corporation/NVSMI")
        monkeypatch.setattr(
            probes, "WINDOWS_NVIDIA_DIRS", tuple(Path("/nonexistent", part) for part in root_smi)
        )
    monkeypatch.setattr(
        shutil, "which", lambda name, *_a, **_k: f"/usr/bin/{name}" if name in on_path else None
    )
    monkeypatch.setattr(probes, "run", lambda argv, **_k: _answer(folder, list(argv)))
    if smi:
        monkeypatch.setattr(
            probes,
            "WINDOWS_NVIDIA_DIRS",
            (root / "Windows/System32", root / "Program Files/NVIDIA Corporation/NVSMI"),
        )
    recorded = folder / "nvml.json"
    data = json.loads(recorded.read_text(encoding="utf-8")) if recorded.is_file() else None

    def cdll(name: str) -> RecordedNvml:
        if nvml and data is not None and name == data["library"]:
            return RecordedNvml(data)
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(probes, "ROCM_DEFAULT_PATH", root / "opt/rocm")
    monkeypatch.setattr(probes, "probe_proc_driver", functools.partial(PROBE_PROC, root))
    monkeypatch.setattr(amd, "probe_amd_gpus", functools.partial(PROBE_AMD, root))
    monkeypatch.setattr(intel, "probe_intel_gpus", functools.partial(PROBE_INTEL, root))
    monkeypatch.setattr(probes, "probe_jetson", functools.partial(PROBE_JETSON, root))
    return detect.detect_machine()


def detected(machine: Machine) -> str:
    """What detection found, in a few words (the table's "detected" column)."""
    parts: list[str] = []
    nvidia = machine.nvidia
    if nvidia is not None:
        for gpu in nvidia.gpus:
            cc = gpu.compute_capability
            parts.append(f"{gpu.name} ({f'sm_{cc[0]}{cc[1]}' if cc else 'no compute capability'})")
        cuda = nvidia.cuda_driver_version
        runs = f" (CUDA {cuda[0]}.{cuda[1]})" if cuda else ""
        parts.append(f"driver {nvidia.driver_version}{runs} via {nvidia.source}")
    parts += [f"{gpu.name} ({gpu.gfx})" for gpu in machine.amd_gpus]
    if machine.rocm is not None:
        parts.append(f"ROCm {machine.rocm}")
    parts += [f"{gpu.name} ({gpu.device_id})" for gpu in machine.intel_gpus]
    if machine.jetson is not None:
        parts.append(machine.jetson.describe())
    if machine.macos is not None or machine.mps:
        parts.append(
            f"macOS {machine.macos}, MPS {'available' if machine.mps else 'not available'}"
        )
    return f"{'; '.join(parts) or 'no GPU'}; {machine.platform}"


def outcome(machine: Machine) -> tuple[str, str, str]:
    """(what ``--cuda auto`` picks, why, what ``--cuda 13.0`` says) for torch 2.11."""
    picked, reason = choose_auto_variant(FACTS, machine, TORCH)
    fit = judge_variant(FACTS, machine, parse_cuda("13.0"), TORCH, option="--cuda 13.0")
    said = fit.refusal or " ".join(fit.notes) or "installs (nothing against it)"
    return picked, reason, said


# slug -> (what auto picks, what `--cuda 13.0` does: ok | note | refused: <causes>)
EXPECTED = {
    "h100": ("cu130", "ok"),
    "a100": ("cu128", "refused: driver"),
    "v100": ("cu126", "refused: driver, arch"),
    "rtx4090-linux": ("cu128", "refused: driver"),
    "rtx4090-windows": ("cu128", "refused: driver"),
    "rtx5090": ("cu128", "refused: driver"),
    "gh200": ("cu130", "ok"),
    "jetson-orin-jp5": ("cpu", "refused: Jetson"),
    "jetson-orin-jp6": ("cpu", "refused: Jetson"),
    "mi300x": ("rocm7.2", "note"),
    "rx7900xtx": ("rocm7.2", "note"),
    "intel-max1550": ("xpu", "note"),
    "intel-arc-a770": ("xpu", "note"),
    "apple-m2": ("cpu", "refused: macOS"),
    "apple-m1-rosetta": ("cpu", "refused: macOS"),
    "ci-runner": ("cpu", "note"),
}
# The table's order: EXPECTED's; a recording missing from it fails the test below.
SLUGS = [slug for slug in EXPECTED if slug in RECORDED]
CAUSES = {"driver": "NVIDIA driver", "arch": "architectures", "macOS": "macOS", "Jetson": "JetPack"}


def test_every_recording_has_an_expectation() -> None:
    assert set(EXPECTED) == RECORDED
    assert len(RECORDED) >= 12


@pytest.mark.parametrize("slug", SLUGS)
def test_recorded_machine(slug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = detect_recorded(slug, monkeypatch)
    auto, explicit = EXPECTED[slug]
    picked, reason, said = outcome(machine)
    assert picked == auto, reason
    assert "\n" not in reason and "\n" not in said
    fit = judge_variant(FACTS, machine, parse_cuda("13.0"), TORCH, option="--cuda 13.0")
    if explicit == "ok":
        assert fit.refusal is None and fit.notes == ()
    elif explicit == "note":
        assert fit.refusal is None and len(fit.notes) == 1
    else:
        assert fit.refusal is not None and fit.refusal.startswith("--cuda 13.0"), fit
        for cause in explicit.removeprefix("refused: ").split(", "):
            assert CAUSES[cause] in fit.refusal, fit.refusal


NVIDIA_SLUGS = [slug for slug in SLUGS if (FIXTURES / slug / "nvml.json").is_file()]


@pytest.mark.parametrize("slug", NVIDIA_SLUGS)
def test_nvml_and_nvidia_smi_agree(slug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without NVML, nvidia-smi (or nvidia-smi.exe) finds the same driver and GPUs."""
    through_nvml = detect_recorded(slug, monkeypatch).nvidia
    through_smi = detect_recorded(slug, monkeypatch, nvml=False).nvidia
    assert through_nvml is not None and through_nvml.source == "nvml"
    assert through_smi is not None and through_smi.source == "nvidia-smi"
    assert through_smi.driver_version == through_nvml.driver_version
    assert through_smi.cuda_driver_version == through_nvml.cuda_driver_version
    assert through_smi.gpus == through_nvml.gpus


PROC_SLUGS = [slug for slug in SLUGS if (FIXTURES / slug / "root/proc/driver/nvidia").is_dir()]


@pytest.mark.parametrize("slug", PROC_SLUGS)
def test_without_nvml_or_nvidia_smi_proc_finds_the_driver(
    slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel module's /proc/driver/nvidia/version still names the driver."""
    through_nvml = detect_recorded(slug, monkeypatch).nvidia
    through_proc = detect_recorded(slug, monkeypatch, nvml=False, smi=False).nvidia
    assert through_nvml is not None and through_proc is not None
    assert through_proc.source == "proc"
    assert through_proc.driver_version == through_nvml.driver_version


def test_windows_finds_nvidia_smi_exe_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """nvidia-smi.exe is not on this PATH: it is found in System32; NVML is asked for as
    nvml.dll, then by the full paths the driver uses."""
    machine = detect_recorded("rtx4090-windows", monkeypatch, nvml=False)
    assert machine.nvidia is not None and machine.nvidia.source == "nvidia-smi"
    assert machine.platform == "windows-amd64"
    asked: list[str] = []

    def cdll(name: str) -> Any:
        asked.append(name)
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert nvml_probe.probe_nvml() is None
    assert asked[0] == "nvml.dll" and len(asked) == 3
    assert all(name.replace("\\", "/").endswith("/nvml.dll") for name in asked[1:])


def test_jetson_without_nvidia_smi_is_still_a_jetson(monkeypatch: pytest.MonkeyPatch) -> None:
    """JetPack 5 has no nvidia-smi, NVML or /proc/driver/nvidia: the device tree tells."""
    machine = detect_recorded("jetson-orin-jp5", monkeypatch)
    assert machine.nvidia is None
    assert machine.jetson is not None
    assert (machine.jetson.soc, machine.jetson.l4t) == ("tegra234", "R35.4.1")
    assert machine.jetson.compute_capability == (8, 7)
    assert machine.has_gpu and machine.jetpack_only is machine.jetson


def test_intel_without_drm_sysfs_asks_xpu_smi(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Where /sys/class/drm is not there, xpu-smi finds the same two Max 1550s."""
    from_sysfs = detect_recorded("intel-max1550", monkeypatch).intel_gpus
    monkeypatch.setattr(intel, "probe_intel_gpus", functools.partial(PROBE_INTEL, tmp_path))
    from_xpu_smi = detect.detect_machine().intel_gpus
    assert from_xpu_smi == from_sysfs
    assert [gpu.device_id for gpu in from_sysfs] == ["0x0bd5", "0x0bd5"]


def doc_table(rows: list[tuple[str, str, str, str, str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    head = (
        "| machine | recorded | detected | `--cuda auto` picks | why (auto's own words) |"
        " `--cuda 13.0` says |\n|---|---|---|---|---|---|\n"
    )
    return head + "".join(f"| {' | '.join(cell(part) for part in row)} |\n" for row in rows)


def test_docs_table_is_generated_from_the_recordings(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = []
    for slug in SLUGS:
        about = json.loads((FIXTURES / slug / "machine.json").read_text(encoding="utf-8"))
        with monkeypatch.context() as patch:
            machine = detect_recorded(slug, patch)
        picked, reason, said = outcome(machine)
        where = f"[{about['recorded']}](../tests/fixtures/machines/{slug})"
        rows.append((about["name"], where, detected(machine), f"**{picked}**", reason, said))
    table = doc_table(rows)
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(START + "\n")
    _, _, after = rest.partition(END)
    assert before and after, f"docs/machines.md lost its {START} / {END} markers"
    if os.environ.get("WRITE_MACHINES_DOC") == "1":
        DOC.write_text(f"{before}{START}\n{table}{END}{after}", encoding="utf-8")
        rest = f"{table}{END}"
    assert rest.partition(END)[0] == table, (
        "docs/machines.md is out of date; rerun this test with WRITE_MACHINES_DOC=1"
    )
