from __future__ import annotations

import ctypes
import json
import platform
import stat
import threading
import time

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.machine import DriverReading
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.machine import nvml as nvml_probe
from poetry_torch_plugin.machine import probes
from poetry_torch_plugin.machine.detect import FAKE_MACHINE_ENV
from poetry_torch_plugin.machine.detect import detect_machine
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.machine.nvml import _NvmlMemory
from poetry_torch_plugin.machine.nvml import probe_nvml
from poetry_torch_plugin.machine.probes import MINIMAL_QUERY_COLUMNS
from poetry_torch_plugin.machine.probes import QUERY_COLUMNS
from poetry_torch_plugin.machine.probes import parse_nvcc_version
from poetry_torch_plugin.machine.probes import parse_proc_driver_version
from poetry_torch_plugin.machine.probes import parse_query_gpu_csv
from poetry_torch_plugin.machine.probes import parse_smi_header
from poetry_torch_plugin.machine.probes import probe_macos
from poetry_torch_plugin.machine.probes import probe_nvcc
from poetry_torch_plugin.machine.probes import probe_nvidia_smi
from poetry_torch_plugin.machine.probes import probe_proc_driver
from poetry_torch_plugin.machine.probes import probe_rocm


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
H100 = FIXTURES / "nvidia-h100"
SYNTHETIC = FIXTURES / "synthetic"
# The column list of the recorded H100 query (see its README.md).
H100_COLUMNS = ("name", "driver_version", "compute_cap", "pci.device_id", "memory.total")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def h100_gpu(index: int = 0) -> Gpu:
    return Gpu(index, "NVIDIA H100 80GB HBM3", (9, 0), 81559, False)


@pytest.fixture(autouse=True)
def _no_fake_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAKE_MACHINE_ENV, raising=False)
    monkeypatch.delenv("ROCM_PATH", raising=False)


# Parsers


@pytest.mark.parametrize(
    ("text", "columns", "expected"),
    [
        pytest.param(
            read(H100 / "nvidia-smi--query-gpu.csv"),
            H100_COLUMNS,
            NvidiaInfo("580.159.04", None, (h100_gpu(),), "nvidia-smi"),
            id="h100-recorded-with-units",
        ),
        pytest.param(
            # Recorded on the H100 machine with QUERY_COLUMNS (nounits).
            "0, NVIDIA H100 80GB HBM3, 580.159.04, 9.0, 81559, Disabled\n",
            QUERY_COLUMNS,
            NvidiaInfo("580.159.04", None, (h100_gpu(),), "nvidia-smi"),
            id="h100-recorded-full-query",
        ),
        pytest.param(
            "0, NVIDIA H100 80GB HBM3, 580.159.04, 81559\n",
            MINIMAL_QUERY_COLUMNS,
            NvidiaInfo(
                "580.159.04", None, (Gpu(0, "NVIDIA H100 80GB HBM3", None, 81559),), "nvidia-smi"
            ),
            id="h100-recorded-minimal-query",
        ),
        pytest.param(
            read(SYNTHETIC / "mixed-query-gpu.csv"),
            QUERY_COLUMNS,
            NvidiaInfo(
                "550.54.15",
                None,
                (
                    Gpu(0, "NVIDIA A100-SXM4-80GB", (8, 0), 81920, False),
                    Gpu(1, "NVIDIA A100-SXM4-80GB", (8, 0), 81920, False),
                    Gpu(2, "NVIDIA GeForce RTX 4090", (8, 9), 24564, False),
                ),
                "nvidia-smi",
            ),
            id="mixed-a100-4090",
        ),
        pytest.param(
            read(SYNTHETIC / "mig-query-gpu.csv"),
            QUERY_COLUMNS,
            NvidiaInfo(
                "535.104.05",
                None,
                (Gpu(0, "NVIDIA A100-SXM4-40GB", (8, 0), 40960, True),),
                "nvidia-smi",
            ),
            id="mig-enabled",
        ),
        pytest.param(
            read(SYNTHETIC / "driver-470-query-gpu.csv"),
            MINIMAL_QUERY_COLUMNS,
            NvidiaInfo(
                "470.82.01", None, (Gpu(0, "Tesla V100-SXM2-16GB", None, 16160),), "nvidia-smi"
            ),
            id="old-driver-minimal-query",
        ),
        pytest.param(
            read(SYNTHETIC / "malformed-query-gpu.csv"),
            QUERY_COLUMNS,
            NvidiaInfo("580.159.04", None, (h100_gpu(),), "nvidia-smi"),
            id="malformed-lines-skipped",
        ),
    ],
)
def test_parse_query_gpu_csv(text: str, columns: tuple[str, ...], expected: NvidiaInfo) -> None:
    assert parse_query_gpu_csv(text, columns) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(read(SYNTHETIC / "no-devices.txt"), id="no-devices"),
        pytest.param("", id="empty"),
        pytest.param("1, NVIDIA H100 80GB HBM3\n", id="only-truncated"),
        pytest.param(read(H100 / "nvidia-smi--query-gpu.csv"), id="wrong-columns"),
    ],
)
def test_parse_query_gpu_csv_without_gpus(text: str) -> None:
    assert parse_query_gpu_csv(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            read(H100 / "nvidia-smi.txt"), DriverReading("580.159.04", (13, 0)), id="h100"
        ),
        pytest.param(
            read(H100 / "nvidia-smi--version.txt"),
            DriverReading("580.159.04", (13, 0)),
            id="h100-version-flag",
        ),
        pytest.param(
            read(SYNTHETIC / "driver-470-nvidia-smi.txt"),
            DriverReading("470.82.01", (11, 4)),
            id="driver-470",
        ),
        pytest.param(
            read(SYNTHETIC / "mixed-nvidia-smi.txt"),
            DriverReading("550.54.15", (12, 4)),
            id="driver-550",
        ),
        pytest.param("Driver Version: 390.157\n", DriverReading("390.157", None), id="no-cuda"),
        pytest.param(read(SYNTHETIC / "no-devices.txt"), None, id="no-devices"),
    ],
)
def test_parse_smi_header(text: str, expected: DriverReading | None) -> None:
    assert parse_smi_header(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(read(H100 / "proc-driver-nvidia-version.txt"), "580.159.04", id="open-580"),
        pytest.param(read(SYNTHETIC / "driver-470-proc-version.txt"), "470.82.01", id="old-470"),
        pytest.param("GCC version:  gcc version 15.3.0 (GCC)\n", None, id="no-nvrm-line"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_proc_driver_version(text: str, expected: str | None) -> None:
    reading = parse_proc_driver_version(text)
    assert (reading.driver_version if reading else None) == expected
    assert reading is None or reading.cuda_driver_version is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(read(SYNTHETIC / "nvcc-version.txt"), NvccInfo((13, 0), "13.0.88"), id="13.0"),
        pytest.param(
            "Cuda compilation tools, release 11.8, V11.8.89\n",
            NvccInfo((11, 8), "11.8.89"),
            id="11.8",
        ),
        pytest.param("Cuda compilation tools, release 9.2\n", NvccInfo((9, 2), "9.2"), id="no-V"),
        pytest.param("command not found\n", None, id="garbage"),
    ],
)
def test_parse_nvcc_version(text: str, expected: NvccInfo | None) -> None:
    assert parse_nvcc_version(text) == expected


# Probes against fake tools, files and libraries


def fake_tool(directory: Path, name: str, script: str) -> None:
    """A shell script standing in for a tool; the tests point PATH at its directory alone."""
    path = directory / name
    path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_probe_nvidia_smi_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert probe_nvidia_smi() is None


def test_probe_nvidia_smi_reads_query_and_banner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_tool(
        tmp_path,
        "nvidia-smi",
        f'case "$1" in --query-gpu=*) cat "{SYNTHETIC / "mixed-query-gpu.csv"}";;'
        f' *) cat "{SYNTHETIC / "mixed-nvidia-smi.txt"}";; esac\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    info = probe_nvidia_smi()
    assert info is not None
    assert (info.driver_version, info.cuda_driver_version, info.source) == (
        "550.54.15",
        (12, 4),
        "nvidia-smi",
    )
    assert [gpu.compute_capability for gpu in info.gpus] == [(8, 0), (8, 0), (8, 9)]


def test_probe_nvidia_smi_falls_back_to_minimal_query(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_tool(
        tmp_path,
        "nvidia-smi",
        'case "$1" in\n'
        "  *compute_cap*) echo 'Field \"compute_cap\" is not a valid field to query.'; exit 2;;\n"
        f'  --query-gpu=*) cat "{SYNTHETIC / "driver-470-query-gpu.csv"}";;\n'
        f'  *) cat "{SYNTHETIC / "driver-470-nvidia-smi.txt"}";;\n'
        "esac\n",
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    assert probe_nvidia_smi() == NvidiaInfo(
        "470.82.01", (11, 4), (Gpu(0, "Tesla V100-SXM2-16GB", None, 16160),), "nvidia-smi"
    )


def test_probe_nvidia_smi_no_devices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_tool(tmp_path, "nvidia-smi", f'cat "{SYNTHETIC / "no-devices.txt"}"; exit 6\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert probe_nvidia_smi() is None


def test_probe_nvidia_smi_hung_tool_times_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_tool(tmp_path, "nvidia-smi", "exec sleep 5\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(probes, "SUBPROCESS_TIMEOUT_S", 0.2)
    started = time.monotonic()
    assert probe_nvidia_smi() is None
    assert time.monotonic() - started < 0.35  # one timeout, not one per query


def test_probe_proc_driver(tmp_path: Path) -> None:
    proc = tmp_path / "proc/driver/nvidia"
    (proc / "gpus/0000:00:06.0").mkdir(parents=True)
    (proc / "version").write_text(read(H100 / "proc-driver-nvidia-version.txt"), encoding="utf-8")
    # As read on the H100 machine.
    (proc / "gpus/0000:00:06.0/information").write_text(
        "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 41\n"
        "GPU UUID: \t GPU-a5e9b82c-302f-a686-ba64-4326547a70eb\nBus Type: \t PCIe\n"
        "Bus Location: \t 0000:00:06.0\nDevice Minor: \t 0\nGPU Firmware: \t 580.159.04\n",
        encoding="utf-8",
    )
    assert probe_proc_driver(tmp_path) == NvidiaInfo(
        "580.159.04", None, (Gpu(0, "NVIDIA H100 80GB HBM3", None, None),), "proc"
    )


def test_probe_proc_driver_sys_module_fallback(tmp_path: Path) -> None:
    module = tmp_path / "sys/module/nvidia"
    module.mkdir(parents=True)
    (module / "version").write_text(read(H100 / "sys-module-nvidia-version.txt"), encoding="utf-8")
    assert probe_proc_driver(tmp_path) == NvidiaInfo("580.159.04", None, (), "proc")


def test_probe_proc_driver_absent(tmp_path: Path) -> None:
    assert probe_proc_driver(tmp_path) is None


def test_probe_nvcc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_tool(tmp_path, "nvcc", f'cat "{SYNTHETIC / "nvcc-version.txt"}"\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert probe_nvcc() == NvccInfo((13, 0), "13.0.88")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert probe_nvcc() is None


@pytest.mark.parametrize(
    ("version_file", "tools", "expected"),
    [
        pytest.param("6.4.1-120\n", {}, "6.4.1", id="version-file"),
        pytest.param(
            None,
            {"amd-smi": "echo 'AMDSMI Tool: 26.0 | ROCm version: 7.0.2'"},
            "7.0.2",
            id="amd-smi",
        ),
        pytest.param(None, {"rocminfo": "true"}, "unknown", id="rocminfo-only"),
        pytest.param("garbage\n", {}, None, id="bad-version-file"),
        pytest.param(None, {}, None, id="absent"),
    ],
)
def test_probe_rocm(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    version_file: str | None,
    tools: dict[str, str],
    expected: str | None,
) -> None:
    rocm = tmp_path / "rocm"
    (rocm / ".info").mkdir(parents=True)
    if version_file is not None:
        (rocm / ".info/version").write_text(version_file, encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in tools.items():
        fake_tool(bin_dir, name, script + "\n")
    monkeypatch.setenv("ROCM_PATH", str(rocm))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(probes, "ROCM_DEFAULT_PATH", tmp_path / "no-opt-rocm")
    assert probe_rocm() == expected


@pytest.mark.parametrize(
    ("system", "machine", "mac_release", "expected"),
    [
        ("Darwin", "arm64", "14.5", ("14.5", True)),
        ("Darwin", "arm64", "12.3", ("12.3", True)),
        ("Darwin", "arm64", "11.7.10", ("11.7.10", False)),
        ("Darwin", "x86_64", "14.5", ("14.5", False)),  # an Intel Mac (sysctl: no arm64)
        ("Linux", "aarch64", "", (None, False)),
        ("Windows", "AMD64", "", (None, False)),
    ],
)
def test_probe_macos(
    monkeypatch: pytest.MonkeyPatch,
    system: str,
    machine: str,
    mac_release: str,
    expected: tuple[str | None, bool],
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(platform, "mac_ver", lambda: (mac_release, ("", "", ""), ""))
    intel_mac = "machdep.cpu.brand_string: Intel(R) Core(TM) i9-9980HK CPU @ 2.40GHz\n"
    monkeypatch.setattr(probes, "tool_output", lambda argv: intel_mac)
    assert probe_macos() == expected


# NVML through a fake library: the ctypes calls, their decoding and the timeout


class FakeNvml:
    """Answers the NVML calls the probe makes, writing results through ctypes pointers."""

    def __init__(
        self,
        *,
        cuda: int = 13000,
        mig: int | None = None,
        init_delay: float = 0,
        shutdown_delay: float = 0,
    ) -> None:
        self.cuda = cuda
        self.mig = mig
        self.init_delay = init_delay
        self.shutdown_delay = shutdown_delay
        self.shut_down = threading.Event()

    @staticmethod
    def _set(pointer: Any, value: int) -> None:
        pointer._obj.value = value

    def nvmlInit_v2(self) -> int:
        time.sleep(self.init_delay)
        return 0

    def nvmlShutdown(self) -> int:
        time.sleep(self.shutdown_delay)
        self.shut_down.set()
        return 0

    def nvmlSystemGetDriverVersion(self, buffer: Any, length: Any) -> int:
        buffer.value = b"580.159.04"
        return 0

    def nvmlSystemGetCudaDriverVersion_v2(self, pointer: Any) -> int:
        self._set(pointer, self.cuda)
        return 0

    def nvmlDeviceGetCount_v2(self, pointer: Any) -> int:
        self._set(pointer, 2)
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, pointer: Any) -> int:
        # The second GPU has fallen off the bus (NVML_ERROR_GPU_IS_LOST).
        return 0 if index.value == 0 else 15

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, length: Any) -> int:
        buffer.value = b"NVIDIA H100 80GB HBM3"
        return 0

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any, major: Any, minor: Any) -> int:
        self._set(major, 9)
        self._set(minor, 0)
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle: Any, pointer: Any) -> int:
        pointer._obj.total = 81559 * 1024 * 1024
        return 0

    def nvmlDeviceGetMigMode(self, handle: Any, current: Any, pending: Any) -> int:
        if self.mig is None:
            return 3  # NVML_ERROR_NOT_SUPPORTED
        self._set(current, self.mig)
        return 0


def use_fake_nvml(monkeypatch: pytest.MonkeyPatch, lib: object) -> None:
    monkeypatch.setattr(ctypes, "CDLL", lambda name: lib)


@pytest.mark.parametrize(
    ("cuda", "mig", "expected_cuda", "expected_mig"),
    [(13000, None, (13, 0), False), (12040, 1, (12, 4), True), (0, 0, None, False)],
)
def test_probe_nvml(
    monkeypatch: pytest.MonkeyPatch,
    cuda: int,
    mig: int | None,
    expected_cuda: tuple[int, int] | None,
    expected_mig: bool,
) -> None:
    lib = FakeNvml(cuda=cuda, mig=mig)
    use_fake_nvml(monkeypatch, lib)
    expected_gpu = Gpu(0, "NVIDIA H100 80GB HBM3", (9, 0), 81559, expected_mig)
    assert probe_nvml() == NvidiaInfo("580.159.04", expected_cuda, (expected_gpu,), "nvml")
    assert lib.shut_down.wait(5)  # NVML is shut down (in the probe's thread)


def test_a_probe_begun_early_is_the_one_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` begins NVML's init before importing the rest of itself: the later question
    takes that answer and opens the library once, not twice."""
    opened: list[str] = []
    lib = FakeNvml(init_delay=0.2)

    def cdll(name: str) -> FakeNvml:
        opened.append(name)
        return lib

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    nvml_probe.start_probe()
    nvml_probe.start_probe()  # once per question
    time.sleep(0.3)  # the command's own work, overlapping the init
    started = time.monotonic()
    info = probe_nvml()
    assert info is not None and info.gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert time.monotonic() - started < 0.15  # the init was over before the question
    assert len(opened) == 1
    assert probe_nvml() is not None and len(opened) == 2  # a new question probes anew


def test_probe_nvml_answers_before_shutting_down(monkeypatch: pytest.MonkeyPatch) -> None:
    # nvmlShutdown costs ~10 ms on an H100: the answer does not wait for it
    lib = FakeNvml(shutdown_delay=2.0)
    use_fake_nvml(monkeypatch, lib)
    started = time.monotonic()
    info = probe_nvml()
    assert info is not None and info.driver_version == "580.159.04"
    assert time.monotonic() - started < 1.5
    assert not lib.shut_down.is_set()
    assert lib.shut_down.wait(5)


def test_probe_nvml_without_library(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert probe_nvml() is None


def test_probe_nvml_wedged_driver_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_nvml(monkeypatch, FakeNvml(init_delay=1.0))
    monkeypatch.setattr(nvml_probe, "NVML_TIMEOUT_S", 0.05)
    started = time.monotonic()
    assert probe_nvml() is None
    assert time.monotonic() - started < 0.5


def test_probe_nvml_missing_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    class Ancient:
        def nvmlInit_v2(self) -> int:
            return 0

    use_fake_nvml(monkeypatch, Ancient())
    assert probe_nvml() is None


def test_nvml_memory_struct_layout() -> None:
    assert ctypes.sizeof(_NvmlMemory) == 24


# detect_machine, the fake machine and the JSON round trip


def h100_machine() -> Machine:
    return Machine(
        nvidia=NvidiaInfo("580.159.04", (13, 0), (h100_gpu(),), "nvml"),
        nvcc=NvccInfo((13, 0), "13.0.88"),
        mps=False,
        rocm=None,
        platform="linux-x86_64",
    )


def test_fake_machine_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_MACHINE_ENV, str(SYNTHETIC / "fake-machine-h100.json"))
    machine = detect_machine()
    assert machine == h100_machine()
    assert machine.has_gpu and machine.has_nvidia_gpu


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param('{"nvidia": {"driver_version": "new"}}', id="bad-driver"),
        pytest.param(
            '{"nvidia": {"driver_version": "580.1", "gpus": [{"compute_capability": [9]}]}}',
            id="bad-capability",
        ),
        pytest.param('{"mps": "yes"}', id="bad-flag"),
        pytest.param(
            '{"nvidia": {"driver_version": "580.1", "gpus": [{"index": true}]}}', id="bool-index"
        ),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"nvidia": {"driver_version": "580.1", "gpus": {}}}', id="gpus-not-a-list"),
    ],
)
def test_fake_machine_file_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "machine.json"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(FAKE_MACHINE_ENV, str(path))
    with pytest.raises(TorchPluginError, match="does not describe a machine"):
        detect_machine()


def test_fake_machine_file_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FAKE_MACHINE_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(TorchPluginError, match=r"absent\.json"):
        detect_machine()


@pytest.mark.parametrize(
    "machine",
    [
        h100_machine(),
        Machine(None, None, True, None, "darwin-arm64"),
        Machine(None, None, False, "6.4.1", "linux-x86_64"),
        Machine(NvidiaInfo("470.82.01", None, (), "proc"), None, False, None, "linux-x86_64"),
    ],
)
def test_machine_dict_round_trip(machine: Machine) -> None:
    data = machine_to_dict(machine)
    assert machine_from_dict(json.loads(json.dumps(data))) == machine


def test_machine_to_dict_has_the_fake_file_shape() -> None:
    recorded = json.loads(read(SYNTHETIC / "fake-machine-h100.json"))
    assert json.loads(json.dumps(machine_to_dict(h100_machine()))) == recorded


def test_machine_from_minimal_dict_defaults() -> None:
    machine = machine_from_dict(
        {"platform": "linux-x86_64", "nvidia": {"driver_version": "550.54.15"}}
    )
    assert machine == Machine(
        NvidiaInfo("550.54.15", None, (), "fake"), None, False, None, "linux-x86_64"
    )
    assert not machine.has_gpu


def test_detect_machine_on_a_bare_box(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(nvml_probe, "probe_nvml", lambda: None)
    monkeypatch.setattr(probes, "probe_proc_driver", lambda: None)
    monkeypatch.setattr(probes, "probe_rocm", lambda: None)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    started = time.monotonic()
    machine = detect_machine()
    assert time.monotonic() - started < 0.5
    assert machine == Machine(None, None, False, None, "linux-x86_64")
    assert not machine.has_gpu


def test_detect_machine_prefers_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = NvidiaInfo("580.159.04", (13, 0), (h100_gpu(),), "nvml")
    smi = NvidiaInfo("580.159.04", (13, 0), (h100_gpu(),), "nvidia-smi")
    monkeypatch.setattr(nvml_probe, "probe_nvml", lambda: nvml)
    monkeypatch.setattr(probes, "probe_nvidia_smi", lambda: smi)
    assert detect_machine().nvidia == nvml
    assert detect_machine(use_nvml=False).nvidia == smi


def test_probe_nvcc_reads_the_toolkits_version_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A toolkit's version.json answers without starting nvcc (the fake nvcc would fail)."""
    (tmp_path / "cuda/bin").mkdir(parents=True)
    fake_tool(tmp_path / "cuda/bin", "nvcc", "exit 1\n")
    (tmp_path / "cuda/version.json").write_text(
        '{"cuda": {"name": "CUDA SDK", "version": "12.4.1"},'
        ' "cuda_nvcc": {"name": "CUDA NVCC", "version": "12.4.131"}}',
        encoding="utf-8",
    )
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    assert probe_nvcc() == NvccInfo((12, 4), "12.4.131")


def test_probe_nvcc_reads_a_wheel_assembled_toolkit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "cuda/bin").mkdir(parents=True)
    fake_tool(tmp_path / "cuda/bin", "nvcc", "exit 1\n")
    (tmp_path / "cuda/dist-info/nvidia_cuda_nvcc-13.0.88.dist-info").mkdir(parents=True)
    (tmp_path / "cuda/dist-info/nvidia_cuda_crt-13.0.88.dist-info").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    assert probe_nvcc() == NvccInfo((13, 0), "13.0.88")


def test_probe_nvcc_reads_the_release_cuda_h_defines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A toolkit without version.json or dist-info (the GPU machine's image): the release its
    include/cuda.h defines, without nvcc's patch number, and nvcc is not started."""
    for folder in ("cuda/bin", "cuda/include", "cuda/nvvm/bin"):
        (tmp_path / folder).mkdir(parents=True)
    compiled_nvcc(tmp_path / "cuda/bin")  # never run: it would fail
    _cuda_h(tmp_path / "cuda/include", 12080)
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    assert probe_nvcc() == NvccInfo((12, 8), "12.8")
    # a prefix shared with other packages (no nvvm/ beside bin/): its cuda.h is not trusted
    (tmp_path / "cuda/nvvm/bin").rmdir()
    (tmp_path / "cuda/nvvm").rmdir()
    assert probe_nvcc() is None


def test_a_wrapper_script_is_asked_not_the_cuda_h_beside_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A wrapper (``/usr/local/bin/nvcc`` running another toolkit's nvcc) sits in a prefix whose
    include/cuda.h may belong to another release: the nvcc it runs is asked."""
    for folder in ("w/bin", "w/include", "w/nvvm"):
        (tmp_path / folder).mkdir(parents=True)
    fake_tool(tmp_path / "w/bin", "nvcc", f'cat "{SYNTHETIC / "nvcc-version.txt"}"\n')
    _cuda_h(tmp_path / "w/include", 12080)
    monkeypatch.setenv("PATH", str(tmp_path / "w/bin"))
    assert probe_nvcc() == NvccInfo((13, 0), "13.0.88")


def compiled_nvcc(directory: Path) -> None:
    """An executable that is no script (an ELF header and nothing runnable)."""
    path = directory / "nvcc"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _cuda_h(directory: Path, number: int) -> None:
    (directory / "cuda.h").write_text(
        "/*\n * Copyright 1993-2025 NVIDIA Corporation.\n */\n#ifndef __cuda_cuda_h__\n"
        "#define __cuda_cuda_h__\n" + "/* ... */\n" * 200 + f"#define CUDA_VERSION {number}\n",
        encoding="utf-8",
    )


@pytest.mark.skipif(
    not (
        Path("/usr/local/cuda/include/cuda.h").is_file()
        and Path("/usr/local/cuda/bin/nvcc").is_file()
    ),
    reason="no CUDA toolkit (header and nvcc) in /usr/local/cuda here",
)
def test_the_release_read_from_a_real_cuda_h_is_the_one_nvcc_says() -> None:
    """On a machine with a real toolkit: its cuda.h names the release its nvcc reports."""
    from poetry_torch_plugin.machine.probes import _cuda_header_release
    from poetry_torch_plugin.machine.probes import parse_nvcc_version
    from poetry_torch_plugin.machine.probes import tool_output

    header = _cuda_header_release(Path("/usr/local/cuda/include/cuda.h"))
    said = tool_output(["/usr/local/cuda/bin/nvcc", "--version"])
    assert header is not None and said is not None
    nvcc = parse_nvcc_version(said)
    assert nvcc is not None and header.version == nvcc.version


def test_probe_nvcc_asks_nvcc_when_the_files_say_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "cuda/bin").mkdir(parents=True)
    fake_tool(tmp_path / "cuda/bin", "nvcc", f'cat "{SYNTHETIC / "nvcc-version.txt"}"\n')
    (tmp_path / "cuda/version.json").write_text('{"cuda_nvcc": {"version": 12}}', encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    assert probe_nvcc() == NvccInfo((13, 0), "13.0.88")


@pytest.mark.parametrize(
    ("fake", "nvidia", "begun"), [("", True, 1), ("m.json", True, 0), ("", False, 0)]
)
def test_start_probes_begins_nvml_only_where_detection_will_ask_it(
    monkeypatch: pytest.MonkeyPatch, fake: str, nvidia: bool, begun: int
) -> None:
    from poetry_torch_plugin.machine import detect

    monkeypatch.setenv(FAKE_MACHINE_ENV, fake)
    monkeypatch.setattr(detect, "present_families", lambda: detect.Families(nvidia, False, False))
    use_fake_nvml(monkeypatch, FakeNvml())
    monkeypatch.setattr(nvml_probe, "_begun", [])
    monkeypatch.setattr(probes, "_nvcc_begun", [])
    monkeypatch.setattr(probes, "_probe_nvcc", lambda path=None: None)  # no real nvcc thread
    nvml_begun_before_nvcc: list[int] = []
    start_nvcc = probes.start_nvcc

    def recording_start_nvcc() -> None:
        nvml_begun_before_nvcc.append(len(nvml_probe._begun))
        start_nvcc()

    monkeypatch.setattr(probes, "start_nvcc", recording_start_nvcc)
    detect.start_probes()
    assert len(nvml_probe._begun) == begun
    # the toolkit probe begins wherever the machine is detected for real, driver or not
    assert len(probes._nvcc_begun) == (0 if fake else 1)
    # and after NVML's, the longer wait, has begun
    assert nvml_begun_before_nvcc == ([] if fake else [begun])


def test_a_toolkit_probe_begun_early_runs_beside_the_caller_and_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``check`` starts the nvcc probe before importing the rest of itself: where nvcc must be
    run (a wrapper script on PATH, no toolkit file naming its version), it runs in another
    thread, and the answer is the one ``probe_nvcc`` gives alone; begun for another PATH, its
    answer is not used."""
    import threading

    from poetry_torch_plugin.machine import probes

    (tmp_path / "cuda/bin").mkdir(parents=True)
    fake_tool(tmp_path / "cuda/bin", "nvcc", f'cat "{SYNTHETIC / "nvcc-version.txt"}"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    alone = probe_nvcc()
    threads: list[str] = []
    asked = probes.tool_output

    def tool_output(argv: list[str]) -> str | None:
        threads.append(threading.current_thread().name)
        return asked(argv)

    monkeypatch.setattr(probes, "tool_output", tool_output)
    probes.start_nvcc()
    assert probe_nvcc() == alone == NvccInfo((13, 0), "13.0.88")
    assert threads == ["poetry-torch-nvcc"]
    # begun as Poetry starts (`activate`) and again by the command: nvcc runs once
    threads.clear()
    probes.start_nvcc()
    first = probes._nvcc_begun[-1]
    probes.start_nvcc()
    assert probes._nvcc_begun == [first]
    assert probe_nvcc() == alone and threads == ["poetry-torch-nvcc"]
    probes.start_nvcc()
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvcc here
    assert probe_nvcc() is None
    # a probe begun for another PATH and never asked gives way to this one's
    probes.start_nvcc()
    monkeypatch.setenv("PATH", str(tmp_path / "cuda/bin"))
    probes.start_nvcc()
    assert len(probes._nvcc_begun) == 1 and probes._nvcc_begun[0][0] == str(tmp_path / "cuda/bin")
    assert probe_nvcc() == alone and probes._nvcc_begun == []
