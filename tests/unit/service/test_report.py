"""The verdict table of ``poetry torch check``: machines x environments x configurations."""

from __future__ import annotations

import json
import re

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.facts import archs_for
from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import EnvState
from poetry_torch_plugin.env.installed import env_python
from poetry_torch_plugin.env.installed import read_environment
from poetry_torch_plugin.env.runtime import RuntimeResult
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.project.files import ProjectState
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.service.check import Report
from poetry_torch_plugin.service.check import build_report


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CU130_PY = "__version__ = '2.11.0+cu130'\ncuda: Optional[str] = '13.0'\nhip = None\n"
CU128_PY = "__version__ = '2.11.0+cu128'\ncuda = '12.8'\nhip = None\n"
CPU_PY = "__version__ = '2.11.0+cpu'\ncuda = None\nhip = None\n"


def nvidia(driver: str, cuda: list[int] | None, *gpus: tuple[str, list[int] | None]) -> Machine:
    return machine_from_dict(
        {
            "platform": "linux-x86_64",
            "nvidia": {
                "driver_version": driver,
                "cuda_driver_version": cuda,
                "gpus": [{"name": name, "compute_capability": cc} for name, cc in gpus],
            },
        }
    )


H100 = machine_from_dict(
    json.loads((FIXTURES / "synthetic" / "fake-machine-h100.json").read_text(encoding="utf-8"))
)
NO_GPU = machine_from_dict({"platform": "linux-x86_64"})
OLD_DRIVER = nvidia("470.82.01", [11, 4], ("Tesla T4", [7, 5]))
PASCAL = nvidia("580.65.06", [13, 0], ("Tesla P100-PCIE-16GB", [6, 0]))


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    version_py: str | None = None
    requires: tuple[str, ...] = ()
    complete: bool = True
    installer: str | None = None  # the dist-info's INSTALLER
    direct_url: str | None = None  # the url of its direct_url.json


def write_env(root: Path, dists: tuple[Dist, ...]) -> EnvState:
    """A fake virtualenv: pyvenv.cfg, dist-info folders and ``<pkg>/version.py`` files."""
    site = root / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.12.3\n")
    for dist in dists:
        info = site / f"{dist.name}-{dist.version}.dist-info"
        info.mkdir()
        requires = "".join(f"Requires-Dist: {line}\n" for line in dist.requires)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n{requires}\n"
        )
        if dist.complete:
            (info / "RECORD").write_text("")
        if dist.installer is not None:
            (info / "INSTALLER").write_text(f"{dist.installer}\n")
        if dist.direct_url is not None:
            data = {"url": dist.direct_url, "archive_info": {}}
            (info / "direct_url.json").write_text(json.dumps(data))
        if dist.version_py is not None:
            (site / dist.name).mkdir()
            (site / dist.name / "version.py").write_text(dist.version_py)
    return read_environment(root)


def project_toml(variant: str | None, packages: tuple[str, ...] | None = None) -> str:
    text = '[project]\nname = "demo"\nversion = "0.1.0"\n\n[tool.poetry]\npackage-mode = false\n'
    if variant is not None:
        name = "pytorch_cpu" if variant == "cpu" else f"pytorch_cuda_{variant}"
        if variant.startswith("rocm"):
            name = "pytorch_" + variant.replace(".", "_")
        text += (
            f'\n[[tool.poetry.source]]\nname = "{name}"\n'
            f'url = "https://download.pytorch.org/whl/{variant}"\npriority = "explicit"\n'
        )
    if packages is not None:
        listed = ", ".join(f'"{package}"' for package in packages)
        text += f"\n[tool.poetry-torch]\npackages = [{listed}]\n"
    return text


# As installed from the configured index (download.pytorch.org tags every CUDA/ROCm build).
TORCH_CU130 = Dist("torch", "2.11.0+cu130", CU130_PY)
VISION_CU130 = Dist("torchvision", "0.26.0+cu130", None, ("torch==2.11.0",))
AUDIO_CU130 = Dist("torchaudio", "2.11.0+cu130", None, ("torch==2.11.0",))
FAMILY = (TORCH_CU130, VISION_CU130, AUDIO_CU130)
ALL = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True)
class Case:
    machine: Machine
    dists: tuple[Dist, ...] | None  # None: no environment at all
    variant: str | None = "cu130"
    packages: tuple[str, ...] | None = ALL
    require_gpu: bool = False
    runtime: RuntimeResult | None = None
    extra_toml: str = ""
    codes: list[str] = field(default_factory=list)
    exit_code: int = 1
    fix: str | None = None


CASES: dict[str, Case] = {
    "ok: the configured index's cu130 family on an H100": Case(
        H100, FAMILY, codes=["ok"], exit_code=0
    ),
    "ok: index builds with local labels": Case(
        H100,
        (
            Dist("torch", "2.11.0+cu130"),
            Dist("torchvision", "0.26.0+cu130", None, ("torch==2.11.0",)),
        ),
        packages=("torch", "torchvision"),
        codes=["ok"],
        exit_code=0,
    ),
    "build does not match the configuration": Case(
        H100,
        FAMILY,
        variant="cu128",
        codes=["build-mismatch"] * 3,
        fix="poetry torch install",
    ),
    "torch missing": Case(
        H100, (VISION_CU130, AUDIO_CU130), codes=["torch-missing"], fix="poetry torch install"
    ),
    "driver too old for the build's CUDA": Case(
        OLD_DRIVER, FAMILY, codes=["driver-too-old"], fix="poetry torch install --cuda auto"
    ),
    "GPU architecture not in the build": Case(
        PASCAL, FAMILY, codes=["arch-not-in-build"], fix="poetry torch install --cuda auto"
    ),
    "CPU-only torch on a GPU machine: a warning": Case(
        H100,
        (Dist("torch", "2.11.0+cpu", CPU_PY),),
        variant="cpu",
        packages=("torch",),
        codes=["passed", "cpu-build-on-gpu"],
        exit_code=0,
        fix="poetry torch install --cuda auto",
    ),
    "CPU-only torch on a GPU machine with --require-gpu": Case(
        H100,
        (Dist("torch", "2.11.0+cpu", CPU_PY),),
        variant="cpu",
        packages=("torch",),
        require_gpu=True,
        codes=["cpu-build-on-gpu"],
    ),
    "torchvision pins another torch": Case(
        H100,
        (TORCH_CU130, Dist("torchvision", "0.25.0+cu130", None, ("torch==2.10.0",)), AUDIO_CU130),
        codes=["companion-mismatch"],
        fix="poetry torch install",
    ),
    "torchaudio is another variant than torch": Case(
        H100,
        (TORCH_CU130, Dist("torchaudio", "2.11.0", CU128_PY)),
        packages=("torch",),
        codes=["companion-mismatch"],
    ),
    "half-installed torchvision": Case(
        H100,
        (TORCH_CU130, Dist("torchvision", "0.26.0", None, complete=False), AUDIO_CU130),
        codes=["half-installed"],
        fix="poetry torch install",
    ),
    "no GPU: a warning (CI runners)": Case(NO_GPU, FAMILY, codes=["passed", "no-gpu"], exit_code=0),
    "no GPU with --require-gpu": Case(NO_GPU, FAMILY, require_gpu=True, codes=["no-gpu"]),
    "no GPU, and the project chose the CPU build: nothing to say": Case(
        NO_GPU,
        (Dist("torch", "2.11.0+cpu", CPU_PY),),
        variant="cpu",
        packages=("torch",),
        codes=["ok"],
        exit_code=0,
    ),
    "no GPU, the CPU build, --require-gpu: still an error": Case(
        NO_GPU,
        (Dist("torch", "2.11.0+cpu", CPU_PY),),
        variant="cpu",
        packages=("torch",),
        require_gpu=True,
        codes=["no-gpu"],
    ),
    "no pytorch source": Case(
        H100, FAMILY, variant=None, codes=["not-configured"], fix="poetry torch install --cuda auto"
    ),
    "two pytorch sources": Case(
        H100,
        FAMILY,
        extra_toml=(
            '\n[[tool.poetry.source]]\nname = "pytorch_cpu"\n'
            'url = "https://download.pytorch.org/whl/cpu"\npriority = "explicit"\n'
        ),
        codes=["config-error"],
    ),
    "no environment": Case(H100, None, codes=["no-environment"], fix="poetry torch install"),
    "runtime: import fails": Case(
        H100,
        FAMILY,
        runtime=RuntimeResult("python", 1.0, error="import torch failed: ImportError: libcuda"),
        codes=["runtime-failed"],
    ),
    "runtime: CUDA not available on a GPU machine": Case(
        H100,
        FAMILY,
        runtime=RuntimeResult("python", 1.0, torch_version="2.11.0+cu130", cuda_version="13.0"),
        codes=["cuda-unavailable"],
    ),
    "runtime: the GPU op fails": Case(
        H100,
        FAMILY,
        runtime=RuntimeResult(
            "python",
            1.0,
            torch_version="2.11.0+cu130",
            cuda_version="13.0",
            cuda_available=True,
            device_name="NVIDIA H100 80GB HBM3",
            op_ok=False,
            op_error="RuntimeError: CUDA error: no kernel image is available",
        ),
        codes=["gpu-op-failed"],
    ),
    "runtime: all well": Case(
        H100,
        FAMILY,
        runtime=RuntimeResult(
            "python", 1.0, torch_version="2.11.0+cu130", cuda_available=True, op_ok=True
        ),
        codes=["ok"],
        exit_code=0,
    ),
}


def build(tmp_path: Path, case: Case) -> Report:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(project_toml(case.variant, case.packages) + case.extra_toml)
    environment = EnvState(None) if case.dists is None else write_env(tmp_path / "venv", case.dists)
    return build_report(
        case.machine,
        environment,
        read_project(pyproject),
        runtime=case.runtime,
        require_gpu=case.require_gpu,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_verdicts(tmp_path: Path, case: Case) -> None:
    result = build(tmp_path, case)
    assert [verdict.code for verdict in result.verdicts] == case.codes
    assert result.exit_code == case.exit_code
    assert result.ok is (case.exit_code == 0)
    if case.fix is not None:
        assert result.verdicts[-1].fix == case.fix
    levels = [verdict.level for verdict in result.verdicts]
    for verdict in result.verdicts:
        assert verdict.level in ("ok", "info", "warning", "error")
        assert verdict.message and "\n" not in verdict.message
    # the first verdict says ok only when nothing but information follows
    assert (result.verdicts[0].code == "ok") is (result.status == "ok")
    assert result.status == (
        "error" if "error" in levels else "warning" if "warning" in levels else "ok"
    )
    assert result.to_dict()["status"] == result.status


def test_messages_name_what_is_wrong(tmp_path: Path) -> None:
    messages = {
        name: " ".join(verdict.message for verdict in build(tmp_path / str(i), case).verdicts)
        for i, (name, case) in enumerate(CASES.items())
    }
    assert "cu130 build, not cu128" in messages["build does not match the configuration"]
    assert "470.82.01 (for Tesla T4 (sm_75))" in messages["driver too old for the build's CUDA"]
    assert "(it runs CUDA up to 11.4)" in messages["driver too old for the build's CUDA"]
    assert "older than the 580" in messages["driver too old for the build's CUDA"]
    assert "sm_60" in messages["GPU architecture not in the build"]
    assert (
        "requires torch==2.10.0, but torch is 2.11.0+cu130"
        in messages["torchvision pins another torch"]
    )
    assert (
        "cu128 build, but torch 2.11.0+cu130 is a cu130 build"
        in messages["torchaudio is another variant than torch"]
    )
    assert "interrupted pip" in messages["half-installed torchvision"]
    assert "pytorch_cpu" in messages["two pytorch sources"]


# torch as pip/uv leave it in the environment (recorded dist-info: INSTALLER, direct_url.json)
PYPI_FAMILY = (
    Dist("torch", "2.11.0", CU130_PY, installer="uv"),
    Dist("torchvision", "0.26.0", None, ("torch==2.11.0",), installer="uv"),
    Dist("torchaudio", "2.11.0", None, ("torch==2.11.0",), installer="uv"),
)
ELSEWHERE = "https://mirror.example.org/wheels/torch-2.11.0%2Bcu130-cp312-cp312-linux_x86_64.whl"
CONFIGURED = (
    "https://download.pytorch.org/whl/cu130/torch-2.11.0%2Bcu130-cp312-cp312-linux_x86_64.whl"
)


def test_a_build_from_pypi_is_named_in_one_line_with_the_fix(tmp_path: Path) -> None:
    """The right variant, but PyPI's untagged build (e.g. installed without the plugin):
    check is a CI gate, so a build that did not come from the configured source fails it
    (issue 23 item 2; it was a warning under an ``ok``)."""
    result = build(tmp_path, Case(H100, PYPI_FAMILY))
    assert [verdict.code for verdict in result.verdicts] == ["foreign-build"]
    assert result.exit_code == 1 and result.status == "error"
    (foreign,) = result.verdicts
    assert foreign.level == "error" and foreign.fix == "poetry torch install"
    assert "\n" not in foreign.message
    # torchvision and torchaudio have no version.py here: nothing says where they came from
    assert foreign.message.startswith(
        "torch 2.11.0 (untagged, as PyPI publishes them, by uv) did not come from"
    )
    assert "did not come from pytorch_cuda_cu130" in foreign.message
    assert result.fixes() == ["poetry torch install"]  # said once, on its own line


@pytest.mark.parametrize(
    ("url", "foreign"),
    [(ELSEWHERE, True), (CONFIGURED, False), ("file:///home/me/torch-2.11.0.whl", True)],
)
def test_a_direct_url_install_is_judged_by_where_it_came_from(
    tmp_path: Path, url: str, foreign: bool
) -> None:
    dists = (Dist("torch", "2.11.0+cu130", CU130_PY, installer="pip", direct_url=url),)
    result = build(tmp_path, Case(H100, dists, packages=("torch",)))
    codes = [verdict.code for verdict in result.verdicts]
    assert codes == (["foreign-build"] if foreign else ["ok"])
    assert result.exit_code == (1 if foreign else 0)
    if foreign:
        message = result.verdicts[0].message
        assert message.startswith(f"torch 2.11.0+cu130 (installed from {url}, by pip)")


def test_foreign_builds_are_still_judged_and_a_leftover_version_py_is_not_theirs(
    tmp_path: Path,
) -> None:
    """torchvision 0.25.0 over a leftover 0.26.0+cu130 version.py: no provenance claim, and
    the companion verdict still comes."""
    dists = (
        Dist("torch", "2.11.0", CU130_PY, installer="pip"),
        Dist("torchvision", "0.25.0", None, ("torch==2.10.0",)),
    )
    env_root = tmp_path / "case"
    result = build(env_root, Case(H100, dists, packages=("torch", "torchvision")))
    codes = [verdict.code for verdict in result.verdicts]
    assert codes == ["foreign-build", "companion-mismatch"]
    assert result.verdicts[0].message.startswith("torch 2.11.0 (untagged, as PyPI")
    result_toml = env_root / "pyproject.toml"
    site = next((env_root / "venv").glob("lib/python*/site-packages"))
    (site / "torchvision").mkdir()
    (site / "torchvision" / "version.py").write_text("__version__ = '0.26.0+cu130'\n")
    again = build_report(H100, read_environment(env_root / "venv"), read_project(result_toml))
    assert [verdict.code for verdict in again.verdicts] == codes
    assert "torchvision" not in again.verdicts[0].message


def test_a_login_in_a_direct_url_is_not_shown(tmp_path: Path) -> None:
    url = "https://alice:s3cret@mirror.example.org/torch-2.11.0%2Bcu130-py3-none-any.whl"
    dists = (Dist("torch", "2.11.0+cu130", CU130_PY, installer="pip", direct_url=url),)
    result = build(tmp_path, Case(H100, dists, packages=("torch",)))
    assert [verdict.code for verdict in result.verdicts] == ["foreign-build"]
    assert "s3cret" not in result.verdicts[0].message
    assert "mirror.example.org/torch-2.11.0" in result.verdicts[0].message


def test_an_unlabelled_macos_build_is_not_foreign(tmp_path: Path) -> None:
    """macOS wheels on PyTorch's cpu index carry no local label, in either place."""
    macos_py = "__version__ = '2.11.0'\ncuda = None\nhip = None\n"
    dists = (Dist("torch", "2.11.0", macos_py, installer="pip"),)
    result = build(tmp_path, Case(NO_GPU, dists, variant="cpu", packages=("torch",)))
    assert "foreign-build" not in [verdict.code for verdict in result.verdicts]


def test_a_mismatched_torch_is_judged_by_the_configured_build(tmp_path: Path) -> None:
    """Reinstalling per the configuration would not help on a driver too old for it."""
    case = Case(OLD_DRIVER, (Dist("torch", "2.11.0", CPU_PY),), packages=("torch",))
    codes = [verdict.code for verdict in build(tmp_path, case).verdicts]
    assert codes == ["build-mismatch", "driver-too-old"]


def test_to_dict_is_json_and_complete(tmp_path: Path) -> None:
    result = build(tmp_path, CASES["ok: the configured index's cu130 family on an H100"])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ok"] is True and data["exit_code"] == 0
    assert machine_from_dict(data["machine"]) == H100
    assert data["environment"]["python"] == "3.12.3"
    torch = data["environment"]["packages"][0]
    assert torch == {
        "name": "torch",
        "installed": True,
        "version": "2.11.0+cu130",
        "build": "2.11.0+cu130",
        "variant": "cu130",
        "variant_description": "CUDA 13.0 (cu130)",
        "complete": True,
        "requires_torch": None,
    }
    assert data["environment"]["packages"][1]["requires_torch"] == "==2.11.0"
    assert data["project"]["source"]["name"] == "pytorch_cuda_cu130"
    assert data["project"]["variant"] == "cu130"
    assert data["project"]["packages"] == list(ALL)
    assert data["runtime"] is None
    assert data["verdicts"] == [
        {"code": "ok", "level": "ok", "message": data["verdicts"][0]["message"], "fix": None}
    ]


def test_source_credentials_are_redacted(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        project_toml(None) + '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu130"\n'
        'url = "https://user:secret@mirror.example/whl/cu130"\npriority = "explicit"\n'
    )
    result = build_report(H100, EnvState(None), read_project(pyproject))
    assert "secret" not in json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[project\nname = 1", "not valid TOML"),
        ('[tool.poetry-torch]\npackages = ["numpy"]\n', "not a PyTorch-index package"),
    ],
)
def test_unreadable_projects(tmp_path: Path, text: str, error: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(text)
    project = read_project(pyproject)
    assert project.error is not None and error in project.error
    result = build_report(NO_GPU, EnvState(None), project)
    assert [verdict.code for verdict in result.verdicts] == ["config-error", "no-environment"]


@pytest.mark.parametrize(
    ("toml", "name"),
    [
        ('[project]\nname = "Demo_App"\n', "Demo_App"),
        ('[tool.poetry]\nname = "legacy"\nversion = "1"\n', "legacy"),
        ("[tool.poetry]\npackage-mode = false\n", None),
    ],
)
def test_project_name(tmp_path: Path, toml: str, name: str | None) -> None:
    (tmp_path / "pyproject.toml").write_text(toml)
    assert read_project(tmp_path / "pyproject.toml").name == name


def test_environment_layouts(tmp_path: Path) -> None:
    windows = tmp_path / "win"
    (windows / "Lib" / "site-packages").mkdir(parents=True)
    (windows / "Scripts").mkdir()
    (windows / "Scripts" / "python.exe").write_text("")
    (windows / "pyvenv.cfg").write_text("home = C:\\Python312\nversion_info = 3.12.1.final.0\n")
    state = read_environment(windows)
    assert state.site_packages == (windows / "Lib" / "site-packages",)
    assert state.python_version == "3.12.1"
    assert env_python(windows) == windows / "Scripts" / "python.exe"

    bare = tmp_path / "bare"  # no pyvenv.cfg (a system prefix): the lib folder names it
    (bare / "lib" / "python3.10" / "site-packages").mkdir(parents=True)
    assert read_environment(bare).python_version == "3.10"
    assert env_python(bare) is None
    assert read_environment(None).root is None

    usr = tmp_path / "usr"  # Debian's system Python, as `virtualenvs.create = false` uses it
    local = usr / "local" / "lib" / "python3.11" / "dist-packages"
    local.mkdir(parents=True)
    (usr / "lib" / "python3" / "dist-packages").mkdir(parents=True)
    (usr / "bin").mkdir()
    (usr / "bin" / "python3").write_text("")
    state = read_environment(usr)
    assert state.site_packages == (local, usr / "lib" / "python3" / "dist-packages")
    assert state.python_version == "3.11"
    assert env_python(usr) == usr / "bin" / "python3"


def test_packages_rows_for_missing_and_unknown(tmp_path: Path) -> None:
    state = write_env(tmp_path / "venv", (Dist("torch", "2.11.0"),))
    rows = {row["name"]: row for row in Report(H100, state, _project(tmp_path), ()).packages()}
    assert rows["torch"]["variant"] is None and rows["torch"]["build"] == "2.11.0"
    assert rows["torchvision"] == {
        "name": "torchvision",
        "installed": False,
        "version": None,
        "build": None,
        "variant": None,
        "variant_description": None,
        "complete": None,
        "requires_torch": None,
    }


def _project(tmp_path: Path) -> ProjectState:
    data: dict[str, Any] = {}
    return ProjectState(tmp_path / "pyproject.toml", "demo", read_config(data))


# --- the report recorded on the H100 device machine (tests/fixtures/device-h100) -----------

DEVICE = FIXTURES / "device-h100"


def _recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEVICE / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", ["check.json", "check-runtime.json"])
def test_device_report_round_trips_its_machine(name: str) -> None:
    data = _recorded(name)
    machine = machine_from_dict(data["machine"])
    assert json.loads(json.dumps(machine_to_dict(machine))) == data["machine"]
    assert machine.nvidia is not None and machine.has_nvidia_gpu
    assert machine.nvidia.driver_version == "580.159.04"
    assert machine.nvidia.cuda_driver_version == (13, 0)
    assert [gpu.compute_capability for gpu in machine.nvidia.gpus] == [(9, 0)]
    assert machine.nvcc is not None and machine.nvcc.version == (13, 0)
    assert data["ok"] is True and data["exit_code"] == 0
    assert [verdict["code"] for verdict in data["verdicts"]] == ["ok"]


@pytest.mark.parametrize("name", ["check.json", "check-runtime.json"])
def test_device_verdicts_are_rebuilt_from_the_recorded_facts(tmp_path: Path, name: str) -> None:
    """Rebuild the environment from what the report says was installed: same verdicts."""
    data = _recorded(name)
    dists = []
    for row in data["environment"]["packages"]:
        assert row["installed"] and row["complete"]
        cuda = row["variant_description"].split()[1]  # "CUDA 13.0 (cu130)"
        version_py = f"__version__ = '{row['build']}'\ncuda = '{cuda}'\n"
        requires = (f"torch{row['requires_torch']}",) if row["requires_torch"] else ()
        dists.append(Dist(row["name"], row["version"], version_py, requires))
    project = data["project"]
    case = Case(
        machine_from_dict(data["machine"]),
        tuple(dists),
        project["variant"],
        tuple(project["packages"]),
    )
    runtime = data["runtime"]
    if runtime is not None:
        runtime = RuntimeResult(
            **{
                **runtime,
                "capability": tuple(runtime["capability"]),
                "arch_list": tuple(runtime["arch_list"]),
                "warnings": tuple(runtime["warnings"]),
            }
        )
        case = replace(case, runtime=runtime)
    rebuilt = build(tmp_path, case).to_dict()
    # That machine's torch came from PyPI (uv, untagged 2.11.0: fixtures/nvidia-h100/README.md),
    # recorded before `poetry torch check` said so (issue 16 item 13): the one new verdict,
    # an error since issue 23 item 2, so the recorded ``ok`` no longer opens the report.
    foreign = [v for v in rebuilt["verdicts"] if v["code"] == "foreign-build"]
    assert len(foreign) == 1 and "torch 2.11.0" in foreign[0]["message"]
    assert "(untagged, as PyPI publishes them)" in foreign[0]["message"]
    assert foreign[0]["level"] == "error" and rebuilt["exit_code"] == 1
    assert [v for v in rebuilt["verdicts"] if v["code"] != "foreign-build"] == [
        v for v in data["verdicts"] if v["code"] != "ok"
    ]
    assert rebuilt["environment"]["packages"] == data["environment"]["packages"]


def test_device_runtime_agrees_with_the_facts_table() -> None:
    runtime = _recorded("check-runtime.json")["runtime"]
    assert runtime["cuda_available"] is True and runtime["op_ok"] is True
    assert runtime["device_name"] == "NVIDIA H100 80GB HBM3"
    assert archs_for(load_facts(), "cu130", runtime["torch_version"]) == tuple(runtime["arch_list"])
    machine = machine_from_dict(_recorded("check.json")["machine"])
    assert choose_auto_variant(load_facts(), machine, runtime["torch_version"])[0] == "cu130"


def test_device_cuda_auto_line_matches_the_choice() -> None:
    first = (DEVICE / "install-auto-dry-run.txt").read_text(encoding="utf-8").splitlines()[0]
    machine = machine_from_dict(_recorded("check.json")["machine"])
    installed = _recorded("check-runtime.json")["runtime"]["torch_version"]  # 2.11.0+cu130
    choice = choose(load_facts(), machine, (), ("torch", "torchvision", "torchaudio"), installed)
    assert first == f"--cuda auto: {choice.variant} ({choice.reason})"
    assert "NVIDIA H100 80GB HBM3 (sm_90)" in first
    assert choice.variant.index_name == "cu130"  # follows the installed torch 2.11 (re-recorded)


def test_device_text_report_has_the_three_parts() -> None:
    text = (DEVICE / "check-runtime.txt").read_text(encoding="utf-8")
    for line in (
        "  NVIDIA driver  580.159.04 (runs CUDA up to 13.0), via nvml",
        "  GPU 0          NVIDIA H100 80GB HBM3, compute capability 9.0 (sm_90), 81559 MiB",
        "  torch          2.11.0+cu130 CUDA 13.0 (cu130)",
        "  Source         pytorch_cuda_cu130 (https://download.pytorch.org/whl/cu130)",
        "  cuda available True",
        "  GPU tensor op  ok",
    ):
        assert line in text.splitlines()
    assert "not what torch uses" in text


IGPU = machine_from_dict(
    {"platform": "linux-x86_64", "amd_gpus": [{"name": "AMD Radeon Graphics", "gfx": "gfx1036"}]}
)
MI300X = machine_from_dict(
    {
        "rocm": "7.2.0",
        "platform": "linux-x86_64",
        "amd_gpus": [{"name": "AMD Instinct MI300X", "gfx": "gfx942"}],
    }
)
ROCM_FAMILY = (
    Dist("torch", "2.11.0+rocm7.2"),
    Dist("torchvision", "0.26.0+rocm7.2", None, ("torch==2.11.0",)),
    Dist("torchaudio", "2.11.0+rocm7.2", None, ("torch==2.11.0",)),
)


def test_check_reports_gfx_against_the_rocm_build(tmp_path: Path) -> None:
    """issue 13 item 4: ``check`` compares each AMD GPU's gfx target with the build's list."""
    ok = build(tmp_path / "ok", Case(MI300X, ROCM_FAMILY, variant="rocm7.2"))
    assert [verdict.code for verdict in ok.verdicts] == ["ok"]
    igpu = build(tmp_path / "igpu", Case(IGPU, ROCM_FAMILY, variant="rocm7.2"))
    [verdict] = [v for v in igpu.verdicts if v.code == "gfx-not-in-build"]
    # facts.json's gfx lists are all unchecked: a warning, not an error
    assert verdict.level == "warning"
    assert "AMD GPU 0 (AMD Radeon Graphics, gfx1036) is not among the gfx targets" in (
        verdict.message
    )
    cpu_family = (
        Dist("torch", "2.11.0+cpu"),
        Dist("torchvision", "0.26.0+cpu", None, ("torch==2.11.0",)),
        Dist("torchaudio", "2.11.0+cpu", None, ("torch==2.11.0",)),
    )
    cpu = build(tmp_path / "cpu", Case(MI300X, cpu_family, variant="cpu"))
    assert "1 AMD GPU (AMD Instinct MI300X)" in " ".join(v.message for v in cpu.verdicts)


def test_check_shows_the_channel(tmp_path: Path) -> None:
    """issue 13 item 7: a source on the nightly (or test) channel is shown as such."""
    from poetry_torch_plugin.service.render import check_text

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        project_toml(None) + '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu130"\n'
        'url = "https://download.pytorch.org/whl/nightly/cu130"\npriority = "explicit"\n'
    )
    nightly = build_report(H100, EnvState(None), read_project(pyproject))
    assert nightly.to_dict()["project"]["source"]["channel"] == "nightly"
    text = "\n".join(check_text(nightly))
    assert "Channel" in text and "nightly (pre-releases allowed)" in text
    pyproject.write_text(project_toml("cu130"))
    stable = build_report(H100, EnvState(None), read_project(pyproject))
    assert stable.to_dict()["project"]["source"]["channel"] == "stable"
    assert "Channel" not in "\n".join(check_text(stable))


@pytest.mark.parametrize(
    ("written", "uv_found", "configured", "runs", "shown"),
    [
        (None, True, "pip", "pip", "Installer      pip"),  # pip by default, uv or no uv
        ('"uv"', True, "uv", "uv", "Installer      uv"),
        # a teammate without uv sees it before the hook fails on `poetry install`
        (
            '"uv"',
            False,
            "uv",
            "uv",
            'Installer      uv (not found: `poetry self add uv`, or installer = "pip")',
        ),
        ('"auto"', True, "auto", "uv", "Installer      auto: uv (/opt/bin/uv)"),
        ('"auto"', False, "auto", "pip", "Installer      auto: pip (no uv found)"),
    ],
)
def test_check_shows_which_installer_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    written: str | None,
    uv_found: bool,
    configured: str,
    runs: str,
    shown: str,
) -> None:
    from poetry_torch_plugin.installer import uv
    from poetry_torch_plugin.service.render import check_text

    monkeypatch.setattr(uv, "find_uv", lambda: "/opt/bin/uv" if uv_found else None)
    extra = "" if written is None else f"\n[tool.poetry-torch]\ninstaller = {written}\n"
    case = CASES["ok: the configured index's cu130 family on an H100"]
    result = build(tmp_path, replace(case, packages=None, extra_toml=case.extra_toml + extra))
    installer = result.to_dict()["project"]["installer"]
    assert (installer["configured"], installer["runs"]) == (configured, runs)
    text = "\n".join(check_text(result))
    assert re.search(rf"^  {re.escape(shown)}$", re.sub(r"<[^>]+>", "", text), re.M), text
