"""The universal lock's refusals, without an index or uv: each one line, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.index.pages import Listing
from tests.unit.core.test_lockfile import sample_lock
from tests.unit.core.test_lockfile_entries import entry_lock


CU129 = "https://download.pytorch.org/whl/cu129"


def settings(targets: dict[str, str] | None = None) -> Any:
    data: dict[str, Any] = {
        "tool": {
            "poetry": {
                "source": [{"name": "pytorch_cuda_cu129", "url": CU129, "priority": "explicit"}]
            },
            "poetry-torch": {"packages": ["torch", "torchvision"]},
        }
    }
    if targets is not None:
        data["tool"]["poetry-torch"]["targets"] = targets
    return read_config(data)


def primary() -> Any:
    return replace(sample_lock(), resolved_for="cpython 3.11 linux x86_64")


def pages(monkeypatch: pytest.MonkeyPatch, files: tuple[str, ...]) -> None:
    """Each index lists the ``files`` of its own variant (``+cu128`` on .../cu128)."""

    def fetch(url: str, project: str, *, access: object = None) -> Listing:
        mine = [name for name in files if f"+{url.rstrip('/').rsplit('/', 1)[-1]}-" in name]
        return Listing(project, url, tuple((name, "0" * 64) for name in mine))

    monkeypatch.setattr("poetry_torch_plugin.service.lock.fetch_listing", fetch)


def entries_for(
    chosen: Any,
    first: Any,
    previous: Any = None,
    add: tuple[str, ...] = (),
    said: list[str] | None = None,
) -> Any:
    """``lock_entries`` as ``poetry torch lock`` calls it: the team's slots and release first."""
    from poetry_torch_plugin.service.lock import lock_entries
    from poetry_torch_plugin.service.lock import team_for
    from poetry_torch_plugin.service.plan import host_of

    team = team_for(chosen, host_of(first), previous, add, first.inputs.requires_python)
    say = said.append if said is not None else None
    return lock_entries(chosen, first, previous, None, team, add=add, say=say)  # type: ignore[arg-type]


def test_locking_other_platforms_without_uv_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pages(monkeypatch, ("torch-2.9.0+cu128-cp311-cp311-manylinux_2_28_aarch64.whl",))
    monkeypatch.setattr("poetry_torch_plugin.installer.uv.find_uv", lambda: None)
    with pytest.raises(ConfigError) as info:
        entries_for(settings({"linux-aarch64": "cu128"}), primary())
    message = str(info.value)
    assert "\n" not in message
    assert "locking other platforms needs uv 0.5 or newer" in message
    assert "poetry-torch.lock was left as it was" in message
    assert "`poetry self add uv`" in message


def test_a_target_the_index_does_not_publish_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages(monkeypatch, ("torch-2.9.0+cu128-cp311-cp311-manylinux_2_28_x86_64.whl",))
    with pytest.raises(ConfigError) as info:
        entries_for(settings({"windows": "cu128"}), primary())
    message = str(info.value)
    assert "publishes no torch wheel for windows-amd64" in message
    assert 'windows = "cu128" asks for' in message
    assert "poetry-torch.lock was left as it was" in message


def test_nothing_is_resolved_when_every_entry_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding nothing re-resolves nothing: kept entries need neither uv nor a resolution."""
    from poetry_torch_plugin.core.lockfile import inputs_for
    from poetry_torch_plugin.service.lock import source_of

    pages(monkeypatch, ("torch-2.9.0+cu128-cp311-cp311-manylinux_2_28_aarch64.whl",))
    monkeypatch.setattr("poetry_torch_plugin.installer.uv.find_uv", lambda: None)  # not needed
    chosen = settings({"linux-aarch64": "cu128"})
    old = entry_lock("cu128", "linux-aarch64", "3.11")
    inputs = inputs_for(source_of(chosen, "cu128"), chosen, primary().inputs.requires_python)
    kept = replace(old, lock=replace(old.lock, inputs=inputs, content_hash=inputs.content_hash()))
    previous = replace(primary(), entries=(kept,))
    said: list[str] = []
    lock = entries_for(chosen, primary(), previous, said=said)
    assert lock.entries == (kept,)
    assert lock.targets == ("linux-aarch64=cu128",)
    assert said == []  # nothing to resolve: nothing to wait for, nothing said


def test_entries_to_resolve_are_announced_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`poetry torch lock` says, before resolving other machines' entries (a uv resolution
    each, seconds to minutes in all), how many and for what, once."""
    from poetry_torch_plugin.core.lockfile import LockEntry

    pages(monkeypatch, ("torch-2.9.0+cu128-cp311-cp311-manylinux_2_28_aarch64.whl",))
    monkeypatch.setattr("poetry_torch_plugin.service.lock._uv", lambda: object())
    resolved: list[tuple[str, str, str]] = []

    def resolve_entry(uv: object, settings: Any, target: Any, team: Any, key: Any, *_: Any) -> Any:
        resolved.append(key)
        return LockEntry(key[0], key[1], key[2], primary())

    monkeypatch.setattr("poetry_torch_plugin.service.lock._resolve_entry", resolve_entry)
    said: list[str] = []
    lock = entries_for(settings({"linux-aarch64": "cu128"}), primary(), said=said)
    assert len(resolved) == len(lock.entries) >= 1
    assert said == [
        f"Resolving {len(resolved)} {'entry' if len(resolved) == 1 else 'entries'} of"
        " poetry-torch.lock for other machines (cu128 linux-aarch64) with uv,"
        f" {min(4, len(resolved))} at a time"
    ]


def test_add_variant_takes_variants_only() -> None:
    from poetry_torch_plugin.service.lock import _checked_variants

    assert _checked_variants(("CU128", "cpu")) == ("cu128", "cpu")
    for bad in ("gpu", "auto", ""):
        with pytest.raises(ConfigError) as info:
            _checked_variants((bad,))
        assert "\n" not in str(info.value) and "nothing was changed" in str(info.value)


def test_export_selection_refusals() -> None:
    from poetry_torch_plugin.core.formats import select

    lock = replace(
        primary(),
        entries=(
            entry_lock("cu128", "linux-aarch64", "3.11"),
            entry_lock("cpu", "macos-arm64", "3.12"),
        ),
        targets=("linux-aarch64=cu128", "macos=cpu"),
    )
    with pytest.raises(ConfigError, match=r"holds nothing for target 'windows' \(it has"):
        select(lock, "windows", False)
    chosen = select(lock, "macos", False)
    assert [(part.variant, part.where) for part in chosen] == [("cpu", ("macos-arm64", "3.12"))]
    everything = select(lock, None, True)
    assert {part.variant for part in everything} == {"cu129", "cu128", "cpu"}
    # a no-gpu entry beside the first part's platform and Python: markers cannot tell them apart
    clash = replace(lock, entries=(*lock.entries, entry_lock("cpu", "linux-aarch64", "3.11")))
    clash = replace(clash, targets=(*lock.targets, "no-gpu=cpu"))
    with pytest.raises(ConfigError, match="markers cannot tell such machines apart"):
        select(clash, None, True)


def test_universal_problem_names_what_check_finds(tmp_path: Path) -> None:
    from poetry_torch_plugin.service.lock import universal_problem

    chosen = settings({"linux-aarch64": "cu128"})
    assert universal_problem(settings(), primary()) is None  # no targets: nothing more
    problem = universal_problem(chosen, primary())
    assert problem is not None and "other targets than pyproject.toml lists" in problem
    missing = replace(primary(), targets=("linux-aarch64=cu128",))
    problem = universal_problem(chosen, missing)
    assert problem is not None and "holds no cu128 build for linux-aarch64" in problem


def test_a_stale_entry_is_never_replayed() -> None:
    from poetry_torch_plugin.core.lockfile import inputs_for
    from poetry_torch_plugin.core.variants import from_index_name
    from poetry_torch_plugin.service.lock import source_of
    from poetry_torch_plugin.service.plan import entry_for

    chosen = settings({"linux-aarch64": "cu128"})
    old = entry_lock("cu128", "linux-aarch64", "3.11")  # locked for other packages
    lock = replace(primary(), entries=(old,), targets=("linux-aarch64=cu128",))
    variant = from_index_name("cu128")
    assert variant is not None
    inputs = inputs_for(source_of(chosen, "cu128"), chosen, lock.inputs.requires_python)
    found, problem, command = entry_for(lock, chosen, variant, inputs, "linux-aarch64", "3.11")
    assert found is None
    assert problem == (
        "poetry-torch.lock's cu128 entry for linux-aarch64, Python 3.11 is stale"
        " (locked before pyproject.toml changed)"
    )
    assert command == "poetry torch lock"
    fresh = replace(old, lock=replace(old.lock, inputs=inputs, content_hash=inputs.content_hash()))
    lock = replace(lock, entries=(fresh,))
    assert entry_for(lock, chosen, variant, inputs, "linux-aarch64", "3.11")[0] == fresh.lock
    # another Python on the same platform: not held, and the targets ask for it
    missing = entry_for(lock, chosen, variant, inputs, "linux-aarch64", "3.12")
    assert missing[0] is None and missing[2] == "poetry torch lock"
    assert "holds no cu128 build for linux-aarch64, Python 3.12 (it has cu128, cu129)" in missing[1]


def test_add_variant_on_a_platform_the_lock_does_not_know_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages(monkeypatch, ())
    first = replace(primary(), resolved_for="cpython 3.11 linux ppc64le")
    with pytest.raises(ConfigError) as info:
        entries_for(settings(), first, add=("cpu",))
    message = str(info.value)
    assert "\n" not in message
    assert "cpython 3.11 linux ppc64le is none the lock knows (linux-x86_64" in message
    assert "poetry-torch.lock was left as it was" in message


def test_an_unreadable_index_while_locking_names_the_lock_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poetry_torch_plugin.errors import IndexAccessError
    from poetry_torch_plugin.service.lock import lock_project

    def down(url: str, project: str, *, access: object = None) -> Listing:
        raise IndexAccessError(
            f"the index {url} answered HTTP 500 for torch",
            kept="pyproject.toml and the installed build were left untouched",
            next="Run `poetry torch install` again later.",
        )

    monkeypatch.setattr("poetry_torch_plugin.service.lock.fetch_listing", down)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        f'[[tool.poetry.source]]\nname = "pytorch_cuda_cu129"\nurl = "{CU129}"\n'
        'priority = "explicit"\n[tool.poetry-torch]\npackages = ["torch"]\n'
        '[tool.poetry-torch.targets]\nmacos = "cpu"\n'
    )
    before = pyproject.read_bytes()
    with pytest.raises(IndexAccessError) as info:
        lock_project(pyproject, None)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"the index {CU129} answered HTTP 500 for torch; poetry-torch.lock")
    assert "Run `poetry torch lock` again" in message and "torch install" not in message
    assert pyproject.read_bytes() == before
    assert not (tmp_path / "poetry-torch.lock").exists()


def test_export_never_lists_a_target_it_refuses() -> None:
    """``default`` is offered only where some machine kind gets the committed build; every key
    listed as available is one ``--target`` exports (issue 23, item 3)."""
    from poetry_torch_plugin.core.formats import select
    from poetry_torch_plugin.core.formats import target_keys

    # the keys decide for every machine kind, this one included: no machine gets "default"
    covered = replace(
        primary(),
        entries=(entry_lock("cu128", "linux-aarch64", "3.11"),),
        targets=("linux=cu129", "linux-aarch64=cu128"),
    )
    assert "default" not in target_keys(covered)
    with pytest.raises(ConfigError, match=r"holds nothing for target 'default' \(it has: linux,"):
        select(covered, "default", False)
    # no key decides for this machine: "default" is listed, and exported
    partial = replace(covered, targets=("linux-aarch64=cu128",))
    assert target_keys(partial) == ("linux-aarch64", "default")
    for key in (*target_keys(covered), *target_keys(partial)):
        lock = covered if key in target_keys(covered) else partial
        assert select(lock, key, False), key


def test_every_entry_gets_the_newest_release_published_for_all_of_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 22 item 10 (a): one release of each requested package for every part of one
    variant; each variant moves as a whole (the cpu index may lag the CUDA ones)."""
    from poetry_torch_plugin.core.release import pinned
    from poetry_torch_plugin.service.lock import team_for

    pages(
        monkeypatch,
        (
            "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.9.1+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl",
            "torch-2.8.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.8.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl",
        ),
    )
    chosen = settings({"linux-aarch64": "cu129", "no-gpu": "cpu"})
    team = team_for(chosen, ("linux-x86_64", "3.11"), None, (), "")
    assert set(team.slots) == {
        ("cu129", "linux-x86_64", "3.11"),
        ("cu129", "linux-aarch64", "3.11"),
        ("cpu", "linux-x86_64", "3.11"),
        ("cpu", "linux-aarch64", "3.11"),
    }
    # torchvision's pages list none: unpinned; cpu at its own release
    assert team.release == {"cu129": {"torch": "2.9.0"}, "cpu": {"torch": "2.8.0"}}
    assert team.note == (
        "torch 2.9.1 left out: the index has none for cu129 for linux-aarch64, Python 3.11"
    )
    assert pinned(chosen, team.release["cu129"]) == ("torch==2.9.0", "torchvision")
    # a kept lock's release that an added entry lacks: refused, naming that entry
    with pytest.raises(ConfigError) as info:
        team_for(chosen, ("linux-x86_64", "3.11"), None, (), "", {"cu129": {"torch": "2.9.1"}})
    message = str(info.value)
    assert "\n" not in message
    assert "pins torch 2.9.1 for every cu129 machine" in message
    assert "publishes no torch 2.9.1 for cu129 for linux-aarch64, Python 3.11" in message
    assert "poetry-torch.lock and pyproject.toml were left as they were" in message


def test_no_release_published_for_every_entry_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from poetry_torch_plugin.service.lock import team_for

    pages(
        monkeypatch,
        (
            "torch-2.9.1+cu129-cp311-cp311-manylinux_2_28_x86_64.whl",
            "torch-2.8.0+cu129-cp311-cp311-manylinux_2_28_aarch64.whl",
        ),
    )
    with pytest.raises(ConfigError) as info:
        team_for(settings({"linux-aarch64": "cu129"}), ("linux-x86_64", "3.11"), None, (), "")
    message = str(info.value)
    assert "\n" not in message
    assert "every cu129 entry of poetry-torch.lock pins one release of torch, and none" in message
    assert "publishes no torch 2.9.1 for cu129 for linux-aarch64, Python 3.11" in message


def test_check_names_the_entries_whose_release_differs() -> None:
    """A lock an older plugin moved one part of (or a hand edit): ``lock --check`` fails."""
    from poetry_torch_plugin.service.lock import mixed_releases

    same = entry_lock("cu128", "linux-aarch64", "3.11")
    package = same.lock.packages[0]
    older = replace(
        same,
        python="3.12",
        lock=replace(same.lock, packages=(replace(package, version="2.8.0+cu128"),)),
    )
    lock = replace(primary(), entries=(same,), targets=("linux-aarch64=cu128",))
    assert mixed_releases(lock) is None
    # another variant at another release is fine: each variant moves as a whole
    assert mixed_releases(replace(lock, entries=(older,))) is None
    problem = mixed_releases(replace(lock, entries=(same, older)))
    assert problem == (
        "poetry-torch.lock pins torch 2.9.0 for cu128 on linux-aarch64, Python 3.11 but another"
        " release for cu128 on linux-aarch64, Python 3.12 (torch 2.8.0): every machine of one"
        " variant must get the same release; run `poetry torch lock` to move them to one."
    )


def test_the_team_lock_and_the_replay_name_this_machine_alike(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``poetry torch lock``'s host and the replay's "which machine is this" are one function:
    Poetry's marker_env when the command has one (no interpreter started), else the
    interpreter (unknown: ``(None, "")``, for which the team lock adds no slot).  The first
    part's slot is then never resolved twice."""
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.service import lock
    from poetry_torch_plugin.service import plan

    started: list[object] = []
    monkeypatch.setattr(
        "poetry_torch_plugin.env.interpreter.interpreter_of",
        lambda *args, **kwargs: started.append(args),
    )
    here = TargetEnv(tmp_path, tmp_path / "bin/python", (), markers=("linux", "x86_64", "3.11"))
    assert plan.machine_of(here) == plan.host_of(primary()) == ("linux-x86_64", "3.11")
    assert started == []
    assert vars(lock)["machine_of"] is plan.machine_of  # the lock takes the same function
    unknown = plan.machine_of(TargetEnv(tmp_path, tmp_path / "bin/python", ()))
    assert unknown == (None, "") and len(started) == 1


def test_after_a_failed_entry_no_queued_resolution_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C kills the running uv resolutions (the whole process group gets it) before the
    main thread cancels what is queued: the first failure stops any other from starting, and
    the error raised is that first one."""
    pages(
        monkeypatch,
        tuple(
            f"torch-2.9.0+cu128-cp3{minor}-cp3{minor}-manylinux_2_28_aarch64.whl"
            for minor in (10, 11, 12, 13)
        ),
    )
    import time

    from poetry_torch_plugin.core.lockfile import LockEntry

    monkeypatch.setattr("poetry_torch_plugin.service.lock._uv", lambda: object())
    monkeypatch.setattr("poetry_torch_plugin.service.lock._PARALLEL", 2)
    started: list[Any] = []

    def resolve_entry(uv: object, settings: Any, target: Any, team: Any, key: Any, *_: Any) -> Any:
        first = not started
        started.append(key)
        if first:  # the entry the caller waits on is slow; meanwhile the second one fails
            time.sleep(0.5)
            return LockEntry(key[0], key[1], key[2], primary())
        raise KeyboardInterrupt  # how a uv killed by Ctrl-C reads to the thread that ran it

    monkeypatch.setattr("poetry_torch_plugin.service.lock._resolve_entry", resolve_entry)
    with pytest.raises(KeyboardInterrupt):
        entries_for(settings({"linux-aarch64": "cu128"}), primary())
    assert len(started) == 2, started  # the two queued behind them never started
