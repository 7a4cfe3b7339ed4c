"""Issue 22 item 10 (a) and (c): one decision for the whole team lock.

(a) Every part of a universal poetry-torch.lock pins one release: when the index publishes a
newer torch, ``poetry torch lock`` and ``poetry torch install --upgrade`` move every entry to
the newest release published for all of them (not only this interpreter's part), and
``lock --check`` names the entries of a lock whose releases differ.  (c) A switch that
contradicts this machine's targets entry is refused in one line, and ``lock --check`` never
says "matches" when this machine's configured variant has no entry.

Real ``poetry`` and uv, the platform-tagged indexes on 127.0.0.1 (``tests.support
.platform_wheels``): other Pythons and platforms are locked with ``uv --python-platform``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.project.lockstate import read_lock
from poetry_torch_plugin.project.lockstate import write_lock
from poetry_torch_plugin.service.plan import committed_of
from tests.e2e.test_universal_lock import HERE
from tests.e2e.test_universal_lock import no_gpu  # noqa: F401  (a fixture)
from tests.e2e.test_universal_lock import one_error
from tests.e2e.test_universal_lock import team
from tests.e2e.test_universal_lock import team_pyproject


if TYPE_CHECKING:
    from tests.support.fixtures import PlatformIndex
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# two Pythons keep the number of uv resolutions small: this one and its neighbour
PYTHONS = ">=3.10,<3.12" if HERE in ("3.10", "3.11") else f">={HERE},<3.{int(HERE[2:]) + 2}"
WORKSTATIONS = '\n[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\nno-gpu = "cpu"\n'


def project_for(
    root: Path,
    poetry_bin: Path,
    index: PlatformIndex,
    uv_path: dict[str, str],
    machine: str,
    targets: str,
    variant: str = "cu129",
) -> Project:
    project = team(root, poetry_bin, index, uv_path, machine, targets)
    text = team_pyproject(index, targets).replace('">=3.10,<3.14"', f'"{PYTHONS}"')
    if variant != "cu129":
        text = text.replace("pytorch_cuda_cu129", f"pytorch_{variant}")
        text = text.replace(index.url("cu129"), index.url(variant))
    project.pyproject.write_text(text)
    return project


def releases(project: Project) -> dict[tuple[str, str, str], str]:
    """(variant, platform, Python) -> torch's version, the lock's first part included."""
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    found = {
        (e.variant, e.platform, e.python): next(
            p.version for p in e.lock.packages if p.name == "torch"
        )
        for e in lock.entries
    }
    first = next(p.version for p in lock.packages if p.name == "torch")
    found[(committed_of(lock), "first part", lock.resolved_for)] = first
    return found


def test_a_newer_release_moves_every_entry_of_the_team_lock_together(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,  # noqa: F811
) -> None:
    index = fresh_platform_index
    project = project_for(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, WORKSTATIONS)
    project.run("torch", "lock")
    before = releases(project)
    assert len(before) == 4, before  # cu129 and cpu, two Pythons each
    assert {version.split("+")[0] for version in before.values()} == {"2.9.0"}
    old_lock = read_lock(project.root / LOCK_NAME)

    # the index publishes 2.9.1 for cu129, but not for every Python: nothing moves, and the
    # line says which entry lacks it
    from tests.support.platform_wheels import platform_wheel

    index.publish_newer("cu129")
    py = "310" if HERE != "3.10" else "311"
    lacking = platform_wheel(index.universe, "cu129", "torch", py, "manylinux_2_28_x86_64", "2.9.1")
    lacking.rename(lacking.with_name(lacking.name + ".away"))
    held = project.run("torch", "lock")
    assert "one release per variant: cpu at torch 2.9.0; cu129 at torch 2.9.0" in held.stdout
    assert (
        f"torch 2.9.1 left out: the index has none for cu129 for linux-x86_64, Python"
        f" {py[0]}.{py[1:]}" in held.stdout
    ), held.stdout
    assert releases(project) == before
    project.run("torch", "lock", "--check")

    # once it has it for every Python: every cu129 entry moves, not only this Python's part
    lacking.with_name(lacking.name + ".away").rename(lacking)
    moved = project.run("torch", "lock")
    assert "cpu at torch 2.9.0; cu129 at torch 2.9.1" in moved.stdout, moved.stdout
    after = releases(project)
    assert set(after) == set(before)
    assert {v for k, v in after.items() if k[0] == "cu129"} == {"2.9.1+cu129"}, after
    assert {v for k, v in after.items() if k[0] == "cpu"} == {"2.9.0+cpu"}, after
    project.run("torch", "lock", "--check")

    # and the cpu index too (the no-gpu machines): every cpu entry moves with it
    index.publish_newer("cpu")
    project.run("torch", "lock")
    after = releases(project)
    assert {version.split("+")[0] for version in after.values()} == {"2.9.1"}, after
    assert "matches" in project.run("torch", "lock", "--check").stdout

    # a lock whose parts disagree (an older plugin moved one part, a hand edit): --check fails
    # in one line naming them, and `poetry torch lock` puts it right
    new_lock = read_lock(project.root / LOCK_NAME)
    assert old_lock is not None and new_lock is not None
    stale = next(e for e in old_lock.entries if e.variant == "cpu" and e.python != HERE)
    mixed = tuple(stale if e.where == stale.where else e for e in new_lock.entries)
    write_lock(project.root / LOCK_NAME, replace(new_lock, entries=mixed))
    line = one_error(project.run("torch", "lock", "--check", check=False))
    assert "poetry-torch.lock pins torch 2.9." in line, line
    assert "but another release for cpu on linux-x86_64, Python 3.1" in line, line
    assert "every machine of one variant must get the same release" in line
    assert "run `poetry torch lock` to move them to one" in line
    project.run("torch", "lock")
    assert {v.split("+")[0] for v in releases(project).values()} == {"2.9.1"}
    project.run("torch", "lock", "--check")


def test_install_upgrade_moves_the_whole_team_lock(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,  # noqa: F811
) -> None:
    """The committed variant is this machine's (cpu, and no-gpu says cpu too)."""
    index = fresh_platform_index
    targets = '\n[tool.poetry-torch.targets]\nno-gpu = "cpu"\nlinux-aarch64 = "cpu"\n'
    project = project_for(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, targets, "cpu")
    project.run("torch", "install")
    assert project.version_of("torch") == "2.9.0+cpu"
    assert {v.split("+")[0] for v in releases(project).values()} == {"2.9.0"}
    index.publish_newer("cpu")
    upgraded = project.run("torch", "install", "--upgrade")
    assert "Resolving every entry of poetry-torch.lock" in upgraded.stdout, upgraded.stdout
    assert project.version_of("torch") == "2.9.1+cpu"
    after = releases(project)
    assert len(after) == 4, after  # x86_64 and aarch64, two Pythons each
    assert {v.split("+")[0] for v in after.values()} == {"2.9.1"}, after
    project.run("torch", "lock", "--check")
    project.run("install")  # the hook replays the same part: nothing to put back
    assert project.version_of("torch") == "2.9.1+cpu"


def test_a_switch_against_this_machines_target_is_refused_and_check_sees_a_missing_entry(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,  # noqa: F811
) -> None:
    index = fresh_platform_index
    targets = '\n[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\n'
    project = project_for(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, targets)
    project.run("torch", "lock")
    files = {name: (project.root / name).read_bytes() for name in ("pyproject.toml", LOCK_NAME)}

    # --cuda 12.8 would commit cu128 while the entry keeps choosing cu129 here: refused
    for dry in ((), ("--dry-run",)):
        line = one_error(project.run("torch", "install", "--cuda", "12.8", *dry, check=False))
        assert (
            'asks for cu128, but [tool.poetry-torch.targets] linux-x86_64 = "cu129" chooses' in line
        ), line
        assert "nothing was changed" in line
        assert "`poetry torch install --cuda 12.8 --for linux-x86_64`" in line
    assert {name: (project.root / name).read_bytes() for name in files} == files
    assert project.version_of("torch") is None
    assert "matches" in project.run("torch", "lock", "--check").stdout

    # a lock without this machine's entry (as the switch used to leave it): --check fails
    project.pyproject.write_text(
        project.pyproject.read_text()
        .replace("pytorch_cuda_cu129", "pytorch_cuda_cu128")
        .replace(index.url("cu129"), index.url("cu128"))
    )
    project.run("torch", "lock")  # cu128 first part, cu129 entries for this platform
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    assert any((e.variant, e.python) == ("cu129", HERE) for e in lock.entries)
    project.run("torch", "lock", "--check")
    without = tuple(e for e in lock.entries if (e.variant, e.python) != ("cu129", HERE))
    write_lock(project.root / LOCK_NAME, replace(lock, entries=without))
    line = one_error(project.run("torch", "lock", "--check", check=False))
    assert f"holds no cu129 build for linux-x86_64, Python {HERE}" in line, line
    assert "this machine's variant is cu129, chosen by target" in line, line
    assert "run `poetry torch lock` to lock it" in line
    project.run("torch", "lock")
    project.run("torch", "lock", "--check")

    # --for changes the entry (the team's decision) and relocks: it is the way to switch
    switched = project.run("torch", "install", "--cuda", "12.8", "--for", "linux-x86_64")
    assert 'Updated pyproject.toml: [tool.poetry-torch.targets] linux-x86_64 = "cu128"' in (
        switched.stdout
    )
    assert project.version_of("torch") == "2.9.0+cu128"
    project.run("torch", "lock", "--check")
