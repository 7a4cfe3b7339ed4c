"""The one atomic writer: all of the file or none of it, never over someone else's edit."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project import files
from poetry_torch_plugin.project.files import write_atomic


ORIGINAL = b'[project]\nname = "demo"\n# \xc3\xa9 kept as bytes\n'


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(ORIGINAL)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_replaces_the_file_and_flushes_file_and_folder(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        flushed.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(target, b"x = 1\n", expected=ORIGINAL)
    assert target.read_bytes() == b"x = 1\n"
    assert len(flushed) == 2  # the new file, then its folder
    assert leftovers(target.parent) == []


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failure_mid_write_leaves_the_original_byte_identical(
    target: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    if failing == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    else:
        monkeypatch.setattr(Path, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"x = 1\n" * 1000, expected=ORIGINAL)
    assert target.read_bytes() == ORIGINAL
    assert leftovers(target.parent) == []


def test_an_interrupt_mid_write_leaves_the_original(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"x = 1\n")
    assert target.read_bytes() == ORIGINAL
    assert leftovers(target.parent) == []


def test_a_concurrent_edit_is_refused(target: Path) -> None:
    target.write_bytes(ORIGINAL + b"# edited by someone else\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml changed while") as info:
        write_atomic(target, b"x = 1\n", expected=ORIGINAL)
    assert "\n" not in str(info.value)
    assert target.read_bytes() == ORIGINAL + b"# edited by someone else\n"


def test_a_vanished_file_is_refused_when_its_bytes_were_expected(target: Path) -> None:
    target.unlink()
    with pytest.raises(ConfigError, match="cannot re-read"):
        write_atomic(target, b"x = 1\n", expected=ORIGINAL)
    assert not target.exists()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_the_mode_is_kept(target: Path, mode: int) -> None:
    target.chmod(mode)
    write_atomic(target, b"x = 1\n", expected=ORIGINAL)
    assert target.stat().st_mode & 0o7777 == mode


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    path = tmp_path / "requirements-torch.txt"
    write_atomic(path, b"torch\n")
    assert path.read_bytes() == b"torch\n"
    assert path.stat().st_mode & 0o7777 == files.NEW_FILE_MODE


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "pyproject.toml"
    real.parent.mkdir()
    real.write_bytes(ORIGINAL)
    real.chmod(0o640)
    project = tmp_path / "project"
    project.mkdir()
    link = project / "pyproject.toml"
    link.symlink_to(Path("..") / "shared" / "pyproject.toml")
    write_atomic(link, b"x = 1\n", expected=ORIGINAL)
    assert link.is_symlink()
    assert link.readlink() == Path("..") / "shared" / "pyproject.toml"
    assert real.read_bytes() == b"x = 1\n"
    assert real.stat().st_mode & 0o7777 == 0o640
    assert leftovers(project) == [] and leftovers(real.parent) == []


def test_an_unwritable_folder_is_refused_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder is tried by creating a file in it (issue 12, item 14); as root a chmod would
    not stop a rename, so the refusal is simulated where the kernel would answer EACCES."""
    tmp_path = tmp_path / "project"
    tmp_path.mkdir()
    path = tmp_path / "pyproject.toml"
    path.write_text("x = 1\n")
    files.refuse_read_only(path)  # writable: nothing raised, nothing left behind
    files.refuse_read_only(tmp_path / "poetry-torch.lock")  # not there yet: fine too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml"]

    def denied(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(ConfigError) as info:
        files.refuse_read_only(path)
    message = str(info.value)
    assert f"cannot create files in {tmp_path} (Permission denied)" in message
    assert "pyproject.toml could not be written; nothing was downloaded" in message
    assert "\n" not in message
    monkeypatch.undo()
    files.refuse_read_only(tmp_path / "missing" / "poetry-torch.lock")  # no folder: not here


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("x = 1\n")
    folder.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="cannot create files in"):
            files.refuse_read_only(folder / "pyproject.toml")
    finally:
        folder.chmod(0o755)
