"""Red-team cases for the offline wheelhouse: a folder that cannot serve (missing, a file,
empty, an empty setting) is refused in one line before any index is read, and a download cut
short (Ctrl-C, an unwritable destination) leaves no ``.part`` behind."""

from __future__ import annotations

import hashlib
import io

from pathlib import Path

import pytest

from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index import pages
from poetry_torch_plugin.index.pages import download_verified
from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV
from poetry_torch_plugin.service.wheelhouse import from_env
from poetry_torch_plugin.service.wheelhouse import usable


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
    from poetry_torch_plugin.service.hook import _wheelhouse

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
    monkeypatch.setattr(pages, "_source", lambda url, access: _CutShort())
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


def _project_with_lock(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A project whose fresh poetry-torch.lock pins one torch with a wheel for two Pythons,
    both served by a ``file://`` index; returns (pyproject, index folder, wheel bytes)."""
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import dumps
    from poetry_torch_plugin.core.lockfile import inputs_for
    from tests.support.toml import loads

    index = tmp_path / "index" / "cpu"
    (index / "torch").mkdir(parents=True)
    wheels = {
        f"torch-2.9.0+cpu-{tag}-{tag}-linux_x86_64.whl": tag.encode() for tag in ("cp311", "cp312")
    }
    links = ""
    for name, data in wheels.items():
        (index / name).write_bytes(data)
        links += f'<a href="../{name.replace("+", "%2B")}">{name}</a>\n'
    (index / "torch" / "index.html").write_text(f"<html><body>{links}</body></html>")
    pyproject = tmp_path / "project" / "pyproject.toml"
    pyproject.parent.mkdir()
    pyproject.write_text(
        '[project]\nname = "x"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        'dependencies = ["torch"]\n\n[[tool.poetry.source]]\nname = "pytorch_cpu"\n'
        f'url = "{index.as_uri()}"\npriority = "explicit"\n\n'
        '[tool.poetry-torch]\npackages = ["torch"]\n'
    )
    settings = read_config(loads(pyproject.read_text()))
    source = settings.source()
    assert source is not None
    inputs = inputs_for(source, settings, ">=3.9")
    files = tuple(sorted((name, hashlib.sha256(data).hexdigest()) for name, data in wheels.items()))
    lock = TorchLock(
        inputs,
        inputs.content_hash(),
        (LockedPackage("torch", "2.9.0+cpu", True, files),),
        "cpython 3.11 linux x86_64",
    )
    (pyproject.parent / "poetry-torch.lock").write_text(dumps(lock))
    return pyproject, index, wheels


def _no_env(create: bool = False) -> object:
    raise AssertionError("--all asks no environment")


def test_a_shared_wheelhouse_lists_every_locked_file_it_holds(tmp_path: Path) -> None:
    """Filled with --all (or by a machine with another Python), then filled by this one: the
    simple/ pages keep every locked file the folder holds, since pip elsewhere reads them."""
    import sys

    from types import SimpleNamespace

    from poetry_torch_plugin.service.wheelhouse import fill

    if sys.platform != "linux" or sys.version_info[:2] not in ((3, 11), (3, 12)):
        pytest.skip("the locked wheels are cp311/cp312 linux_x86_64")
    pyproject, _, wheels = _project_with_lock(tmp_path)
    house = tmp_path / "house"
    filled = fill(pyproject, house, _no_env, every_file=True)  # type: ignore[arg-type]
    assert (filled.downloaded, filled.present) == (2, 0)
    here = SimpleNamespace(python=Path(sys.executable))  # a TargetEnv's python is a Path
    again = fill(pyproject, house, lambda create=False: here)  # type: ignore[arg-type]
    assert (again.downloaded, again.present) == (0, 1)  # only this Python's file selected
    page = (house / "simple" / "torch" / "index.html").read_text()
    assert all(name in page for name in wheels), page
    assert not list(house.glob("*.part"))


def test_a_simple_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    from poetry_torch_plugin.service.wheelhouse import fill

    pyproject, _, _ = _project_with_lock(tmp_path)
    house = tmp_path / "house"
    house.mkdir()
    (house / "simple").write_text("in the way")
    with pytest.raises(ConfigError) as info:
        fill(pyproject, house, _no_env, every_file=True)  # type: ignore[arg-type]
    assert "were kept" in str(info.value) and "\n" not in str(info.value)
    assert (house / "simple").read_text() == "in the way"
    assert len(list(house.glob("*.whl"))) == 2


def test_a_wheelhouse_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    from poetry_torch_plugin.service.wheelhouse import fill

    pyproject, _, _ = _project_with_lock(tmp_path)
    house = tmp_path / "house"
    house.write_text("a file")
    with pytest.raises(ConfigError, match="cannot create the wheelhouse"):
        fill(pyproject, house, _no_env, every_file=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot create the wheelhouse"):
        fill(pyproject, house, _no_env)  # type: ignore[arg-type]  # before any environment
    assert house.read_text() == "a file"


def test_credentials_in_the_source_url_never_reach_the_wheelhouse_or_its_lines(
    tmp_path: Path,
) -> None:
    from poetry_torch_plugin.service.wheelhouse import fill

    pyproject, _, _ = _project_with_lock(tmp_path)
    text = pyproject.read_text()
    pyproject.write_text(text.replace("file://", "file://alice:s3cret@"))
    said: list[str] = []
    house = tmp_path / "house"
    fill(pyproject, house, _no_env, every_file=True, say=said.append)  # type: ignore[arg-type]
    assert "file://alice:***@" in said[0]
    assert "s3cret" not in "\n".join(said)
    written = [path for path in house.rglob("*") if path.is_file()]
    assert len(written) == 4  # two wheels, simple/index.html, simple/torch/index.html
    assert not [path for path in written if b"s3cret" in path.read_bytes()]


def test_a_wheelhouse_filled_from_another_lock_is_refused_before_installing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.service.hook import _wheelhouse
    from poetry_torch_plugin.service.wheelhouse import install_from

    pyproject, _, wheels = _project_with_lock(tmp_path)
    house = tmp_path / "house"
    house.mkdir()
    (house / "torch-2.8.0+cpu-cp311-cp311-linux_x86_64.whl").write_bytes(b"older lock's")
    with pytest.raises(ConfigError) as info:
        install_from(pyproject, house, _no_env, dry_run=True)  # type: ignore[arg-type]
    assert "holds no locked file of torch 2.9.0+cpu" in str(info.value)
    assert "no index was read" in str(info.value)
    inputs = LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), "")
    files = tuple((name, "0" * 64) for name in wheels)
    lock = TorchLock(inputs, "e", (LockedPackage("torch", "2.9.0+cpu", True, files),))
    monkeypatch.setenv(WHEELHOUSE_ENV, str(house))
    with pytest.raises(ConfigError, match="holds no locked file of torch"):
        _wheelhouse(lock)  # the hook: refused the same way
    (house / next(iter(wheels))).write_bytes(b"x")
    assert _wheelhouse(lock) == house
    said: list[str] = []
    assert install_from(pyproject, house, _no_env, dry_run=True, say=said.append) == ()  # type: ignore[arg-type]
    assert said[0].startswith("Would install 1 locked packages (torch==2.9.0+cpu, …)")


def test_a_locked_source_archive_is_selected_where_no_wheel_fits() -> None:
    """sdists are valid in the lock; selecting by wheel tags used to raise on their names."""
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.service.wheelhouse import select_files

    inputs = LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), "")
    sdist = ("tinydep-1.0.tar.gz", "a" * 64)
    wheel = ("tinydep-1.0-py3-none-any.whl", "b" * 64)
    only_sdist = TorchLock(inputs, "e", (LockedPackage("tinydep", "1.0", False, (sdist,)),))
    assert select_files(only_sdist, {"py3-none-any"}) == [("tinydep", *sdist)]
    both = TorchLock(inputs, "e", (LockedPackage("tinydep", "1.0", False, (sdist, wheel)),))
    assert select_files(both, {"py3-none-any"}) == [("tinydep", *wheel)]
    assert select_files(both, None) == [("tinydep", *sdist), ("tinydep", *wheel)]


@pytest.mark.parametrize("name", ["../../.bashrc", "sub/tinydep-1.0.tar.gz", ".hidden.tar.gz"])
def test_a_locked_file_name_that_is_a_path_makes_the_lock_unreadable(name: str) -> None:
    """A wheelhouse writes each locked file under its name: never outside the folder."""
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import lock_problem

    inputs = LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), "")
    package = LockedPackage("tinydep", "1.0", False, ((name, "a" * 64),))
    problem = lock_problem(TorchLock(inputs, "e" * 64, (package,)))
    assert problem is not None and "is not a plain file name" in problem


def test_a_download_never_writes_into_another_writers_part_file(tmp_path: Path) -> None:
    """Two machines filling one shared folder: each streams into its own ``.part``."""
    data = b"wheel bytes"
    source = tmp_path / "index" / WHEEL
    source.parent.mkdir()
    source.write_bytes(data)
    house = tmp_path / "house"
    house.mkdir()
    theirs = house / f"{WHEEL}.part"
    theirs.write_bytes(b"another machine, half-way")
    download_verified(source.as_uri(), house / WHEEL, hashlib.sha256(data).hexdigest(), None)
    assert (house / WHEEL).read_bytes() == data
    assert theirs.read_bytes() == b"another machine, half-way"
    assert sorted(p.name for p in house.iterdir()) == sorted([WHEEL, theirs.name])


def test_a_wheelhouse_filled_for_another_python_is_refused_before_installing(
    tmp_path: Path,
) -> None:
    """Filled on a cp312 build host, installed on a cp311 cluster: one line naming the
    package, instead of pip's 'no matching distribution' after the environment was touched."""
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.service.wheelhouse import holds

    cp311 = "torch-2.9.0+cpu-cp311-cp311-linux_x86_64.whl"
    cp312 = "torch-2.9.0+cpu-cp312-cp312-linux_x86_64.whl"
    inputs = LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), "")
    files = ((cp311, "a" * 64), (cp312, "b" * 64))
    lock = TorchLock(inputs, "e" * 64, (LockedPackage("torch", "2.9.0+cpu", True, files),))
    (tmp_path / cp312).write_bytes(b"x")
    here = {"cp311-cp311-linux_x86_64", "py3-none-any"}
    with pytest.raises(ConfigError) as info:
        holds(tmp_path, lock, here)
    assert "holds no locked file for this environment's Python and platform of torch" in str(
        info.value
    )
    assert holds(tmp_path, lock, None) == tmp_path  # tags unknown: any locked file will do
    (tmp_path / cp311).write_bytes(b"x")
    assert holds(tmp_path, lock, here) == tmp_path


def test_a_failed_download_prints_no_login_and_no_signed_query(tmp_path: Path) -> None:
    url = "file://u:s3cret@/nowhere/" + WHEEL + "?X-Amz-Signature=t0ken#sha256=" + "0" * 64
    with pytest.raises(IndexAccessError) as info:
        download_verified(url, tmp_path / WHEEL, "0" * 64, None)
    message = str(info.value)
    assert message.startswith(f"cannot download {WHEEL} from file://u:***@/nowhere/{WHEEL} (")
    assert "s3cret" not in message and "t0ken" not in message


@pytest.mark.parametrize("name", ["../../etc", "Tiny_Dep", "a/b"])
def test_a_locked_package_name_that_is_not_normalized_makes_the_lock_unreadable(
    name: str,
) -> None:
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import lock_problem

    inputs = LockInputs("pytorch_cpu", "https://x/whl/cpu", ("torch",), "")
    package = LockedPackage(name, "1.0", False, (("tinydep-1.0.tar.gz", "a" * 64),))
    problem = lock_problem(TorchLock(inputs, "e" * 64, (package,)))
    assert problem == f"{name!r} is not a normalized package name"


def test_a_download_whose_bytes_differ_from_the_locked_sha256_is_not_kept(
    tmp_path: Path,
) -> None:
    """The download succeeds, but the bytes hash to something else than the sha256 asked for
    (the index's ``#sha256=``, as locked): one line, and neither the file nor a ``.part`` is
    left, while the files already in the folder stay (issue 22, item 4)."""
    source = tmp_path / "index" / WHEEL
    source.parent.mkdir()
    source.write_bytes(b"tampered wheel bytes")
    house = tmp_path / "house"
    house.mkdir()
    (house / "kept.whl").write_bytes(b"kept")
    locked = hashlib.sha256(b"the wheel the index listed").hexdigest()
    with pytest.raises(IndexAccessError) as info:
        download_verified(source.as_uri(), house / WHEEL, locked, None)
    message = str(info.value)
    assert "\n" not in message
    assert f"{WHEEL} from " in message
    assert "does not match its sha256 in poetry-torch.lock" in message
    assert f"locked {locked[:16]}…" in message
    assert "it was not kept" in message
    assert sorted(p.name for p in house.iterdir()) == ["kept.whl"]


def test_a_wheelhouse_fill_stops_at_a_file_that_does_not_match_the_lock(tmp_path: Path) -> None:
    """The index now serves other bytes under a locked file's name: `poetry torch wheelhouse`
    fails in one line, the file is not in the wheelhouse, and no simple/ page offers it (the
    command never gets to say the wheelhouse is ready)."""
    from poetry_torch_plugin.service.wheelhouse import fill

    pyproject, index, wheels = _project_with_lock(tmp_path)
    tampered = sorted(wheels)[0]
    (index / tampered).write_bytes(b"not the locked bytes")
    house = tmp_path / "house"
    said: list[str] = []
    with pytest.raises(IndexAccessError) as info:
        fill(pyproject, house, _no_env, every_file=True, say=said.append)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert f"{tampered} from " in str(info.value)
    assert "does not match its sha256" in str(info.value)
    assert not (house / tampered).exists()
    assert not list(house.glob("*.part"))
    assert not (house / "simple").exists()
    assert not [line for line in said if "ready" in line.lower()]
