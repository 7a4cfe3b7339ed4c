"""The universal lock's guards (``service.lock``): what a lock with entries for other
machines may be used for, checked offline on real parsed configuration and real locks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.lockfile import PLATFORMS
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import resolved_for
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.lock import every_part
from poetry_torch_plugin.service.lock import source_of
from poetry_torch_plugin.service.lock import universal_problem


BASE = "https://mirror.example/whl"


def project(targets: dict[str, str] | None = None) -> dict[str, Any]:
    torch: dict[str, Any] = {"packages": ["torch"]}
    if targets is not None:
        torch["targets"] = targets
    return {
        "project": {"requires-python": ">=3.10"},
        "tool": {
            "poetry": {
                "source": [
                    {"name": "pytorch_cuda_cu129", "url": f"{BASE}/cu129", "priority": "explicit"}
                ]
            },
            "poetry-torch": torch,
        },
    }


def part(source: Source, settings: Any, platform: str, python: str, label: str) -> TorchLock:
    given = inputs_for(source, settings, ">=3.10")
    tag = PLATFORMS[platform].wheel_platforms[0]
    py = python.replace(".", "")
    filename = f"torch-2.9.0+{label}-cp{py}-cp{py}-{tag}.whl"
    package = LockedPackage("torch", f"2.9.0+{label}", True, ((filename, "a" * 64),))
    return TorchLock(
        given, given.content_hash(), (package,), resolved_for(PLATFORMS[platform], python)
    )


def universal_lock(settings: Any) -> TorchLock:
    """The committed cu129 for linux-x86_64, Python 3.11, and cu128 for linux-aarch64, 3.11."""
    first = part(settings.source(), settings, "linux-x86_64", "3.11", "cu129")
    entry = part(source_of(settings, "cu128"), settings, "linux-aarch64", "3.11", "cu128")
    return replace(
        first,
        entries=(LockEntry("cu128", "linux-aarch64", "3.11", entry),),
        targets=("linux-aarch64=cu128",),
    )


def test_wheelhouse_all_takes_every_part_only_while_each_is_fresh_for_its_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)
    settings = read_config(project({"linux-aarch64": "cu128"}))
    lock = universal_lock(settings)
    parts = every_part(settings, lock, "Nothing was downloaded.")
    assert [p.inputs.source_url for p in parts] == [f"{BASE}/cu129", f"{BASE}/cu128"]
    # a mirror on this machine changes where it fetches from, not what the lock was made
    # for: every part stays fresh (issue 22, item 10d)
    monkeypatch.setenv("POETRY_TORCH_INDEX_BASE", "https://other.example/whl")
    assert every_part(settings, lock, "Nothing was downloaded.") == parts
    # an entry locked for another index than the one configured is stale: nothing is
    # downloaded from it
    elsewhere = Source("pytorch_cuda_cu128", "https://other.example/whl/cu128", "explicit")
    moved = part(elsewhere, settings, "linux-aarch64", "3.11", "cu128")
    lock = replace(lock, entries=(LockEntry("cu128", "linux-aarch64", "3.11", moved),))
    with pytest.raises(ConfigError) as info:
        every_part(settings, lock, "Nothing was downloaded.")
    line = str(info.value)
    assert "entry cu128 for linux-aarch64, Python 3.11 is stale" in line
    assert line.endswith("run `poetry torch lock` to lock them. Nothing was downloaded.")
    assert "\n" not in line


def test_a_lock_holding_targets_pyproject_no_longer_lists_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)
    with_targets = read_config(project({"linux-aarch64": "cu128"}))
    lock = universal_lock(with_targets)
    assert universal_problem(with_targets, lock) is None
    without = read_config(project())
    problem = universal_problem(without, lock)
    assert problem is not None and "other targets than pyproject.toml lists" in problem
    # a single lock for a project without targets stays fine
    assert universal_problem(without, replace(lock, entries=(), targets=())) is None


def test_the_committed_variant_on_another_python_installs_its_own_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first part is one interpreter's closure (torch asks for setuptools only on 3.12+):
    an environment with another Python replays the entry resolved for it."""
    import platform
    import sys

    from pathlib import Path

    from poetry_torch_plugin.core.lockfile import platform_of
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.service.plan import own_part

    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)
    here = platform_of(sys.platform, platform.machine())
    if here is None:
        pytest.skip("this interpreter's platform has no lock key")
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    other = "3.13" if python != "3.13" else "3.12"
    settings = read_config(project())
    committed = settings.source()
    assert committed is not None
    first = part(committed, settings, here, other, "cu129")
    mine = part(committed, settings, here, python, "cu129")
    lock = replace(first, entries=(LockEntry("cu129", here, python, mine),))
    target = TargetEnv(Path(sys.prefix), Path(sys.executable), ())
    assert own_part(lock, target) is mine
    # the first part is this environment's: kept
    own = replace(mine, entries=(LockEntry("cu129", here, other, first),))
    assert own_part(own, target) is own
    # an entry for other inputs than the first part's is never replayed in its place
    stale = replace(mine, content_hash="b" * 64)
    kept = replace(first, entries=(LockEntry("cu129", here, python, stale),))
    assert own_part(kept, target) is kept
    assert own_part(first, target) is first  # a single lock


def test_the_markers_poetry_computed_name_the_entry_without_reading_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After an installing command Poetry's env holds its ``marker_env``: the hook takes the
    platform and Python from it (the environment's own files are not read; here there are
    none), and a marker_env Poetry has not computed is never computed by asking for it."""
    from functools import cached_property

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.seam.locate import target_of
    from poetry_torch_plugin.service.plan import own_part

    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)
    settings = read_config(project())
    committed = settings.source()
    assert committed is not None
    first = part(committed, settings, "linux-x86_64", "3.12", "cu129")
    mine = part(committed, settings, "linux-aarch64", "3.13", "cu129")
    lock = replace(first, entries=(LockEntry("cu129", "linux-aarch64", "3.13", mine),))

    class Env:
        path = tmp_path / "no-venv"
        python = tmp_path / "no-venv" / "bin" / "python"

        class site_packages:  # Poetry's attribute name
            candidates: tuple[Path, ...] = ()

        @cached_property
        def marker_env(self) -> dict[str, str]:  # Poetry's, run in the environment
            raise AssertionError("the plugin must not compute marker_env")

    env = Env()
    told = target_of(env)
    assert told.markers is None  # not computed yet: the files (absent here) would be read
    vars(env)["marker_env"] = {
        "sys_platform": "linux",
        "platform_machine": "aarch64",
        "python_version": "3.13",
    }
    told = target_of(env)
    assert told.markers == ("linux", "aarch64", "3.13")
    assert own_part(lock, told) is mine
    assert told == TargetEnv(env.path, env.python, ())  # markers are not the env's identity
    vars(env)["marker_env"] = {"sys_platform": "linux", "python_version": "3.12"}
    assert target_of(env).markers is None  # incomplete: not taken


def test_a_stale_entry_for_a_machine_local_choice_is_refused_naming_poetry_torch_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook and `poetry torch install` never replay an entry locked for other inputs (the
    packages changed in pyproject.toml), nor install something else in its place."""
    import platform
    import sys

    from pathlib import Path

    from poetry_torch_plugin.core.lockfile import platform_of
    from poetry_torch_plugin.core.targets import VariantChoice
    from poetry_torch_plugin.core.variants import from_index_name
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.project.lockstate import LockState
    from poetry_torch_plugin.service.plan import machine_part

    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)
    here = platform_of(sys.platform, platform.machine())
    if here is None:
        pytest.skip("this interpreter's platform has no lock key")
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    settings = read_config(project())
    cpu = source_of(settings, "cpu")
    mine = part(cpu, settings, here, python, "cpu")
    first = part(settings.source() or cpu, settings, here, python, "cu129")
    lock = replace(first, entries=(LockEntry("cpu", here, python, mine),), added=("cpu",))
    variant = from_index_name("cpu")
    committed = from_index_name("cu129")
    assert variant is not None
    choice = VariantChoice(variant, "env", "POETRY_TORCH_VARIANT=cpu", committed)
    target = TargetEnv(Path(sys.prefix), Path(sys.executable), ())
    path = Path("poetry-torch.lock")
    chosen = replace(settings, choice=choice)
    assert machine_part(LockState(path, mine.inputs, lock), chosen, target).lock is mine
    changed = read_config(
        project()
        | {"tool": {**project()["tool"], "poetry-torch": {"packages": ["torch", "torchvision"]}}}
    )
    now = inputs_for(cpu, changed, ">=3.10")
    found = machine_part(LockState(path, now, lock), replace(changed, choice=choice), target)
    assert found.lock is None and found.missing
    with pytest.raises(ConfigError) as info:
        raise found.refusal()
    line = str(info.value)
    assert f"poetry-torch.lock's cpu entry for {here}, Python {python} is stale" in line
    assert "nothing was installed" in line and "Run `poetry torch lock` to lock it" in line
