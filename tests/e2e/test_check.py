"""``poetry torch check`` and ``--cuda auto`` through the real poetry executable.

The project environment is a real venv whose site-packages holds dist-info folders and
``version.py`` files (no wheels, no index); the machine comes from POETRY_TORCH_FAKE_MACHINE.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.machine.detect import machine_from_dict
from tests.support.check_demo import PYPROJECT
from tests.support.check_demo import make_check_demo
from tests.support.check_demo import write_dist


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project


pytestmark = [pytest.mark.e2e]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
H100_JSON = FIXTURES / "synthetic" / "fake-machine-h100.json"
# A stand-in for torch that --runtime imports: it leaves a mark, and sees no GPU.
FAKE_TORCH_INIT = """
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("yes")
__version__ = "2.11.0+cu130"
class version:
    cuda = "13.0"
    hip = None
class cuda:
    @staticmethod
    def is_available():
        return False
"""


@dataclass
class Demo:
    root: Path
    site: Path
    poetry: Path
    machines: Path

    def run(self, *args: str, machine: str | None = "h100") -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if machine is not None:
            env["POETRY_TORCH_FAKE_MACHINE"] = str(self.machines / f"{machine}.json")
        return subprocess.run(
            [str(self.poetry), "--no-ansi", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def dist(self, name: str, version: str, version_py: str | None = None, *requires: str) -> None:
        write_dist(self.site, name, version, version_py, requires)


@pytest.fixture
def demo(tmp_path: Path, poetry_bin: Path) -> Demo:
    root = tmp_path / "demo"
    site = make_check_demo(root)
    machines = tmp_path / "machines"
    machines.mkdir()
    shutil.copy(H100_JSON, machines / "h100.json")
    (machines / "none.json").write_text('{"platform": "linux-x86_64"}')
    pascal = json.loads(H100_JSON.read_text())
    pascal["nvidia"]["gpus"] = [{"name": "Tesla P100-PCIE-16GB", "compute_capability": [6, 0]}]
    (machines / "pascal.json").write_text(json.dumps(pascal))
    return Demo(root, site, poetry_bin, machines)


def verdicts(result: subprocess.CompletedProcess[str]) -> list[str]:
    data = json.loads(result.stdout)
    return [verdict["code"] for verdict in data["verdicts"]]


def test_check_on_a_gpu_machine(demo: Demo) -> None:
    result = demo.run("torch", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in (
        "  NVIDIA driver  580.159.04 (runs CUDA up to 13.0), via nvml",
        "  GPU 0          NVIDIA H100 80GB HBM3, compute capability 9.0 (sm_90), 81559 MiB",
        f"  Python         {sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}",
        "  torch          2.11.0+cu130 CUDA 13.0 (cu130)",
        "  torchvision    0.26.0+cu130 CUDA 13.0 (cu130), requires torch==2.11.0",
        "  torchaudio     2.11.0 variant unknown, requires torch==2.11.0",
        "  Source         pytorch_cuda_cu130 (https://download.pytorch.org/whl/cu130)",
        "  Packages       torch, torchvision, torchaudio",
    ):
        assert expected in lines, result.stdout
    assert any(line.startswith("  CUDA toolkit   nvcc 13.0.88") for line in lines)
    assert f"Environment {demo.root / '.venv'}" in lines
    assert lines[-1].startswith("  ok: torch 2.11.0+cu130, torchvision 0.26.0+cu130")
    assert "warning" not in result.stdout


def test_json_is_the_same_report(demo: Demo) -> None:
    result = demo.run("torch", "check", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert machine_from_dict(data["machine"]) == machine_from_dict(
        json.loads(H100_JSON.read_text())
    )
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["environment"]["path"] == str(demo.root / ".venv")
    assert [row["build"] for row in data["environment"]["packages"]] == [
        "2.11.0+cu130",
        "0.26.0+cu130",
        "2.11.0",
    ]
    assert data["project"]["variant"] == "cu130"
    assert verdicts(result) == ["ok"]


def test_no_gpu_is_a_warning_unless_required(demo: Demo) -> None:
    result = demo.run("torch", "check", machine="none")
    assert result.returncode == 0, result.stdout
    assert "  warning: no GPU found on this machine" in result.stdout
    assert "  NVIDIA driver  none found" in result.stdout

    required = demo.run("torch", "check", "--require-gpu", machine="none")
    assert required.returncode == 1
    assert "  error: no GPU found on this machine" in required.stdout
    as_json = demo.run("torch", "check", "--require-gpu", "--json", machine="none")
    assert as_json.returncode == 1 and verdicts(as_json) == ["no-gpu"]
    assert demo.run("torch", "check", "--require-gpu").returncode == 0


@pytest.mark.parametrize(
    ("change", "machine", "code", "fix"),
    [
        ("configure-cu128", "h100", "build-mismatch", "poetry torch install"),
        ("half-installed", "h100", "half-installed", "poetry torch install"),
        ("remove-torch", "h100", "torch-missing", "poetry torch install"),
        ("old-torchvision", "h100", "companion-mismatch", "poetry torch install"),
        (None, "pascal", "arch-not-in-build", "poetry torch install --cuda auto"),
    ],
)
def test_problems_fail_with_their_fix(
    demo: Demo, change: str | None, machine: str, code: str, fix: str
) -> None:
    if change == "configure-cu128":
        (demo.root / "pyproject.toml").write_text(
            PYPROJECT.format(name="check-demo", variant="cu128")
        )
    elif change == "half-installed":
        (demo.site / "torchvision-0.26.0+cu130.dist-info" / "RECORD").unlink()
    elif change == "remove-torch":
        shutil.rmtree(demo.site / "torch-2.11.0+cu130.dist-info")
    elif change == "old-torchvision":
        shutil.rmtree(demo.site / "torchvision-0.26.0+cu130.dist-info")
        demo.dist("torchvision", "0.25.0", None, "torch==2.10.0")
    result = demo.run("torch", "check", machine=machine)
    assert result.returncode == 1, result.stdout
    assert f"      fix: {fix}" in result.stdout.splitlines()
    as_json = demo.run("torch", "check", "--json", machine=machine)
    assert as_json.returncode == 1
    assert code in verdicts(as_json)


def test_check_never_imports_torch_but_runtime_does(demo: Demo) -> None:
    (demo.site / "torch" / "__init__.py").write_text(FAKE_TORCH_INIT)
    marker = demo.site / "torch" / "IMPORTED"
    assert demo.run("torch", "check").returncode == 0
    assert not marker.exists()

    result = demo.run("torch", "check", "--runtime")
    assert marker.exists()
    assert result.returncode == 1  # a cu130 build that sees no CUDA on a GPU machine
    assert f"Runtime (torch imported by {demo.root / '.venv' / 'bin' / 'python'}" in result.stdout
    assert "  cuda available False" in result.stdout.splitlines()
    assert "error: torch.cuda.is_available() is False" in result.stdout

    on_ci = demo.run("torch", "check", "--runtime", "--json", machine="none")
    assert on_ci.returncode == 0
    runtime = json.loads(on_ci.stdout)["runtime"]
    assert runtime["torch_version"] == "2.11.0+cu130" and runtime["cuda_available"] is False


def test_cuda_auto_dry_run(demo: Demo) -> None:
    before = (demo.root / "pyproject.toml").read_bytes()
    result = demo.run("torch", "install", "--cuda", "auto", "--dry-run", "torch==2.11.0")
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("--cuda auto: cu130 (cu130 is the newest CUDA build of torch 2.11")
    assert "Would run:" in result.stdout
    no_gpu = demo.run("torch", "install", "--cuda", "Auto", "--dry-run", machine="none")
    assert no_gpu.returncode == 0, no_gpu.stdout + no_gpu.stderr
    assert no_gpu.stdout.splitlines()[0] == "--cuda auto: cpu (no NVIDIA GPU found)"
    assert "for CPU only (cpu) from pytorch_cpu" in no_gpu.stdout
    assert (demo.root / "pyproject.toml").read_bytes() == before


def test_outside_a_project(tmp_path: Path, poetry_bin: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [str(poetry_bin), "--no-ansi", "torch", "check"],
        cwd=empty,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "no pyproject.toml" in result.stderr


def _verdict_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return lines[lines.index("Verdict") + 1 :]


def test_a_build_from_elsewhere_fails_check_and_the_fix_it_prints_works(
    project: Project, index_server: IndexServer
) -> None:
    """PyPI's torch, torchvision and torchaudio 2.9.0 (cu128 builds inside) installed behind
    Poetry's back over the configured cu128 2.8.0 build: ``check`` fails (exit 1, no ``ok``),
    text and JSON agree, one ``fix:`` line; running that command makes ``check`` pass and
    leaves pyproject.toml as committed (issue 23, items 1 and 2)."""
    on_h100 = {"POETRY_TORCH_FAKE_MACHINE": str(H100_JSON)}
    project.run("torch", "install", "--cuda", "12.8", extra_env=on_h100)
    # A teammate's clone of a project that declares only the source: no [tool.poetry-torch]
    text = project.pyproject.read_text()
    project.pyproject.write_text(text.split("\n[tool.poetry-torch]", 1)[0] + "\n")
    committed = project.pyproject.read_bytes()
    assert b"poetry-torch]" not in committed
    family = ("torch==2.9.0", "torchvision==0.24.0", "torchaudio==2.9.0")
    project.pip("install", "--index-url", index_server.pypi_url, *family)
    assert project.version_of("torch") == "2.9.0+cu128"  # untagged, as PyPI publishes it

    result = project.run("torch", "check", check=False, extra_env=on_h100)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = _verdict_lines(result.stdout)
    assert not any(line.startswith("  ok") for line in verdict), result.stdout
    assert any(line.startswith("  error: torch 2.9.0, torchvision 0.24.0") for line in verdict)
    assert any("the lock pins 2.8.0+cu128" in line for line in verdict), result.stdout
    assert "warning" not in result.stdout
    fixes = [line for line in verdict if line.lstrip().startswith("fix:")]
    assert fixes == ["      fix: poetry torch install"], result.stdout

    as_json = project.run("torch", "check", "--json", check=False, extra_env=on_h100)
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and data["exit_code"] == 1
    assert data["ok"] is False and data["status"] == "error"
    levels = {(v["code"], v["level"]) for v in data["verdicts"]}
    assert levels == {("foreign-build", "error"), ("lock-drift", "error")}, data["verdicts"]

    command = fixes[0].split("fix: ", 1)[1].split()
    assert command[:3] == ["poetry", "torch", "install"]
    fixed = project.run(*command[1:], extra_env=on_h100)
    assert "Updated pyproject.toml" not in fixed.stdout + fixed.stderr
    assert project.pyproject.read_bytes() == committed
    assert project.version_of("torch") == "2.8.0+cu128"
    after = project.run("torch", "check", extra_env=on_h100)
    assert _verdict_lines(after.stdout)[0].startswith("  ok: torch 2.8.0+cu128"), after.stdout
    assert len(_verdict_lines(after.stdout)) == 1, after.stdout
    assert (
        json.loads(project.run("torch", "check", "--json", extra_env=on_h100).stdout)["status"]
        == "ok"
    )


def test_check_judges_the_build_to_install_by_the_plan_install_applies(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    """A V100 (sm_70) and a project locked on cu128 torch 2.8.0, whose builds cover Volta;
    a CPU torch put in by hand.  ``check`` judged the cu128 build to install for the newest
    release the facts list it for (2.11: Turing and newer) and said it cannot run here, with
    ``--cuda auto`` to fix it, while ``poetry torch install`` (and the hook) replay the lock's
    2.8.0, which runs.  Now all three judge the one plan (``service.choose.plan_for``): check
    names the release it judged, its one fix is the install, and that install works here."""
    v100 = json.loads(H100_JSON.read_text())
    v100["nvidia"]["gpus"] = [{"name": "Tesla V100-SXM2-16GB", "compute_capability": [7, 0]}]
    machine = tmp_path / "v100.json"
    machine.write_text(json.dumps(v100))
    on_v100 = {"POETRY_TORCH_FAKE_MACHINE": str(machine)}
    project.run("torch", "install", "--cuda", "12.8", extra_env=on_v100)
    assert project.version_of("torch") == "2.8.0+cu128"
    project.pip(
        "install", "--no-deps", "--index-url", index_server.index_url("cpu"), "torch==2.8.0+cpu"
    )

    result = project.run("torch", "check", "--json", check=False, extra_env=on_v100)
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    codes = [verdict["code"] for verdict in data["verdicts"]]
    assert "arch-not-in-build" not in codes, data["verdicts"]
    assert "build-mismatch" in codes, data["verdicts"]
    assert data["fixes"] == ["poetry torch install"], data["verdicts"]

    dry = project.run("torch", "install", "--dry-run", extra_env=on_v100)
    assert (
        "Machine verdict: cu128 runs here (judged for torch 2.8.0 in poetry-torch.lock)."
        in dry.stdout
    ), dry.stdout
    project.run("torch", "install", extra_env=on_v100)
    assert project.version_of("torch") == "2.8.0+cu128"
    after = project.run("torch", "check", extra_env=on_v100)
    assert _verdict_lines(after.stdout)[0].startswith("  ok: torch 2.8.0+cu128"), after.stdout
