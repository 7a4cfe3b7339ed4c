"""An explicit build this machine cannot run is refused before a byte is downloaded (issue 13,
item 3): real Poetry, the local index, a fake machine whose driver is too old for CUDA 12."""

from __future__ import annotations

import json

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def old_driver(tmp_path: Path) -> dict[str, str]:
    machine = {
        "nvidia": {
            "driver_version": "520.61.05",
            "cuda_driver_version": [11, 8],
            "gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}],
        },
        "platform": "linux-x86_64",
    }
    path = tmp_path / "old-driver.json"
    path.write_text(json.dumps(machine), encoding="utf-8")
    return {"POETRY_TORCH_FAKE_MACHINE": str(path)}


def test_too_old_a_driver_is_refused_before_any_download(
    project: Project, index_server: IndexServer, old_driver: dict[str, str]
) -> None:
    before = project.pyproject.read_bytes()
    result = project.run("torch", "install", "--cuda", "12.9", check=False, extra_env=old_driver)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, output
    line = errors[0]
    assert "--cuda 12.9 cannot run on this machine" in line, line
    assert (
        "NVIDIA driver 520.61.05 (for NVIDIA H100 80GB HBM3 (sm_90)) is older than the 525.60.13"
        in line
    ), line
    assert "Nothing was downloaded or changed" in line, line
    assert "--cuda auto" in line and "--force" in line, line
    assert project.pyproject.read_bytes() == before
    assert not (project.root / "poetry-torch.lock").exists()
    wheels = [r.path for r in index_server.requests if r.path.endswith(".whl")]
    assert wheels == [], wheels
    assert not [r.path for r in index_server.requests if "/whl/" in r.path]


def test_force_goes_ahead_with_a_warning(
    project: Project, index_server: IndexServer, old_driver: dict[str, str]
) -> None:
    result = project.run(
        "torch", "install", "--cuda", "12.9", "--force", "--dry-run", extra_env=old_driver
    )
    assert (
        "--force: NVIDIA driver 520.61.05 (for NVIDIA H100 80GB HBM3 (sm_90)) is older"
        in result.stdout
    )
    assert "would install cu129 anyway" in result.stdout  # a dry run: conditional
    assert "Would run:" in result.stdout


def test_cuda_on_a_mac_is_refused_and_force_does_not_apply(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    mac = tmp_path / "mac.json"
    mac.write_text(json.dumps({"mps": True, "platform": "darwin-arm64"}), encoding="utf-8")
    before = project.pyproject.read_bytes()
    result = project.run(
        "torch",
        "install",
        "--cuda",
        "12.9",
        "--force",
        check=False,
        extra_env={"POETRY_TORCH_FAKE_MACHINE": str(mac)},
    )
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(errors) == 1, result.stdout + result.stderr
    assert "PyTorch publishes no CUDA builds for macOS" in errors[0]
    assert "poetry torch install --cpu" in errors[0]
    assert project.pyproject.read_bytes() == before
    assert not [r.path for r in index_server.requests if "/whl/" in r.path]


def test_a_jetpack_jetson_is_told_the_truth_in_one_line(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    """Jetson Orin (JetPack 5: no nvidia-smi): an explicit --cuda is refused before any
    download, naming JetPack's wheels; `--cuda auto` picks cpu and says why in the same words."""
    orin = tmp_path / "orin.json"
    jetson = {"model": "NVIDIA Jetson AGX Orin Developer Kit", "soc": "tegra234", "l4t": "R35.4.1"}
    orin.write_text(json.dumps({"platform": "linux-aarch64", "jetson": jetson}), encoding="utf-8")
    env = {"POETRY_TORCH_FAKE_MACHINE": str(orin)}
    before = project.pyproject.read_bytes()
    refused = project.run("torch", "install", "--cuda", "12.6", check=False, extra_env=env)
    errors = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(errors) == 1, refused.stdout + refused.stderr
    line = errors[0]
    assert "--cuda 12.6 cannot run on this machine" in line and "sm_87" in line, line
    assert "JetPack" in line and "--force" in line and "Traceback" not in line, line
    assert project.pyproject.read_bytes() == before
    assert not [r.path for r in index_server.requests if "/whl/" in r.path]
    auto = project.run("torch", "install", "--cuda", "auto", "--dry-run", extra_env=env)
    first = auto.stdout.splitlines()[0]
    assert first.startswith("--cuda auto: cpu (") and "JetPack" in first, auto.stdout
    # the same sentence in both
    assert line.split("cannot run on this machine: ")[1].split(". Nothing")[0] in first
