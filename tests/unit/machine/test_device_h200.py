"""The H200 device machine, recorded verbatim (tests/fixtures/device-h200, README.md there).

Each recorded tool output goes through the real parser or probe and must give what the
plugin's own probes returned on that machine (``probes.json``, read there by the same code);
the recorded ``poetry torch check`` verdicts are rebuilt from the recorded facts.
"""

from __future__ import annotations

import ctypes
import json
import stat

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.facts import archs_for
from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.machine import DriverReading
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import NvccInfo
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import read_environment
from poetry_torch_plugin.machine import nvml as nvml_probe
from poetry_torch_plugin.machine import probes
from poetry_torch_plugin.machine.detect import FAKE_MACHINE_ENV
from poetry_torch_plugin.machine.detect import detect_machine
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.machine.probes import MINIMAL_QUERY_COLUMNS
from poetry_torch_plugin.machine.probes import QUERY_COLUMNS
from poetry_torch_plugin.machine.probes import parse_nvcc_version
from poetry_torch_plugin.machine.probes import parse_proc_driver_version
from poetry_torch_plugin.machine.probes import parse_query_gpu_csv
from poetry_torch_plugin.machine.probes import parse_smi_header
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.service.check import build_report
from tests.support.check_demo import PYPROJECT
from tests.support.check_demo import make_check_demo
from tests.support.check_demo import write_dist


H200 = Path(__file__).resolve().parents[2] / "fixtures" / "device-h200"
H200_GPU = Gpu(0, "NVIDIA H200", (9, 0), 143771, False)
DRIVER = "580.159.04"
# The H100 set's query (tests/fixtures/nvidia-h100), asked here too, with header and units.
H100_COLUMNS = ("name", "driver_version", "compute_cap", "pci.device_id", "memory.total")


def read(name: str) -> str:
    return (H200 / name).read_text(encoding="utf-8")


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(read(name))
    return data


def probed(name: str) -> NvidiaInfo:
    """What probe ``name`` returned on the machine (probes.json, dataclasses.asdict)."""
    data = recorded("probes.json")[name]
    machine = machine_from_dict({"nvidia": data})
    assert machine.nvidia is not None
    return machine.nvidia


@pytest.fixture(autouse=True)
def _no_fake_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAKE_MACHINE_ENV, raising=False)
    monkeypatch.delenv("ROCM_PATH", raising=False)


# --- the tools' outputs through the parsers ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "columns", "gpu"),
    [
        pytest.param("nvidia-smi--query-gpu.csv", QUERY_COLUMNS, H200_GPU, id="full-query"),
        pytest.param(
            "nvidia-smi--query-gpu-minimal.csv",
            MINIMAL_QUERY_COLUMNS,
            Gpu(0, "NVIDIA H200", None, 143771),
            id="minimal-query",
        ),
        pytest.param(
            "nvidia-smi--query-gpu-h100-columns.csv", H100_COLUMNS, H200_GPU, id="header-and-units"
        ),
    ],
)
def test_query_gpu_csv(name: str, columns: tuple[str, ...], gpu: Gpu) -> None:
    assert parse_query_gpu_csv(read(name), columns) == NvidiaInfo(
        DRIVER, None, (gpu,), "nvidia-smi"
    )


@pytest.mark.parametrize("name", ["nvidia-smi.txt", "nvidia-smi--version.txt"])
def test_smi_banner_gives_driver_and_cuda_13_0(name: str) -> None:
    assert parse_smi_header(read(name)) == DriverReading(DRIVER, (13, 0))


def test_proc_and_sys_module_versions() -> None:
    assert parse_proc_driver_version(read("proc-driver-nvidia-version.txt")) == DriverReading(
        DRIVER, None
    )
    assert read("sys-module-nvidia-version.txt").strip() == DRIVER


def test_nvcc_is_13_0() -> None:
    assert parse_nvcc_version(read("nvcc--version.txt")) == NvccInfo((13, 0), "13.0.88")


# --- the probes on the recorded outputs agree with the probes run on the machine -------------


def test_probe_nvidia_smi_on_the_recorded_outputs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in nvidia-smi that answers each of the probe's calls with the recorded file;
    anything else it is asked fails, so a changed query would show."""
    full = ",".join(QUERY_COLUMNS)
    script = (
        "#!/bin/sh\nPATH=/usr/bin:/bin\n"
        f'case "$*" in\n'
        f'  "--query-gpu={full} --format=csv,noheader,nounits") cat "{H200}/nvidia-smi--query-gpu.csv";;\n'
        f'  "") cat "{H200}/nvidia-smi.txt";;\n'
        "  *) exit 2;;\n"
        "esac\n"
    )
    tool = tmp_path / "nvidia-smi"
    tool.write_text(script, encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    info = probes.probe_nvidia_smi()
    assert info == probed("probe_nvidia_smi")
    assert info == NvidiaInfo(DRIVER, (13, 0), (H200_GPU,), "nvidia-smi")


def test_probe_proc_driver_on_the_recorded_files(tmp_path: Path) -> None:
    proc = tmp_path / "proc/driver/nvidia"
    bus = read("proc-driver-nvidia-gpus-information.txt").split("Bus Location:")[1].split()[0]
    (proc / "gpus" / bus).mkdir(parents=True)
    (proc / "version").write_text(read("proc-driver-nvidia-version.txt"), encoding="utf-8")
    information = read("proc-driver-nvidia-gpus-information.txt")
    (proc / "gpus" / bus / "information").write_text(information, encoding="utf-8")
    info = probes.probe_proc_driver(tmp_path)
    assert info == probed("probe_proc_driver")
    assert info == NvidiaInfo(DRIVER, None, (Gpu(0, "NVIDIA H200", None, None),), "proc")
    # without /proc, the module version alone still names the driver
    module = tmp_path / "sys/module/nvidia"
    module.mkdir(parents=True)
    (module / "version").write_text(read("sys-module-nvidia-version.txt"), encoding="utf-8")
    (proc / "version").unlink()
    assert probes.probe_proc_driver(tmp_path) == NvidiaInfo(
        DRIVER, None, (Gpu(0, "NVIDIA H200", None, None),), "proc"
    )


class RecordedNvml:
    """NVML answering with what nvidia-ml-py read on the machine (nvml.json)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.device = data["devices"][0]

    def nvmlInit_v2(self) -> int:
        return 0

    def nvmlShutdown(self) -> int:
        return 0

    def nvmlSystemGetDriverVersion(self, buffer: Any, length: Any) -> int:
        buffer.value = self.data["driver_version"].encode()
        return 0

    def nvmlSystemGetCudaDriverVersion_v2(self, pointer: Any) -> int:
        pointer._obj.value = self.data["cuda_driver_version_v2"]
        return 0

    def nvmlDeviceGetCount_v2(self, pointer: Any) -> int:
        pointer._obj.value = self.data["device_count"]
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: Any, pointer: Any) -> int:
        return 0 if index.value == self.device["index"] else 2

    def nvmlDeviceGetName(self, handle: Any, buffer: Any, length: Any) -> int:
        buffer.value = self.device["name"].encode()
        return 0

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any, major: Any, minor: Any) -> int:
        major._obj.value, minor._obj.value = self.device["cuda_compute_capability"]
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle: Any, pointer: Any) -> int:
        pointer._obj.total = self.device["memory_total_bytes"]
        return 0

    def nvmlDeviceGetMigMode(self, handle: Any, current: Any, pending: Any) -> int:
        current._obj.value, pending._obj.value = self.device["mig_mode"]
        return 0


def test_probe_nvml_on_the_recorded_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    data = recorded("nvml.json")
    assert data["cuda_driver_version_v2"] == 13000
    monkeypatch.setattr(ctypes, "CDLL", lambda name: RecordedNvml(data))
    info = nvml_probe.probe_nvml()
    assert info == probed("probe_nvml")
    assert info == NvidiaInfo(DRIVER, (13, 0), (H200_GPU,), "nvml")


def test_detect_machine_on_the_recorded_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """detect_machine with each probe answering as on the machine: the recorded machine, which
    is also the machine section of every recorded check report."""
    machine_dict = recorded("probes.json")["detect_machine"]
    monkeypatch.setattr(nvml_probe, "probe_nvml", lambda: probed("probe_nvml"))
    monkeypatch.setattr(probes, "probe_nvcc", lambda: NvccInfo((13, 0), "13.0.88"))
    monkeypatch.setattr(probes, "probe_macos", lambda: (None, False))
    monkeypatch.setattr(probes, "probe_jetson", lambda: None)
    monkeypatch.setattr(probes, "probe_rocm", lambda: None)
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.setattr("platform.machine", lambda: read("uname-m.txt").strip())
    monkeypatch.setattr("poetry_torch_plugin.machine.amd.probe_amd_gpus", lambda: ())
    monkeypatch.setattr("poetry_torch_plugin.machine.intel.probe_intel_gpus", lambda: ())
    machine = detect_machine()
    assert json.loads(json.dumps(machine_to_dict(machine))) == machine_dict
    for name in ("check.json", "check-runtime.json", "check-demo.json"):
        assert recorded(name)["machine"] == machine_dict, name
    assert machine.nvidia is not None and machine.has_nvidia_gpu
    assert machine.platform == "linux-x86_64"


# --- `poetry torch check` there ---------------------------------------------------------


def machine() -> Any:
    return machine_from_dict(recorded("check.json")["machine"])


def test_the_machines_own_torch_fails_as_a_foreign_build(tmp_path: Path) -> None:
    """The image's torch 2.11.0 came from PyPI (untagged dist-info; version.py says +cu130).
    Recorded when check said ok for cu130 on this machine with a foreign-build warning;
    rebuilt from the recorded facts, the report now fails on that same verdict (issue 23
    item 2: a build that did not come from the configured source fails check)."""
    data = recorded("check.json")
    assert data["ok"] is True and data["exit_code"] == 0
    assert [(v["code"], v["level"]) for v in data["verdicts"]] == [
        ("ok", "ok"),
        ("foreign-build", "warning"),
    ]
    site = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    (tmp_path / "venv" / "pyvenv.cfg").parent.mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.12.3\n")
    installers = {"torch": "uv", "torchvision": "pip", "torchaudio": "pip"}
    for row in data["environment"]["packages"]:
        cuda = "\ncuda = '13.0'" if row["name"] != "torchaudio" else ""
        version_py = f"__version__ = '{row['build']}'{cuda}\n"
        requires = (f"torch{row['requires_torch']}",) if row["requires_torch"] else ()
        write_dist(site, row["name"], row["version"], version_py, requires)
        (site / f"{row['name']}-{row['version']}.dist-info" / "INSTALLER").write_text(
            installers[row["name"]] + "\n"
        )
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(name="h200-demo", variant="cu130"))
    report = build_report(
        machine(), read_environment(tmp_path / "venv"), read_project(tmp_path / "pyproject.toml")
    ).to_dict()
    recorded_foreign = [v for v in data["verdicts"] if v["code"] == "foreign-build"]
    assert report["verdicts"] == [
        {**v, "level": "error", "message": v["message"].split(": run `")[0]}
        for v in recorded_foreign
    ]
    assert report["ok"] is False and report["exit_code"] == 1
    assert report["environment"]["packages"] == data["environment"]["packages"]
    assert report["project"]["variant"] == "cu130"


def test_the_check_demo_project_is_ok(tmp_path: Path) -> None:
    """tests/support/check_demo.py's project (index-labelled dist-info), checked on the H200."""
    data = recorded("check-demo.json")
    assert data["ok"] is True and data["exit_code"] == 0
    assert [v["code"] for v in data["verdicts"]] == ["ok"]
    make_check_demo(tmp_path, "check-demo")
    report = build_report(
        machine(), read_environment(tmp_path / ".venv"), read_project(tmp_path / "pyproject.toml")
    ).to_dict()
    assert report["verdicts"] == data["verdicts"]
    assert report["environment"]["packages"] == data["environment"]["packages"]
    assert "ok: torch 2.11.0+cu130" in read("check-demo.txt")


def test_runtime_on_the_h200_agrees_with_the_facts_table() -> None:
    data = recorded("check-runtime.json")
    runtime = data["runtime"]
    assert data["exit_code"] == 0
    assert runtime["cuda_available"] is True and runtime["op_ok"] is True
    assert runtime["device_name"] == "NVIDIA H200" and runtime["capability"] == [9, 0]
    assert (runtime["torch_version"], runtime["cuda_version"]) == ("2.11.0+cu130", "13.0")
    arch_list = tuple(runtime["arch_list"])
    assert "sm_90" in arch_list
    assert archs_for(load_facts(), "cu130", runtime["torch_version"]) == arch_list
    assert f"arch_list {' '.join(arch_list)}" in read("torch.txt").splitlines()
    assert [v["code"] for v in data["verdicts"]] == ["ok", "foreign-build"]


def test_cuda_auto_follows_the_installed_torch_to_cu130() -> None:
    installed = recorded("check-runtime.json")["runtime"]["torch_version"]
    assert choose_auto_variant(load_facts(), machine(), installed)[0] == "cu130"
    choice = choose(load_facts(), machine(), (), ("torch", "torchvision", "torchaudio"), installed)
    first = read("install-auto-dry-run.txt").splitlines()[0]
    assert first == f"--cuda auto: {choice.variant} ({choice.reason})"
    assert "NVIDIA H200 (sm_90)" in first and "driver 580.159.04" in first


def test_pip_runs_although_the_machine_has_uv_on_path() -> None:
    """That machine has uv 0.11.15 at /usr/local/bin/uv; the default installer is still pip."""
    assert recorded("check.json")["project"]["installer"] == {
        "configured": "pip",
        "runs": "pip",
        "path": None,
    }
    assert "  Installer      pip" in read("check.txt").splitlines()
    run = [line for line in read("install-auto-dry-run.txt").splitlines() if "Would run" in line]
    assert run == [
        "Would run: /opt/torch/.venv/bin/python -m pip install --index-url"
        " https://download.pytorch.org/whl/cu130 --cert /etc/ssl/certs/ca-certificates.crt"
        " torch torchvision torchaudio"
    ]


def test_text_report_lines() -> None:
    lines = read("check-runtime.txt").splitlines()
    for line in (
        "  NVIDIA driver  580.159.04 (runs CUDA up to 13.0), via nvml",
        "  GPU 0          NVIDIA H200, compute capability 9.0 (sm_90), 143771 MiB",
        "  torch          2.11.0+cu130 CUDA 13.0 (cu130)",
        "  cuda available True",
        "  device 0       NVIDIA H200, capability 9.0",
        "  GPU tensor op  ok",
    ):
        assert line in lines
    assert read("check-require-gpu.txt") == read("check.txt")
