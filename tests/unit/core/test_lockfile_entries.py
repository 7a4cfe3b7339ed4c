from __future__ import annotations

import pytest

from poetry_torch_plugin.core.lockfile import PLATFORMS
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import dumps
from poetry_torch_plugin.core.lockfile import fits
from poetry_torch_plugin.core.lockfile import key_of
from poetry_torch_plugin.core.lockfile import loads
from poetry_torch_plugin.core.lockfile import platform_of
from poetry_torch_plugin.core.lockfile import pythons_published
from poetry_torch_plugin.core.lockfile import resolved_for
from poetry_torch_plugin.core.lockfile import tag_set
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.installer.resolve import python_allows
from tests.unit.core.test_lockfile import digest
from tests.unit.core.test_lockfile import inputs
from tests.unit.core.test_lockfile import sample_lock


TEAM = (
    ("linux-x86_64", "cu129"),
    ("linux-aarch64", "cu128"),
    ("macos", "cpu"),
    ("no-gpu", "cpu"),
)


def pairs(found: tuple[object, ...]) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(w.variant, w.platform): w.keys for w in found}  # type: ignore[attr-defined]


def test_wanted_covers_every_target_platform_and_no_gpu_beside_them() -> None:
    found = pairs(wanted(TEAM, "cu129", "linux-x86_64"))
    assert found == {
        ("cu129", "linux-x86_64"): ("linux-x86_64",),
        ("cpu", "linux-x86_64"): ("no-gpu",),
        ("cu128", "linux-aarch64"): ("linux-aarch64",),
        ("cpu", "linux-aarch64"): ("no-gpu",),
        ("cpu", "macos-arm64"): ("macos",),
    }


def test_wanted_gives_the_committed_variant_where_no_key_decides() -> None:
    found = pairs(wanted((("macos", "cpu"),), "cu129", "linux-x86_64"))
    assert found == {("cpu", "macos-arm64"): ("macos",), ("cu129", "linux-x86_64"): ("default",)}
    # a Mac host with a CUDA source and no macos key: nothing for the Mac (no CUDA build there)
    assert pairs(wanted((("linux", "cu129"),), "cu129", "macos-arm64")) == {
        ("cu129", "linux-x86_64"): ("linux",),
        ("cu129", "linux-aarch64"): ("linux",),
    }


def test_wanted_skips_auto_and_adds_variants_for_this_platform_only() -> None:
    found = pairs(wanted((("linux", "auto"),), "cu129", "linux-x86_64", ("cu126", "cpu")))
    assert found == {("cu126", "linux-x86_64"): ("added",), ("cpu", "linux-x86_64"): ("added",)}
    # no-gpu alone, no other platform named: Linux x86_64 (the usual CI runner)
    assert pairs(wanted((("no-gpu", "cpu"),), "cu129", None)) == {
        ("cpu", "linux-x86_64"): ("no-gpu",)
    }


def test_platform_keys_from_interpreters_and_resolved_for() -> None:
    assert platform_of("linux", "x86_64") == "linux-x86_64"
    assert platform_of("linux", "aarch64") == "linux-aarch64"
    assert platform_of("darwin", "arm64") == "macos-arm64"
    assert platform_of("win32", "AMD64") == "windows-amd64"
    assert platform_of("freebsd13", "amd64") is None
    for platform in PLATFORMS.values():
        assert key_of(resolved_for(platform, "3.12")) == (platform.key, "3.12")
    assert key_of("cpython 3.12.4 linux x86_64") == ("linux-x86_64", "3.12")
    assert key_of("") is None


CU129 = (
    "torch-2.9.0+cu129-cp310-cp310-manylinux_2_28_x86_64.whl",
    "torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl",
    "torch-2.9.0+cu129-cp313-cp313t-manylinux_2_28_x86_64.whl",
    "torch-2.9.0+cu129-cp39-cp39-manylinux_2_28_x86_64.whl",
    "torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_aarch64.whl",
    "torch-2.9.0+cu129-cp311-cp311-win_amd64.whl",
    "torch-2.9.0.tar.gz",
)


def test_pythons_published_per_platform_within_requires_python() -> None:
    linux = PLATFORMS["linux-x86_64"]
    assert pythons_published(CU129, linux, python_allows(">=3.10")) == ("3.10", "3.12")
    assert pythons_published(CU129, linux, python_allows("")) == ("3.9", "3.10", "3.12")
    assert pythons_published(CU129, PLATFORMS["linux-aarch64"], python_allows("")) == ("3.12",)
    assert pythons_published(CU129, PLATFORMS["windows-amd64"], python_allows("")) == ("3.11",)
    assert pythons_published(CU129, PLATFORMS["macos-arm64"], python_allows("")) == ()
    mac = ("torch-2.9.0-cp312-none-macosx_11_0_arm64.whl",)
    assert pythons_published(mac, PLATFORMS["macos-arm64"], python_allows("")) == ("3.12",)


def test_fits_matches_wheel_tags_of_the_entry_only() -> None:
    linux312 = tag_set(PLATFORMS["linux-x86_64"], "3.12")
    assert fits("torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl", linux312)
    assert fits("filelock-3.0-py3-none-any.whl", linux312)
    assert fits("x-1.0-cp39-abi3-manylinux2014_x86_64.whl", linux312)
    assert not fits("torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl", linux312)
    assert not fits("torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_aarch64.whl", linux312)
    assert not fits("torch-2.9.0+cu129-cp312-cp312-manylinux_2_34_x86_64.whl", linux312)
    assert not fits("torch-2.9.0.tar.gz", linux312)
    mac = tag_set(PLATFORMS["macos-arm64"], "3.12")
    assert fits("torch-2.9.0-cp312-none-macosx_11_0_arm64.whl", mac)
    assert fits("x-1.0-cp312-cp312-macosx_14_0_universal2.whl", mac)


def test_marker_of_entry() -> None:
    from packaging.markers import Marker

    from poetry_torch_plugin.core.lockfile import machines_marker

    marker = Marker(machines_marker([("windows-amd64", "3.11")]))
    assert marker.evaluate(
        {"python_version": "3.11", "sys_platform": "win32", "platform_machine": "AMD64"}
    )
    assert not marker.evaluate(
        {"python_version": "3.12", "sys_platform": "win32", "platform_machine": "AMD64"}
    )


def entry_lock(variant: str, platform: str, python: str) -> LockEntry:
    from poetry_torch_plugin.core.variants import Source

    source = Source(f"pytorch_{variant}", f"https://download.pytorch.org/whl/{variant}", "")
    given = inputs(source=source)
    tag = {"linux-aarch64": "manylinux_2_28_aarch64", "macos-arm64": "macosx_11_0_arm64"}[platform]
    py = python.replace(".", "")
    package = LockedPackage(
        "torch",
        f"2.9.0+{variant}",
        True,
        ((f"torch-2.9.0+{variant}-cp{py}-cp{py}-{tag}.whl", digest(variant + python)),),
    )
    lock = replace(
        sample_lock(),
        inputs=given,
        content_hash=given.content_hash(),
        packages=(package,),
        resolved_for=resolved_for(PLATFORMS[platform], python),
    )
    return LockEntry(variant, platform, python, lock)


def test_universal_lock_round_trips_and_single_locks_stay_version_1() -> None:
    single = sample_lock()
    assert 'lock-version = "1"' in dumps(single)
    assert loads(dumps(single)) == single
    universal = replace(
        single,
        entries=(
            entry_lock("cu128", "linux-aarch64", "3.11"),
            entry_lock("cpu", "macos-arm64", "3.12"),
        ),
        targets=("linux-aarch64=cu128", "macos=cpu"),
        added=("cu126",),
    )
    text = dumps(universal)
    assert 'lock-version = "2"' in text
    assert "[[entry]]" in text and "[[entry.package]]" in text
    assert loads(text) == universal
    assert dumps(loads(text)) == text


def test_a_tampered_entry_is_refused_like_the_first_part() -> None:
    universal = replace(sample_lock(), entries=(entry_lock("cu128", "linux-aarch64", "3.11"),))
    text = dumps(universal)
    with pytest.raises(ConfigError, match="no well-formed sha256"):
        loads(text.replace(digest("cu1283.11"), "z" * 64))
    with pytest.raises(ConfigError, match="is not a file of torch"):
        loads(text.replace('version = "2.9.0+cu128"', 'version = "2.9.1+cu128"'))
    with pytest.raises(ConfigError, match="platform 'plan9-mips'"):
        loads(text.replace('platform = "linux-aarch64"', 'platform = "plan9-mips"'))


def test_an_entry_moved_to_another_index_is_refused_not_fresh() -> None:
    # freshness compares the inputs-hash: a source edited beside it (a bad merge, or a pull
    # request pointing an entry at another host, where the login of that name would be sent)
    # must not pass for fresh
    universal = replace(sample_lock(), entries=(entry_lock("cu128", "linux-aarch64", "3.11"),))
    text = dumps(universal)
    moved = text.replace(
        'url = "https://download.pytorch.org/whl/cu128"', 'url = "https://evil.example/whl/cu128"'
    )
    assert moved != text
    with pytest.raises(ConfigError, match="do not match its content-hash") as info:
        loads(moved)
    assert "Run `poetry torch lock`" in str(info.value)
    first = text.replace(
        'url = "https://download.pytorch.org/whl/cu129"', 'url = "https://evil.example/whl/cu129"'
    )
    assert first != text
    with pytest.raises(ConfigError, match="do not match its content-hash"):
        loads(first)
    with pytest.raises(ConfigError, match="do not match its content-hash"):
        loads(text.replace('requires-python = ">=3.9"', 'requires-python = ">=3.8"'))


def test_machines_marker_joins_pythons_as_ranges_per_platform() -> None:
    from packaging.markers import Marker

    from poetry_torch_plugin.core.lockfile import machines_marker

    where = [("linux-aarch64", p) for p in ("3.10", "3.11", "3.13", "3.9")]
    where.append(("macos-arm64", "3.12"))
    text = machines_marker(where)
    assert text == (
        "(sys_platform == 'linux' and platform_machine == 'aarch64' and (python_version >= '3.9'"
        " and python_version <= '3.11' or python_version == '3.13'))"
        " or (sys_platform == 'darwin' and platform_machine == 'arm64'"
        " and python_version == '3.12')"
    )
    marker = Marker(text)
    for machine, python, expected in (
        ("aarch64", "3.9", True),
        ("aarch64", "3.10", True),
        ("aarch64", "3.12", False),
        ("aarch64", "3.13", True),
        ("x86_64", "3.10", False),
    ):
        env = {"sys_platform": "linux", "platform_machine": machine, "python_version": python}
        assert marker.evaluate(env) is expected, (machine, python)
    mac = {"sys_platform": "darwin", "platform_machine": "arm64", "python_version": "3.12"}
    assert marker.evaluate(mac)


def test_an_install_on_another_python_keeps_the_old_first_part_as_that_pythons_entry() -> None:
    from poetry_torch_plugin.core.lockfile import carried

    old = sample_lock()  # cu129, cpython 3.11 linux x86_64; files for 3.11 Linux and Windows
    entry_312 = LockEntry("cu129", "linux-x86_64", "3.12", replace(old, packages=old.packages[1:]))
    aarch = entry_lock("cu128", "linux-aarch64", "3.11")
    old = replace(old, entries=(aarch, entry_312), targets=("linux-aarch64=cu128",))
    # `poetry torch install --upgrade` on Python 3.12: a new first part for 3.12
    new = replace(sample_lock(), resolved_for="cpython 3.12 linux x86_64")
    merged = carried(new, old, "cu129")
    assert merged.targets == old.targets
    keys = [(e.variant, e.platform, e.python) for e in merged.entries]
    assert keys == [("cu128", "linux-aarch64", "3.11"), ("cu129", "linux-x86_64", "3.11")]
    first = merged.entries[1].lock
    assert first.resolved_for == "cpython 3.11 linux x86_64"
    files = [name for p in first.packages for name, _ in p.files]
    assert not any(name.endswith("win_amd64.whl") for name in files)  # only its machine's
    assert loads(dumps(merged)) == merged
    # other inputs (a package was added): the old first part is stale, nothing carried
    changed = replace(new, content_hash="f" * 64)
    assert [e.python for e in carried(changed, old, "cu129").entries] == ["3.11"]
    assert carried(new, None, "cu129") is new
    assert carried(new, sample_lock(), "cu129") is new  # a single lock stays single
