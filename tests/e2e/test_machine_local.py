"""Issue 14 item 2: each machine chooses its variant without editing committed files.

pyproject.toml configures cu129; ``POETRY_TORCH_VARIANT=cpu`` (or ``[poetry-torch] variant`` in
the uncommitted poetry.toml) installs another build, and pyproject.toml, poetry.lock and
poetry-torch.lock stay byte-identical; ``poetry torch check`` says which rule chose."""

from __future__ import annotations

import json

from pathlib import Path
from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def committed(project: Project) -> dict[str, bytes]:
    names = ("pyproject.toml", "poetry.lock", "poetry-torch.lock")
    files: dict[str, Path] = {name: project.root / name for name in names}
    return {name: path.read_bytes() for name, path in files.items() if path.exists()}


@pytest.mark.usefixtures("cu129_locked")
def test_env_override_installs_cpu_and_leaves_committed_files(
    project: Project, uv_path: dict[str, str]
) -> None:
    assert project.version_of("torch") == "2.9.0+cu129"
    cpu = {"POETRY_TORCH_VARIANT": "cpu"}
    # a machine-local choice installs only what poetry-torch.lock holds (issue 14 item 3) ...
    refused = project.run("install", extra_env=cpu, check=False)
    assert "Run `poetry torch lock --add-variant cpu` to lock it" in refused.stderr
    assert project.version_of("torch") == "2.9.0+cu129"
    # ... and adding it to the lock resolves nothing else (uv locks it for every Python)
    from poetry_torch_plugin.project.lockstate import read_lock

    torch_lock = project.root / "poetry-torch.lock"
    first = read_lock(torch_lock)
    added = project.run("torch", "lock", "--add-variant", "cpu", extra_env=uv_path)
    assert "entries for other machines (cpu linux-x86_64" in added.stdout, added.stdout
    now = read_lock(torch_lock)
    assert first is not None and now is not None
    assert (now.packages, now.resolved_for) == (first.packages, first.resolved_for)
    # cpu for every Python, and the committed cu129 for the Pythons other than this one
    found = {(e.variant, e.python) for e in now.entries}
    pythons = {f"3.{minor}" for minor in range(9, 15)}
    here = first.resolved_for.split()[1]
    assert found == {("cpu", p) for p in pythons} | {("cu129", p) for p in pythons - {here}}
    before = committed(project)
    assert set(before) == {"pyproject.toml", "poetry.lock", "poetry-torch.lock"}

    result = project.run("install", extra_env=cpu)
    assert "reinstalling" in result.stderr, result.stderr
    assert project.version_of("torch") == "2.8.0+cpu"
    assert project.version_of("torchvision") == "0.23.0+cpu"
    assert committed(project) == before

    check = project.run("torch", "check", extra_env=cpu, check=False)
    variant_line = [line for line in check.stdout.splitlines() if "chosen by" in line]
    assert len(variant_line) == 1 and "cpu, chosen by env" in variant_line[0], check.stdout
    report = json.loads(project.run("torch", "check", "--json", extra_env=cpu, check=False).stdout)
    assert report["project"]["variant_choice"]["rule"] == "env"
    assert report["project"]["variant_choice"]["committed"] == "cu129"

    # poetry.lock does not depend on the machine that writes it: `lock` solves for cu129
    project.run("lock", extra_env=cpu)
    assert committed(project) == before
    assert project.version_of("torch") == "2.8.0+cpu"

    # still cpu on the next command with the override: nothing to do, nothing said
    quiet = project.run("install", extra_env=cpu)
    assert "poetry-torch" not in quiet.stdout + quiet.stderr
    # without it, pyproject's cu129 comes back, replayed from poetry-torch.lock
    project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert committed(project) == before


@pytest.mark.usefixtures("cu129_locked")
def test_poetry_toml_override_with_torch_install(project: Project, uv_path: dict[str, str]) -> None:
    project.run(
        "torch", "lock", "--add-variant", "cu128", "--add-variant", "cpu", extra_env=uv_path
    )
    before = committed(project)
    # Poetry keeps an unknown table in poetry.toml, also through `poetry config --local`
    (project.root / "poetry.toml").write_text('[poetry-torch]\nvariant = "cu128"\n')
    project.run("config", "--local", "virtualenvs.in-project", "true")
    result = project.run("torch", "install")
    assert "chosen by local config" in result.stdout, result.stdout
    assert project.version_of("torch") == "2.8.0+cu128"
    assert committed(project) == before
    project.run("check")  # Poetry accepts the project and its poetry.toml
    check = project.run("torch", "check", "--json", check=False)
    assert json.loads(check.stdout)["project"]["variant_choice"]["rule"] == "local config"
    # the environment variable beats poetry.toml
    project.run("install", extra_env={"POETRY_TORCH_VARIANT": "cpu"})
    assert project.version_of("torch") == "2.8.0+cpu"
    assert committed(project) == before


def test_auto_without_a_source_picks_by_hardware(project: Project, tmp_path: Path) -> None:
    """``variant = "auto"`` and no source: this machine (no GPU) gets the CPU build; the
    committed files name no variant, and poetry.lock holds no torch."""
    machine = tmp_path / "no-gpu.json"
    machine.write_text(
        json.dumps({"platform": "linux-x86_64", "mps": False, "rocm": None, "nvidia": None})
    )
    env = {"POETRY_TORCH_FAKE_MACHINE": str(machine)}
    with project.pyproject.open("a") as file:
        file.write('\n[tool.poetry-torch]\nvariant = "auto"\npackages = ["torch"]\n')
    project.run("lock", extra_env=env)
    before = committed(project)
    project.run("install", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cpu"
    assert committed(project) == before
    assert b'name = "torch"' not in before["poetry.lock"]
    assert "poetry-torch.lock" not in before  # nothing locks a machine's own choice
    report = json.loads(project.run("torch", "check", "--json", extra_env=env, check=False).stdout)
    choice = report["project"]["variant_choice"]
    assert (choice["variant"], choice["rule"], choice["committed"]) == ("cpu", "auto", None)


def test_targets_pick_per_machine_kind_and_leave_committed_files(
    project: Project, tmp_path: Path, uv_path: dict[str, str]
) -> None:
    """Issue 14 item 1: one committed pyproject says what each kind of machine gets."""
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.machine import machine_to_dict

    # the GPU workstation (the H100 recording) configures the project ...
    h100 = Path(__file__).resolve().parents[1] / "fixtures" / "synthetic" / "fake-machine-h100.json"
    on_gpu = {"POETRY_TORCH_FAKE_MACHINE": str(h100), **uv_path}
    project.run("torch", "install", "--cuda", "12.9", extra_env=on_gpu)
    # `--for` sets one entry; it installs only where this machine is of that kind
    mine = project.run(
        "torch", "install", "--cuda", "12.9", "--for", "linux-x86_64", extra_env=on_gpu
    )
    assert (
        'Updated pyproject.toml: [tool.poetry-torch.targets] linux-x86_64 = "cu129"' in mine.stdout
    )
    other = project.run("torch", "install", "--cpu", "--for", "no-gpu", extra_env=on_gpu)
    assert "nothing installed here" in other.stdout, other.stdout
    # with a lock, `--for` locks the new target's entries (uv, every Python), keeping the rest
    assert "Locked no-gpu in poetry-torch.lock" in other.stdout, other.stdout
    project.run("torch", "lock", "--check")
    text = project.pyproject.read_text()
    assert '[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\nno-gpu = "cpu"\n' in text, text
    project.run("lock", extra_env=on_gpu)
    assert project.version_of("torch") == "2.9.0+cu129"  # its linux-x86_64 entry
    before = committed(project)
    ci_runner = tmp_path / "no-gpu.json"
    bare = Machine(nvidia=None, nvcc=None, mps=False, rocm=None, platform="linux-x86_64")
    ci_runner.write_text(json.dumps(machine_to_dict(bare)))
    on_ci = {"POETRY_TORCH_FAKE_MACHINE": str(ci_runner)}

    result = project.run("install", extra_env=on_ci)
    assert "reinstalling" in result.stderr, result.stderr
    assert project.version_of("torch") == "2.8.0+cpu"
    assert committed(project) == before
    report = json.loads(
        project.run("torch", "check", "--json", extra_env=on_ci, check=False).stdout
    )
    choice = report["project"]["variant_choice"]
    assert (choice["rule"], choice["variant"]) == ("target", "cpu"), choice
    assert 'no-gpu = "cpu"' in choice["detail"]
    shown = project.run("torch", "check", extra_env=on_ci, check=False).stdout
    assert 'cpu, chosen by target ([tool.poetry-torch.targets] no-gpu = "cpu")' in shown, shown

    # ... and back on the workstation, its linux-x86_64 entry: cu129, replayed from the lock
    project.run("install", extra_env=on_gpu)
    assert project.version_of("torch") == "2.9.0+cu129"
    assert committed(project) == before
