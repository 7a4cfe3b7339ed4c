from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.formats import export_text
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import STALE
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.lockfile import dumps
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import loads
from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.core.lockfile import requires_python_of
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.env.installed import drift
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.env.installed import lock_drift
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.project.lockstate import read_lock
from poetry_torch_plugin.project.lockstate import write_lock
from tests.unit.env.test_installed import fake_dist


URL = "https://download.pytorch.org/whl/cu129"
SOURCE = Source("pytorch_cuda_cu129", URL, "explicit")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def inputs(
    packages: tuple[str, ...] = ("torch", "torchvision"),
    source: Source = SOURCE,
    requires_python: str = ">=3.9",
) -> LockInputs:
    settings = read_config({"tool": {"poetry-torch": {"packages": list(packages)}}})
    return inputs_for(source, settings, requires_python)


def sample_lock() -> TorchLock:
    given = inputs()
    packages = (
        LockedPackage(
            "nvidia-cublas-cu12",
            "12.9.1.4",
            False,
            (("nvidia_cublas_cu12-12.9.1.4-py3-none-manylinux_2_27_x86_64.whl", digest("n")),),
        ),
        LockedPackage(
            "torch",
            "2.9.0+cu129",
            True,
            (
                ("torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl", digest("a")),
                ("torch-2.9.0+cu129-cp312-cp312-win_amd64.whl", digest("b")),
            ),
        ),
    )
    return TorchLock(given, given.content_hash(), packages, "cpython 3.11 linux x86_64")


# --- the content hash -----------------------------------------------------------------------


def test_content_hash_is_stable_and_ignores_order_spelling_and_credentials() -> None:
    base = inputs().content_hash()
    assert base == inputs().content_hash()
    assert len(base) == 64
    assert inputs(("torchvision", "torch")).content_hash() == base
    assert inputs(("TORCH", "TorchVision")).content_hash() == base
    assert inputs(("torch>=2.7,<3", "torchvision")).content_hash() == (
        inputs(("torch <3, >=2.7", "torchvision")).content_hash()
    )
    secret = Source(SOURCE.name, "https://user:s3cret@download.pytorch.org/whl/cu129/", "explicit")
    assert inputs(source=secret).content_hash() == base
    assert "s3cret" not in repr(inputs(source=secret))


@pytest.mark.parametrize(
    "changed",
    [
        {"packages": ("torch<2.9", "torchvision")},
        {"packages": ("torch",)},
        {"source": Source("pytorch_cuda_cu128", URL.replace("cu129", "cu128"), "explicit")},
        {"source": Source(SOURCE.name, "https://mirror.example/whl/cu129", "explicit")},
        {"requires_python": ">=3.10"},
        {"requires_python": ""},
    ],
)
def test_content_hash_changes_with_each_input(changed: dict[str, Any]) -> None:
    assert inputs(**changed).content_hash() != inputs().content_hash()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"project": {"requires-python": ">=3.9"}}, ">=3.9"),
        ({"tool": {"poetry": {"dependencies": {"python": "^3.10"}}}}, "^3.10"),
        (
            {"project": {"requires-python": ">=3.11"}, "tool": {"poetry": {"dependencies": {}}}},
            ">=3.11",
        ),
        ({"project": {"name": "x"}}, ""),
        ({}, ""),
    ],
)
def test_requires_python_of(data: dict[str, Any], expected: str) -> None:
    assert requires_python_of(data) == expected


# --- the file -------------------------------------------------------------------------------


def test_round_trip_and_identical_bytes(tmp_path: Path) -> None:
    lock = sample_lock()
    path = tmp_path / LOCK_NAME
    write_lock(path, lock)
    first = path.read_bytes()
    assert read_lock(path) == lock
    write_lock(path, loads(first.decode()))
    assert path.read_bytes() == first
    text = first.decode()
    assert text.startswith("# poetry-torch.lock")
    assert f'content-hash = "{lock.content_hash}"' in text
    assert 'url = "https://download.pytorch.org/whl/cu129"' in text
    assert f'hash = "sha256:{digest("a")}"' in text
    # packages and files in a stable order: the diff of a re-lock shows only what changed
    assert text.index('name = "nvidia-cublas-cu12"') < text.index('name = "torch"')
    assert text.index("cp311-cp311") < text.index("cp312-cp312")


def test_credentials_never_reach_the_file(tmp_path: Path) -> None:
    secret = Source(SOURCE.name, "https://user:s3cret@mirror.example/whl/cu129", "explicit")
    given = inputs(source=secret)
    lock = TorchLock(given, given.content_hash(), sample_lock().packages)
    text = dumps(lock)
    assert "s3cret" not in text
    assert "user" not in text
    assert 'url = "https://mirror.example/whl/cu129"' in text
    assert "s3cret" not in export_text(lock)


def test_missing_lock_is_none(tmp_path: Path) -> None:
    assert read_lock(tmp_path / LOCK_NAME) is None


@pytest.mark.parametrize(
    "text",
    [
        "not [valid toml",
        "[metadata]\nlock-version = '1'\n",
        "[metadata]\nlock-version = 'one'\n[source]\nname='x'\nurl='y'\n",
        '[metadata]\nlock-version = "1"\ncontent-hash = "x"\nrequires-python = ""\n'
        'packages = []\n[source]\nname = "x"\nurl = "y"\n[[package]]\nname = "torch"\n',
    ],
)
def test_unreadable_lock_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_lock(path)
    message = str(info.value)
    assert "\n" not in message
    assert "poetry torch lock" in message


TORCH_FILE = "torch-2.9.0+cu129-cp311-cp311-manylinux_2_28_x86_64.whl"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('version = "2.9.0+cu129"', 'version = "2.9.0+cu128"', "is not a file of torch"),
        ('version = "2.9.0+cu129"', 'version = "two nine"', "not a valid version"),
        (f'hash = "sha256:{digest("a")}"', 'hash = "sha256:abc"', "no well-formed sha256"),
        (f'hash = "sha256:{digest("a")}"', 'hash = ""', "no well-formed sha256"),
        (f'hash = "sha256:{digest("a")}"', f'hash = "md5:{digest("a")}"', "well-formed sha256"),
        (TORCH_FILE, "torch.whl", "is not a wheel file name"),
        (TORCH_FILE, TORCH_FILE.replace("torch-", "torchvision-"), "is not a file of torch"),
        ('content-hash = "', 'content-hash = "zz', "is not a sha256"),
        ('name = "torch"', 'name = "nvidia-cublas-cu12"', "pinned twice"),
        ('"torch",', '"torch>>>2",', "not a valid requirement"),
    ],
)
def test_hand_corrupted_lock_is_refused_on_read(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    """Every read validates the whole lock: schema, versions, hashes (issue 12, item 11)."""
    text = dumps(sample_lock())
    assert old in text
    path = tmp_path / LOCK_NAME
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        read_lock(path)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message
    assert "Run `poetry torch lock` to write it again." in message


def test_lock_without_packages_or_files_is_refused(tmp_path: Path) -> None:
    lock = sample_lock()
    empty = TorchLock(lock.inputs, lock.content_hash, (), lock.resolved_for)
    no_files = TorchLock(
        lock.inputs,
        lock.content_hash,
        (LockedPackage("torch", "2.9.0+cu129", True, ()),),
        lock.resolved_for,
    )
    for broken, reason in ((empty, "pins no package"), (no_files, "lists no files")):
        with pytest.raises(ConfigError, match=reason):
            loads(dumps(broken))


def test_lock_state_fresh_stale_and_broken(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "demo"\nrequires-python = ">=3.9"\n'
        '[tool.poetry-torch]\npackages = ["torch", "torchvision"]\n'
    )
    settings = read_config({"tool": {"poetry-torch": {"packages": ["torch", "torchvision"]}}})
    absent = lock_state(pyproject, SOURCE, settings)
    assert absent.lock is None
    assert not absent.fresh
    assert absent.problem() is None
    write_lock(absent.path, sample_lock())
    fresh = lock_state(pyproject, SOURCE, settings)
    assert fresh.fresh
    assert fresh.problem() is None
    other = Source("pytorch_cuda_cu128", URL.replace("cu129", "cu128"), "explicit")
    stale = lock_state(pyproject, other, settings)
    assert not stale.fresh
    assert stale.problem() == STALE
    assert "the configuration changed after the lock was written" in STALE
    assert "`poetry torch lock` or `poetry torch install`" in STALE
    absent.path.write_text("garbage [")
    broken = lock_state(pyproject, SOURCE, settings)
    assert broken.problem() is not None
    assert not broken.fresh


# --- replay, drift, export ------------------------------------------------------------------


def test_requirement_lines_pin_and_hash_everything() -> None:
    lines = requirement_lines(sample_lock())
    assert lines[0] == f"nvidia-cublas-cu12==12.9.1.4 --hash=sha256:{digest('n')}"
    assert lines[1] == (
        f"torch==2.9.0+cu129 --hash=sha256:{digest('a')} --hash=sha256:{digest('b')}"
    )


def test_export_text_is_a_pip_requirements_file() -> None:
    text = export_text(sample_lock())
    lines = text.splitlines()
    assert "--index-url https://download.pytorch.org/whl/cu129" in lines
    assert "torch==2.9.0+cu129 \\" in lines
    assert f"    --hash=sha256:{digest('a')} \\" in lines
    assert f"    --hash=sha256:{digest('b')}" in lines
    assert all(
        line.startswith(("#", "--", "    --", "nvidia", "torch")) or not line for line in lines
    )


def test_lock_drift(tmp_path: Path) -> None:
    lock = sample_lock()
    assert lock_drift(lock, {}) == [
        "nvidia-cublas-cu12 is not installed (locked 12.9.1.4)",
        "torch is not installed (locked 2.9.0+cu129)",
    ]
    fake_dist(tmp_path, "torch", "2.9.0+cu129")
    fake_dist(tmp_path, "nvidia_cublas_cu12", "12.9.1.4")
    fake_dist(tmp_path, "numpy", "2.0.0")
    assert lock_drift(lock, installed_distributions([tmp_path])) == []


def test_lock_drift_other_build_and_unlocked(tmp_path: Path) -> None:
    fake_dist(tmp_path, "torch", "2.9.0", "__version__ = '2.9.0+cu128'\ncuda = '12.8'\n")
    fake_dist(tmp_path, "nvidia_cublas_cu12", "12.9.1.4")
    fake_dist(tmp_path, "torchaudio", "2.9.0+cu129")
    found = drift(sample_lock(), installed_distributions([tmp_path]))
    assert [(item.name, item.kind) for item in found] == [
        ("torch", "version"),
        ("torchaudio", "unlocked"),
    ]
    assert found[0].text == "torch 2.9.0+cu128 is installed, the lock pins 2.9.0+cu129"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), ("1.0", "1"), (1, "1"), (1.0, "1"), ("2", "2"), ("2.0", "2"), (2, "2")],
    ids=repr,
)
def test_the_formats_this_plugin_reads(value: object, expected: str) -> None:
    from poetry_torch_plugin.core.lockfile import lock_format

    assert lock_format(value) == expected


@pytest.mark.parametrize(
    "value", ["2.1", "3", "3.0", "2.0.1", "10", "1.1", 3, 2.1, " 3.0 "], ids=repr
)
def test_every_version_above_the_ones_read_is_a_newer_plugins(value: object) -> None:
    """Poetry's major.minor style ("2.1", "3.0") included: never unreadable, which would
    let `poetry torch install` resolve afresh and rewrite the lock as an older version."""
    from poetry_torch_plugin.core.lockfile import NewerLockError
    from poetry_torch_plugin.core.lockfile import lock_format

    with pytest.raises(NewerLockError) as info:
        lock_format(value)
    message = str(info.value)
    assert "\n" not in message
    assert f"has lock-version {str(value).strip()}, written by a newer poetry-torch-plugin;" in (
        message
    )
    assert "reads lock-version 2 and older; nothing was changed" in message
    assert "(`poetry self add poetry-torch-plugin@latest`)" in message


@pytest.mark.parametrize("value", ["one", "", "0", "0.9", "-1", "2.", "2.x", "v3", True], ids=repr)
def test_a_lock_version_that_is_no_version_is_unreadable_not_newer(value: object) -> None:
    from poetry_torch_plugin.core.lockfile import NewerLockError
    from poetry_torch_plugin.core.lockfile import lock_format

    with pytest.raises(ConfigError) as info:
        lock_format(value)
    assert not isinstance(info.value, NewerLockError)
    assert "cannot be read (lock-version" in str(info.value)


def test_a_minor_zero_lock_version_reads_as_its_major(tmp_path: Path) -> None:
    """ "1.0" (a hand edit, or another tool's major.minor) reads as the lock it is."""
    text = dumps(sample_lock())
    assert 'lock-version = "1"' in text
    assert loads(text.replace('lock-version = "1"', 'lock-version = "1.0"')) == sample_lock()


@pytest.mark.parametrize("version", ["2.1", "3.0", "3"])
def test_newer_lock_is_refused_naming_its_writer(tmp_path: Path, version: str) -> None:
    """A newer plugin's lock, whatever else it changed (here: no [source], an unknown table),
    stops every read in one line naming its writer and the upgrade; the file is untouched."""
    from poetry_torch_plugin.core.lockfile import NewerLockError

    path = tmp_path / LOCK_NAME
    path.write_text(
        "# poetry-torch.lock: …, written by poetry-torch-plugin 9.1.0\n"
        f"[metadata]\nlock-version = '{version}'\n[sources.pytorch]\nurl = 'y'\n"
    )
    before = path.read_bytes()
    with pytest.raises(NewerLockError) as info:
        read_lock(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"has lock-version {version}, written by poetry-torch-plugin 9.1.0;" in message
    assert "nothing was changed" in message
    assert "poetry self add poetry-torch-plugin@latest" in message
    settings = read_config({"tool": {"poetry-torch": {"packages": ["torch"]}}})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "demo"\n[tool.poetry-torch]\npackages = ["torch"]\n')
    # lock_state raises too (it is not a stale state a command may resolve afresh over)
    with pytest.raises(NewerLockError, match=r"written by poetry-torch-plugin 9\.1\.0"):
        lock_state(pyproject, SOURCE, settings)
    assert path.read_bytes() == before


def test_lock_header_names_the_plugin_version() -> None:
    from poetry_torch_plugin import __version__

    assert f"written by poetry-torch-plugin {__version__}\n" in dumps(sample_lock())


def test_each_files_url_round_trips_and_an_older_lock_without_it_still_reads(
    tmp_path: Path,
) -> None:
    """Issue 22 item 3: the URL the index gave is kept per file; a lock written before has
    none and each file is then beside the index's pages."""
    from poetry_torch_plugin.core.record import replace

    lock = sample_lock()
    torch = lock.packages[1]
    name = torch.files[0][0]
    r2 = f"https://download-r2.pytorch.org/whl/cu129/{name.replace('+', '%2B')}"
    kept = replace(lock, packages=(lock.packages[0], replace(torch, urls=((name, r2),))))
    text = dumps(kept)
    assert f'url = "{r2}"' in text
    assert loads(text) == kept
    assert loads(text).packages[1].url_of(name, URL) == r2
    older = loads(dumps(lock))  # no url keys at all
    other = torch.files[1][0]
    assert older.packages[1].urls == ()
    assert older.packages[1].url_of(other, URL + "/") == f"{URL}/{other.replace('+', '%2B')}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://u:pw@r2.example/whl/cu129/{file}", "carries a login"),
        ("https://r2.example/whl/cu129/{file}?X-Amz-Signature=s", "carries a login, a query"),
        ("https://r2.example/whl/cu129/other.whl", "names another file"),
        ("ftp://r2.example/{file}", r"not an http\(s\) or file URL"),
    ],
)
def test_a_hand_edited_file_url_is_refused_on_read(tmp_path: Path, url: str, reason: str) -> None:
    from poetry_torch_plugin.core.record import replace

    lock = sample_lock()
    torch = lock.packages[1]
    name = torch.files[0][0]
    bad = url.format(file=name.replace("+", "%2B"))
    path = tmp_path / LOCK_NAME
    path.write_text(
        dumps(replace(lock, packages=(lock.packages[0], replace(torch, urls=((name, bad),)))))
    )
    with pytest.raises(ConfigError, match=reason):
        read_lock(path)


def _pypi_audio_lock() -> TorchLock:
    """A lock whose torchaudio comes from PyPI (issue 22 item 6): index and file URLs kept."""
    base = sample_lock()
    files = (
        ("torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl", digest("l")),
        ("torchaudio-2.11.1-py3-none-win_amd64.whl", digest("w")),
    )
    urls = tuple((name, f"https://files.example/packages/{name}") for name, _ in files)
    audio = LockedPackage(
        "torchaudio", "2.11.1", True, files, urls=urls, index="https://pypi.org/simple"
    )
    return TorchLock(base.inputs, base.content_hash, (*base.packages, audio), base.resolved_for)


def test_a_package_from_another_index_round_trips_and_installs_by_url(tmp_path: Path) -> None:
    lock = _pypi_audio_lock()
    path = tmp_path / LOCK_NAME
    write_lock(path, lock)
    text = path.read_text()
    assert 'index = "https://pypi.org/simple"' in text
    assert read_lock(path) == lock
    # from the index: this interpreter's file by URL, with its hash alone
    lines = requirement_lines(lock, tags=["py3-none-manylinux_2_28_x86_64", "py3-none-any"])
    assert lines[-1] == (
        "torchaudio @ https://files.example/packages/"
        f"torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl --hash=sha256:{digest('l')}"
    )
    # from a wheelhouse (no tags): the pin, as for every other package
    assert requirement_lines(lock)[-1].startswith("torchaudio==2.11.1 --hash=")
    exported = export_text(lock)
    assert "--extra-index-url https://pypi.org/simple\n" in exported


def test_a_package_from_another_index_needs_its_file_urls(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    write_lock(path, _pypi_audio_lock())
    path.write_text(
        "\n".join(
            line
            for line in path.read_text().splitlines()
            if "files.example" not in line or "win_amd64" in line
        ).replace(
            ', url = "https://files.example/packages/torchaudio-2.11.1-py3-none-win_amd64.whl"', ""
        )
        + "\n"
    )
    with pytest.raises(ConfigError, match=r"torchaudio comes from https://pypi\.org/simple"):
        read_lock(path)


def test_lock_versions_are_read_as_the_pattern_read_them() -> None:
    """``_version_key`` reads ``[0-9]{1,6}(\\.[0-9]{1,6}){0,3}`` without compiling it."""
    import re

    from poetry_torch_plugin.core import lockfile

    values: list[object] = [1, 2.0, True, False, None, "", " 2 ", "2.", ".2", "2..0", "1.2.3.4"]
    values += ["1.2.3.4.5", "1234567", "123456", "0.0", "2.0.0.0", "-1", "+1", "1e3", "\u00b2"]
    values += ["\u0663", "2\n", " 3.1\t", "2.0a", "2 .0", "02.000010", "9" * 6 + ".1"]
    for value in values:
        text = str(value).strip()
        expected = (
            None
            if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]{1,6}){0,3}", text)
            else text
        )
        key = lockfile._version_key(value)
        assert (key is None) == (expected is None), repr(value)
