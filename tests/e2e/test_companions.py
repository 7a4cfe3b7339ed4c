"""Installed companions follow torch (issue 23, item 1), with the real poetry executable.

torch, torchvision and torchaudio cu128 installed; naming only torch for another build must
not leave torchvision/torchaudio pinned to the old torch: the same transaction updates them from
the same index.  After each scenario: ``pip check`` in the environment, ``poetry torch check``'s
exit status, and the ``fix:`` command it prints is run and shown to fix it."""

from __future__ import annotations

import subprocess

from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_check import H100_JSON
from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ON_H100 = {"POETRY_TORCH_FAKE_MACHINE": str(H100_JSON)}
FAMILY = ("torch", "torchvision", "torchaudio")


def pip_check(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project.venv / "bin" / "python"), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        check=False,
        env={"PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def versions(project: Project) -> dict[str, str | None]:
    return {name: project.version_of(name) for name in FAMILY}


def packages(project: Project) -> list[str]:
    return list(loads(project.pyproject.read_text())["tool"]["poetry-torch"]["packages"])


def fixes(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split("fix: ", 1)[1] for line in result.stdout.splitlines() if "fix: " in line]


def test_named_torch_takes_the_installed_companions_along(project: Project) -> None:
    project.run("torch", "install", "--cuda", "12.8", extra_env=ON_H100)
    assert versions(project) == {
        "torch": "2.8.0+cu128",
        "torchvision": "0.23.0+cu128",
        "torchaudio": "2.8.0+cu128",
    }

    args = ("torch", "install", "--cuda", "12.9", "torch>=2.9")
    dry = project.run(*args, "--dry-run", extra_env=ON_H100).stdout
    assert (
        "If the torch it installs does not belong with the installed torchvision 0.23.0+cu128"
        " and torchaudio 2.8.0+cu128, they would be installed with it from pytorch_cuda_cu129"
    ) in dry, dry
    result = project.run(*args, extra_env=ON_H100)
    out = result.stdout
    assert "installing torchvision and torchaudio with it from pytorch_cuda_cu129" in out, out
    assert versions(project) == {
        "torch": "2.9.0+cu129",
        "torchvision": "0.24.0+cu129",
        "torchaudio": "2.9.0+cu129",
    }
    assert packages(project) == ["torch>=2.9", "torchvision", "torchaudio"]
    assert "torchvision 0.23.0+cu128 → 0.24.0+cu129" in out, out
    assert pip_check(project).returncode == 0, pip_check(project).stdout
    check = project.run("torch", "check", extra_env=ON_H100)
    assert "  ok: torch 2.9.0+cu129, torchvision 0.24.0+cu129" in check.stdout, check.stdout
    assert fixes(check) == []

    # nothing to do now: a plain install leaves every committed file as it is
    committed = project.pyproject.read_bytes(), (project.root / "poetry-torch.lock").read_bytes()
    again = project.run("torch", "install", extra_env=ON_H100)
    assert "no project file changed" in again.stdout, again.stdout
    assert "Updated pyproject.toml" not in again.stdout
    assert (
        project.pyproject.read_bytes(),
        (project.root / "poetry-torch.lock").read_bytes(),
    ) == committed


def test_the_fix_check_prints_repairs_companions_left_behind(
    project: Project, index_server: IndexServer
) -> None:
    """torch>=2.9 configured alone, torchvision/torchaudio cu128 put beside it by hand:
    ``pip check`` and ``poetry torch check`` fail, and the fix ``check`` prints repairs both."""
    project.run("torch", "install", "--cuda", "12.9", "torch>=2.9", extra_env=ON_H100)
    assert packages(project) == ["torch>=2.9"]
    cu128 = index_server.index_url("cu128")
    project.pip(
        "install", "--no-deps", "--index-url", cu128, "torchvision==0.23.0", "torchaudio==2.8.0"
    )
    assert pip_check(project).returncode == 1
    broken = project.run("torch", "check", check=False, extra_env=ON_H100)
    assert broken.returncode == 1, broken.stdout
    assert "torchvision 0.23.0+cu128 requires torch==2.8.0" in broken.stdout, broken.stdout
    assert fixes(broken) == ["poetry torch install"], broken.stdout

    fixed = project.run(*fixes(broken)[0].split()[1:], extra_env=ON_H100)
    assert "installing torchvision and torchaudio with it" in fixed.stdout, fixed.stdout
    assert versions(project) == {
        "torch": "2.9.0+cu129",
        "torchvision": "0.24.0+cu129",
        "torchaudio": "2.9.0+cu129",
    }
    assert packages(project) == ["torch>=2.9", "torchvision", "torchaudio"]
    assert pip_check(project).returncode == 0
    after = project.run("torch", "check", extra_env=ON_H100)
    assert fixes(after) == [], after.stdout
    # poetry install and poetry torch check agree afterwards
    project.run("install", extra_env=ON_H100)
    assert versions(project)["torchvision"] == "0.24.0+cu129"


def test_a_machine_local_choice_refuses_rather_than_leave_companions(
    project: Project, index_server: IndexServer, uv_path: dict[str, str]
) -> None:
    """POETRY_TORCH_VARIANT=cu128 replays its entry of poetry-torch.lock and never edits
    pyproject.toml, so it cannot take a torchvision it does not name along: one line, nothing
    changed."""
    project.run("torch", "install", "--cuda", "12.9", "torch")
    project.run("torch", "lock", "--add-variant", "cu128", extra_env=uv_path)
    cu129 = index_server.index_url("cu129")
    project.pip("install", "--no-deps", "--index-url", cu129, "torchvision==0.24.0")
    assert pip_check(project).returncode == 0  # torchvision 0.24.0 belongs with torch 2.9.0
    names = ("pyproject.toml", "poetry-torch.lock")
    before = {name: (project.root / name).read_bytes() for name in names}

    local = {"POETRY_TORCH_VARIANT": "cu128", **uv_path}
    dry = project.run("torch", "install", "--dry-run", extra_env=local).stdout
    assert "the install would stop with nothing changed" in dry, dry
    refused = project.run("torch", "install", check=False, extra_env=local)
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("poetry-torch: "), refused.stderr
    assert "torchvision 0.24.0+cu129 requires torch==2.9.0, but torch is 2.8.0+cu128" in lines[0]
    assert "Add torchvision to packages" in lines[0], lines[0]
    assert project.version_of("torch") == "2.9.0+cu129"
    assert {name: (project.root / name).read_bytes() for name in names} == before
