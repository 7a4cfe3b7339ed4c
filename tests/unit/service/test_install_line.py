"""The install line names where each file comes from, with or without a wheelhouse: a pip
older than 25.3 resolves into a temporary wheelhouse (Poetry 2.1's virtualenv seeds pip 25.1),
and the line then must not read as if the index gave PyPI's torchaudio."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

import pytest

from poetry_torch_plugin.core.config import DEFAULT_INDEX_BASE
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.service import apply as apply_module


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.service.plan import Plan


INDEX = "https://download.pytorch.org/whl/cu132"
PYPI = "https://pypi.org/simple"
PLAN = cast(
    "Plan",
    SimpleNamespace(
        source=SimpleNamespace(url=INDEX), settings=SimpleNamespace(index_base=DEFAULT_INDEX_BASE)
    ),
)


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POETRY_TORCH_INDEX_BASE", raising=False)


def lock(*companions: str) -> TorchLock:
    inputs = LockInputs("pytorch_cuda_cu132", INDEX, (), "")
    packages = [
        LockedPackage(name, version, True, ((f"{name}-{version}-py3-none-any.whl", "0" * 64),))
        for name, version in (("torch", "2.14.0+cu132"), ("torchvision", "0.29.0+cu132"))
    ]
    packages += [
        LockedPackage(
            name, "2.11.1", True, ((f"{name}-2.11.1-py3-none-any.whl", "1" * 64),), index=f"{PYPI}/"
        )
        for name in companions
    ]
    return TorchLock(inputs, inputs.content_hash(), tuple(packages))


def line(locked: TorchLock, wheelhouse: Path | None) -> str:
    built: Any = vars(apply_module)["_install_line"](locked, wheelhouse, PLAN)
    return str(built)


def test_from_the_index_the_line_names_each_origin() -> None:
    assert line(lock("torchaudio"), None) == (
        f"Downloading and installing 2 packages from {INDEX} and torchaudio from {PYPI}, each"
        " checked against its sha256 in the lock"
    )
    assert line(lock(), None).startswith(f"Downloading and installing 2 packages from {INDEX}, ")


def test_from_a_wheelhouse_the_line_names_a_package_from_elsewhere(tmp_path: Path) -> None:
    house = tmp_path / "wheels"
    house.mkdir()
    for name in ("a.whl", "b.whl", "c.whl"):
        (house / name).write_bytes(b"x" * 500_000)
    assert line(lock("torchaudio"), house) == (
        f"Installing 3 files (1.5 MB), downloaded once, with no index: 2 packages from {INDEX}"
        f" and torchaudio from {PYPI}, each checked against its sha256 in the lock"
    )
    # all from the index: the line as before, no origin to single out
    assert line(lock(), house) == (
        "Installing 3 files (1.5 MB), downloaded once, with no index, each checked against its"
        " sha256 in the lock"
    )
