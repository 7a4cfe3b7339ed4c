"""Red-team cases for the offline wheelhouse: a folder that cannot serve (missing, a file,
empty, an empty setting) is refused in one line before any index is read, and a download cut
short (Ctrl-C, an unwritable destination) leaves no ``.part`` behind."""

from __future__ import annotations

import hashlib
import io

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index import download
from poetry_torch_plugin.index.download import download_verified
from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV
from poetry_torch_plugin.service.wheelhouse import from_env
from poetry_torch_plugin.service.wheelhouse import usable


if TYPE_CHECKING:
    from pathlib import Path

WHEEL = "torch-2.9.0+cpu-py3-none-any.whl"


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "no-wheels"])
def test_a_folder_that_cannot_serve_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "wheels"
    if kind == "file":
        folder.write_bytes(b"not a folder")
    elif kind != "missing":
        folder.mkdir()
        if kind == "no-wheels":
            (folder / "README").write_text("x")
    with pytest.raises(ConfigError) as info:
        usable(folder)
    message = str(info.value)
    assert "holds no wheels" in message and "no index was read" in message
    assert str(folder) in message and "\n" not in message


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_folder_setting_is_refused_not_taken_as_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    (tmp_path / WHEEL).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)  # a wheel right here must not make "" mean "."
    with pytest.raises(ConfigError, match="is empty; nothing was installed"):
        usable(text)


def test_relative_and_home_paths_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / WHEEL).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert usable("wheels") == tmp_path / "wheels"
    assert usable("~/wheels") == tmp_path / "wheels"


def test_the_environment_variable_unset_or_blank_means_none_and_a_bad_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WHEELHOUSE_ENV, raising=False)
    assert from_env() is None
    monkeypatch.setenv(WHEELHOUSE_ENV, " ")
    assert from_env() is None
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path / "gone"))
    with pytest.raises(ConfigError, match="holds no wheels"):
        from_env()


def test_the_hook_never_falls_back_to_the_index_without_a_lock_to_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poetry_torch_plugin.service.repair import _wheelhouse

    (tmp_path / WHEEL).write_bytes(b"x")
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path))
    with pytest.raises(ConfigError) as info:
        _wheelhouse(None)
    assert f"{WHEELHOUSE_ENV} is set but there is no fresh poetry-torch.lock" in str(info.value)
    assert "no index was read" in str(info.value)
    lock = TorchLock(LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), ""), "e", ())
    assert _wheelhouse(lock) == tmp_path
    monkeypatch.delenv(WHEELHOUSE_ENV)
    assert _wheelhouse(None) is None  # unset: the hook installs from the index as before


class _CutShort(io.BytesIO):
    """A download that the user interrupts after its first block."""

    def __init__(self) -> None:
        super().__init__(b"a" * 64)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise KeyboardInterrupt
        return super().read(8)


def test_ctrl_c_during_a_download_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = tmp_path / "house"
    house.mkdir()
    monkeypatch.setattr(download, "_source", lambda url, access: _CutShort())
    with pytest.raises(KeyboardInterrupt):
        download_verified("https://x/whl/cpu/" + WHEEL, house / WHEEL, "0" * 64, None)
    assert list(house.iterdir()) == []


def test_a_destination_that_cannot_be_replaced_is_one_line_and_no_part(tmp_path: Path) -> None:
    data = b"wheel bytes"
    source = tmp_path / "index" / WHEEL
    source.parent.mkdir()
    source.write_bytes(data)
    house = tmp_path / "house"
    (house / WHEEL / "inside").mkdir(parents=True)  # a folder stands where the wheel goes
    with pytest.raises(IndexAccessError) as info:
        download_verified(source.as_uri(), house / WHEEL, hashlib.sha256(data).hexdigest(), None)
    assert f"cannot write {house / WHEEL}" in str(info.value)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in house.iterdir()) == [WHEEL]  # no .part left
