"""A ``whl/cpu`` index for the install benches: the real torch CPU wheel and its closure when
pip's configuration finds them on this machine's disk (a machine image, a wheelhouse), else a
padded built torch; beside it the test universe's other indexes and its fake PyPI."""

from __future__ import annotations

import shutil

from typing import TYPE_CHECKING

from switch_real import closure_files

from tests.support.wheels import build_padded_cpu_index
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from pathlib import Path


REAL_TORCH = "2.13.0+cpu"


def cpu_index(cache: Path, *, padded_mb: int, real: bool = True) -> tuple[Path, str, str]:
    """(universe root, the torch version in ``whl/cpu``, a description of the wheels)."""
    files = closure_files(f"torch=={REAL_TORCH}", cache / "real-downloads") if real else None
    name = f"universe-cpu-real-{REAL_TORCH}" if files else f"universe-cpu-padded-{padded_mb}mb"
    root = cache / name
    shutil.rmtree(root, ignore_errors=True)
    build_torch_universe(root)
    directory = root / "whl" / "cpu"
    shutil.rmtree(directory)
    directory.mkdir()
    if files:
        for file in files:
            (directory / file.name).symlink_to(file)
        version = REAL_TORCH
    else:
        for wheel in build_padded_cpu_index(directory, padded_mb * 1024 * 1024):
            if not wheel.name.startswith("torch-"):
                wheel.unlink()  # the benches install torch alone
        version = "2.8.0+cpu"
    wheels = sorted(directory.glob("*.whl"))
    torch = next(w for w in wheels if w.name.startswith("torch-"))
    total = sum(w.stat().st_size for w in wheels)
    what = (
        f"{'real' if files else 'padded'} torch {version} ({torch.stat().st_size / 1e6:.1f} MB),"
        f" {len(wheels)} files in all ({total / 1e6:.1f} MB)"
    )
    return root, version, what


def torch_wheel(root: Path) -> Path:
    return next((root / "whl" / "cpu").glob("torch-*.whl"))
