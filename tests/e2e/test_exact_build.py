"""Issue 22 items 1 and 10(b): the machine is judged for the exact build this project will
install, by one rule for every ``auto`` (the flag, a target, ``POETRY_TORCH_VARIANT``):
poetry-torch.lock's pins when it is fresh, else the newest release the index publishes that the
project admits, else (the index unreadable) the facts, and the output says which decided.

Real Poetry; a local index shaped like PyTorch's in 2026 (``IndexServer(real=True)``) that
publishes torch 2.8.0 for cu126, cu128 and cu129 only (not the cu130/cu132 the facts' newest
torch has); a project declaring ``torch>=2.8,<2.9``; fake machines: an H100 with driver 580
and a GTX 1080 Ti (sm_61, which torch 2.8's checked cu128 list lacks)."""

from __future__ import annotations

import json
import re

from typing import TYPE_CHECKING

import pytest

from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.wheels import _torch_family_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.index_server import IndexServer

pytestmark = [pytest.mark.e2e]

TORCH_28 = '\n[tool.poetry-torch]\npackages = ["torch>=2.8,<2.9"]\n'
DRIVER = {"driver_version": "580.95.05", "cuda_driver_version": [13, 0]}
H100: dict[str, object] = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}
GTX_1080_TI: dict[str, object] = {
    "name": "NVIDIA GeForce GTX 1080 Ti",
    "compute_capability": [6, 1],
}


@pytest.fixture
def torch28_index(tmp_path: Path) -> Iterator[IndexServer]:
    from tests.support.index_server import IndexServer

    root = tmp_path / "torch28-index"
    for label in ("cu126", "cu128", "cu129", "cpu"):
        _torch_family_wheel(root / "whl" / label, "torch", "2.8.0", label, requires=[])
    with IndexServer(root, real=True) as server:
        yield server


def _machine(tmp_path: Path, gpu: dict[str, object]) -> str:
    path = tmp_path / f"machine-{str(gpu['compute_capability']).replace(' ', '')}.json"
    path.write_text(
        json.dumps({"platform": "linux-x86_64", "nvidia": {**DRIVER, "gpus": [gpu]}}),
        encoding="utf-8",
    )
    return str(path)


def _on(project: Project, index: IndexServer, machine: str, tail: str = TORCH_28) -> Project:
    found = re.search(r'url = "([^"]+)"', project.pyproject.read_text())
    assert found is not None
    project.pyproject.write_text(pyproject_text(found.group(1), dependencies=()) + tail)
    env = {
        **project.env,
        "POETRY_TORCH_INDEX_BASE": index.base,
        "POETRY_TORCH_FAKE_MACHINE": machine,
    }
    return Project(project.root, project.poetry, env)


def _wheels(server: IndexServer) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith(".whl")]


def test_auto_judges_the_release_the_index_publishes(
    project: Project, torch28_index: IndexServer, tmp_path: Path
) -> None:
    """``--cuda auto`` on an H100: cu129 (torch 2.8.0 on the index), not the CPU build the
    facts' newest torch (2.15: cu130, cu132, neither on this index) led to."""
    h100 = _on(project, torch28_index, _machine(tmp_path, H100))
    before = h100.pyproject.read_bytes()
    result = h100.run("torch", "install", "--cuda", "auto", "--dry-run")
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        "--cuda auto: cu129 (cu129 is the newest CUDA build of torch 2.8.0 on the index"
    ), result.stdout
    assert "with kernels for NVIDIA H100 80GB HBM3 (sm_90)" in first, first
    assert "2.15" not in result.stdout and "facts" not in result.stdout, result.stdout
    assert _wheels(torch28_index) == []  # judged from the pages, no wheel downloaded
    assert h100.pyproject.read_bytes() == before


def test_auto_judges_by_the_lock_first(
    project: Project, torch28_index: IndexServer, tmp_path: Path
) -> None:
    """Once poetry-torch.lock pins torch 2.8.0+cu129, ``auto`` (the flag and
    ``POETRY_TORCH_VARIANT=auto``) judges that build and says the lock decided."""
    h100 = _on(project, torch28_index, _machine(tmp_path, H100))
    h100.run("torch", "install", "--cuda", "auto")
    assert h100.version_of("torch") == "2.8.0+cu129"
    assert 'name = "pytorch_cuda_cu129"' in h100.pyproject.read_text()
    flag = h100.run("torch", "install", "--cuda", "auto", "--dry-run")
    assert flag.stdout.startswith(
        "--cuda auto: cu129 (cu129 is the newest CUDA build of torch 2.8.0 in poetry-torch.lock"
    ), flag.stdout
    torch28_index.clear_log()
    auto = {"POETRY_TORCH_VARIANT": "auto"}
    check = h100.run("torch", "check", "--json", extra_env=auto, check=False)
    choice = json.loads(check.stdout)["project"]["variant_choice"]
    assert (choice["variant"], choice["rule"]) == ("cu129", "auto"), choice
    assert "cu129 is the newest CUDA build of torch 2.8.0 in poetry-torch.lock" in choice["detail"]
    assert torch28_index.requests == []  # the lock decided: no index page read
    h100.run("install", extra_env=auto)  # the hook replays the lock's cu129: nothing to do
    assert h100.version_of("torch") == "2.8.0+cu129"


def test_a_target_auto_installs_what_the_index_publishes(
    project: Project, torch28_index: IndexServer, tmp_path: Path
) -> None:
    """``linux-x86_64 = "auto"`` and no source (a fresh clone): ``poetry install`` installs
    torch 2.8.0+cu129, judged on the index (the facts alone named cu130 or cu132, which this
    index does not publish, and the install failed)."""
    tail = TORCH_28 + '\n[tool.poetry-torch.targets]\nlinux-x86_64 = "auto"\n'
    h100 = _on(project, torch28_index, _machine(tmp_path, H100), tail)
    h100.run("lock")
    h100.run("install")
    assert h100.version_of("torch") == "2.8.0+cu129"
    report = json.loads(h100.run("torch", "check", "--json", check=False).stdout)
    choice = report["project"]["variant_choice"]
    assert (choice["variant"], choice["rule"]) == ("cu129", "auto"), choice


def test_an_explicit_build_is_judged_for_its_exact_release(
    project: Project, torch28_index: IndexServer, tmp_path: Path
) -> None:
    """``--cuda 12.8`` on a GTX 1080 Ti: torch 2.8.0's cu128 list (checked) has no sm_61, so
    it is refused before any download, naming cu126 (which has it)."""
    pascal = _on(project, torch28_index, _machine(tmp_path, GTX_1080_TI))
    before = pascal.pyproject.read_bytes()
    result = pascal.run("torch", "install", "--cuda", "12.8", check=False)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(errors) == 1, result.stdout + result.stderr
    line = errors[0]
    assert line.startswith(
        "poetry-torch: --cuda 12.8 (torch 2.8.0 on the index) cannot run on this machine: GPU 0"
        " (NVIDIA GeForce GTX 1080 Ti, sm_61) is not among the architectures of cu128"
    ), line
    assert "(picks cu126 here) or `poetry torch install --cuda 12.6`" in line, line
    assert "Traceback" not in result.stdout + result.stderr
    assert _wheels(torch28_index) == []
    assert pascal.pyproject.read_bytes() == before
    assert not (pascal.root / "poetry-torch.lock").exists()
    # and auto, by the same rule, takes cu126 there
    auto = pascal.run("torch", "install", "--cuda", "auto", "--dry-run")
    assert auto.stdout.startswith("--cuda auto: cu126 (cu126 is the newest CUDA build of torch"), (
        auto.stdout
    )


def test_an_unreadable_index_judges_by_the_facts_and_says_so(
    project: Project, torch28_index: IndexServer, tmp_path: Path
) -> None:
    """The index cannot be read: the facts judge the newest release the project admits
    (torch 2.8, whose cu128 list lacks sm_61), and a line says the index was not read."""
    pascal = _on(project, torch28_index, _machine(tmp_path, GTX_1080_TI))
    offline = {"POETRY_TORCH_INDEX_BASE": "http://127.0.0.1:9/whl"}
    result = pascal.run("torch", "install", "--cuda", "12.8", check=False, extra_env=offline)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "--cuda 12.8: cannot reach the index http://127.0.0.1:9/whl/cu128" in result.stdout
    assert "judged by the facts alone (facts.json), not the index" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "--cuda 12.8 cannot run on this machine" in errors[0], errors
    assert "(picks cu126 here)" in errors[0], errors
