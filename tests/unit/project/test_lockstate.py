"""poetry-torch.lock on disk: a lock's text is checked once, then read from the user's cache
folder while its bytes and the plugin's code stay the same (issue 24, item 2)."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from poetry_torch_plugin.core import lockfile
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project import lockstate
from poetry_torch_plugin.project.lockstate import read_lock
from poetry_torch_plugin.project.lockstate import write_lock
from tests.unit.core.test_lockfile import sample_lock


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    path = tmp_path / "poetry-torch.lock"
    write_lock(path, sample_lock())
    lockstate._read.cache_clear()
    return path


def kept() -> list[Path]:
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "poetry-torch" / "locks"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a read that parses and checks the text fails the test."""
    lockstate._read.cache_clear()

    def loads(*_: object) -> None:
        raise AssertionError("the lock was parsed and checked again")

    monkeypatch.setattr(lockstate, "loads", loads)


def test_a_checked_lock_is_read_again_without_parsing(
    lock_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = read_lock(lock_file)
    assert first == sample_lock()
    assert len(kept()) == 1
    if os.name == "posix":
        assert oct(kept()[0].stat().st_mode & 0o777) == "0o600"  # the user's own
    unchecked(monkeypatch)
    assert read_lock(lock_file) == first


def test_other_bytes_are_checked_again(lock_file: Path) -> None:
    read_lock(lock_file)
    text = lock_file.read_text()
    broken = text.replace('content-hash = "', 'content-hash = "0', 1)
    assert broken != text
    lock_file.write_text(broken)
    with pytest.raises(ConfigError, match="content-hash"):
        read_lock(lock_file)
    assert len(kept()) == 1  # the broken lock was not kept


def test_a_damaged_cache_file_is_read_past(lock_file: Path) -> None:
    read_lock(lock_file)
    kept()[0].write_text('{"metadata": ')
    lockstate._read.cache_clear()
    assert read_lock(lock_file) == sample_lock()


def test_other_plugin_code_checks_again(
    lock_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_lock(lock_file)
    other = tmp_path / "lockfile.py"  # another version of the checking code
    other.write_text(Path(lockfile.__file__).read_text() + "\n")
    monkeypatch.setattr(lockfile, "__file__", str(other))
    lockstate._read.cache_clear()
    assert read_lock(lock_file) == sample_lock()
    assert len(kept()) == 2


def test_a_lock_whose_text_holds_a_login_is_not_copied_out(lock_file: Path) -> None:
    with lock_file.open("a") as handle:
        handle.write("# mirrored from https://user:secret@mirror.example/whl/cu129\n")
    assert read_lock(lock_file) == sample_lock()
    assert kept() == []


def test_a_cache_folder_that_cannot_be_written_is_skipped(
    lock_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert read_lock(lock_file) == sample_lock()
    lockstate._read.cache_clear()
    assert read_lock(lock_file) == sample_lock()


def test_old_locks_are_dropped(tmp_path: Path) -> None:
    for number in range(lockstate._KEPT + 3):
        path = tmp_path / f"{number}" / "poetry-torch.lock"
        path.parent.mkdir()
        write_lock(path, sample_lock())
        path.write_text(f"# {number}\n" + path.read_text())
        assert read_lock(path) == sample_lock()
    assert len(kept()) == lockstate._KEPT


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes and owners")
def test_a_folder_others_can_write_is_neither_read_nor_pruned(lock_file: Path) -> None:
    read_lock(lock_file)
    (planted,) = kept()
    planted.write_text('{"metadata": {}}')  # what someone else could put there
    planted.parent.chmod(0o777)
    try:
        lockstate._read.cache_clear()
        assert read_lock(lock_file) == sample_lock()  # checked again, not the planted file
        assert planted.read_text() == '{"metadata": {}}'  # nor written there
    finally:
        planted.parent.chmod(0o700)


def test_a_symlinked_folder_is_never_pruned(lock_file: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for number in range(lockstate._KEPT + 4):
        (elsewhere / f"{number:064x}.json").write_text("{}")
    folder = Path(os.environ["XDG_CACHE_HOME"]) / "poetry-torch" / "locks"
    folder.parent.mkdir(parents=True)
    folder.symlink_to(elsewhere)
    assert read_lock(lock_file) == sample_lock()
    assert len(list(elsewhere.iterdir())) == lockstate._KEPT + 4


def test_only_kept_locks_and_stale_partial_files_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "poetry-torch.lock"
    write_lock(path, sample_lock())
    read_lock(path)
    folder = kept()[0].parent
    mine = folder / "notes.json"
    mine.write_text("{}")
    fresh, stale = folder / ".fresh.tmp", folder / ".stale.tmp"
    fresh.write_text("")
    stale.write_text("")
    os.utime(stale, (0, 0))
    for number in range(lockstate._KEPT + 2):
        path.write_text(f"# {number}\n" + path.read_text())
        assert read_lock(path) == sample_lock()
    assert len(kept()) == lockstate._KEPT + 1  # notes.json is not one of them
    assert mine.exists() and fresh.exists() and not stale.exists()
