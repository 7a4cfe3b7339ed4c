"""Output that says what changed, not pip's log (issue 23, item 5): every install and the
hook's repair end with one line naming what moved (installed versions before -> after) and the
project files actually written; pip's own lines only at -v; a dry run says "Would …"; export
-o says what it wrote; ``poetry torch lock`` says when the lock did not change."""

from __future__ import annotations

import json

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARROW = "\u2192"
PIP_LOG = ("Successfully installed", "Collecting ", "Installing collected packages")


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_install_switch_hook_lock_and_export_say_what_changed(project: Project) -> None:
    fresh = project.run("torch", "install", "--cpu")
    out = fresh.stdout + fresh.stderr
    assert not [log for log in PIP_LOG if log in out], out  # pip's log only at -v
    line = last_line(fresh.stdout)
    assert line.startswith(
        "torch ready for CPU only (cpu): torch 2.8.0+cpu (new), torchvision 0.23.0+cpu (new),"
        " torchaudio 2.8.0+cpu (new)"
    ), out
    # (no poetry.lock yet: the install writes none)
    assert line.endswith("; wrote pyproject.toml, poetry-torch.lock"), out

    # a switch that changes the torch release too: the arrows show both; -v shows pip's log
    switch = project.run("torch", "install", "--cuda", "12.9", "-v")
    assert "Successfully installed" in switch.stdout, switch.stdout
    line = last_line(switch.stdout)
    assert line.startswith(
        f"torch ready for CUDA 12.9 (cu129): torch 2.8.0+cpu {ARROW} 2.9.0+cu129,"
        f" torchvision 0.23.0+cpu {ARROW} 0.24.0+cu129, torchaudio 2.8.0+cpu {ARROW} 2.9.0+cu129"
    ), switch.stdout
    assert line.endswith("; wrote pyproject.toml, poetry-torch.lock"), line

    # the same again: nothing moves, no file is written
    again = project.run("torch", "install")
    assert last_line(again.stdout) == (
        "torch ready for CUDA 12.9 (cu129): unchanged: torch 2.9.0+cu129, torchvision"
        " 0.24.0+cu129, torchaudio 2.9.0+cu129; no project file changed"
    ), again.stdout

    # a build broken by hand, repaired by the hook after `poetry install`: one line says what
    cpu = project.env["POETRY_TORCH_INDEX_BASE"] + "/cpu"
    project.pip("install", "--no-deps", "--index-url", cpu, "torch==2.8.0+cpu")
    repaired = project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert not [log for log in PIP_LOG if log in repaired.stdout + repaired.stderr]
    assert (
        f"poetry-torch: torch 2.8.0+cpu {ARROW} 2.9.0+cu129; unchanged: torchvision"
        " 0.24.0+cu129, torchaudio 2.9.0+cu129"
    ) in repaired.stderr, repaired.stderr

    # the lock that install wrote, resolved again: byte-identical, and said so
    before = (project.root / "poetry-torch.lock").read_bytes()
    locked = project.run("torch", "lock")
    assert (project.root / "poetry-torch.lock").read_bytes() == before
    assert locked.stdout.startswith("poetry-torch.lock unchanged: torch 2.9.0+cu129"), locked.stdout

    exported = project.run("torch", "export", "-o", "requirements-torch.txt")
    assert exported.stdout == "Wrote requirements-torch.txt\n"
    assert "torch==2.9.0+cu129" in (project.root / "requirements-torch.txt").read_text()


def test_a_dry_run_says_what_would_happen(project: Project, tmp_path: Path) -> None:
    machine = tmp_path / "no-gpu.json"
    machine.write_text(json.dumps({"platform": "linux-x86_64"}), encoding="utf-8")
    dry = project.run(
        "torch",
        "install",
        "--cuda",
        "12.9",
        "--dry-run",
        extra_env={"POETRY_TORCH_FAKE_MACHINE": str(machine)},
    )
    lines = dry.stdout.splitlines()
    assert lines[0].startswith(
        "No NVIDIA GPU found on this machine: would install cu129 anyway, unchecked"
    ), dry.stdout
    assert lines[1].startswith(
        "Would install torch, torchvision, torchaudio for CUDA 12.9 (cu129) from pytorch_cuda_cu129"
    ), dry.stdout
    # every line is conditional: nothing says it is installing (it is not)
    assert not [line for line in lines if "nstalling" in line], dry.stdout
    assert not (project.root / "poetry-torch.lock").exists()
