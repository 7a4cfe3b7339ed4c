"""A ``whl/cpu`` index for the install benches: the real torch CPU wheel and its closure when
pip's configuration finds them on this machine's disk (a machine image, a wheelhouse), else a
padded built torch; beside it the test universe's other indexes and its fake PyPI."""

from __future__ import annotations

import argparse
import shutil

from pathlib import Path
from typing import NamedTuple

from _common import DEFAULT_CACHE
from _common import machine
from _common import out
from _common import poetry_bin
from _common import poetry_version
from switch_real import closure_files

from poetry_torch_plugin.installer.uv import find_uv
from tests.support.wheels import build_padded_cpu_index
from tests.support.wheels import build_torch_universe


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


def cpu_index_arguments(description: str | None) -> argparse.ArgumentParser:
    """The options every install bench takes: its cache folder and which wheels to serve."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, index")
    parser.add_argument("--padded-mb", type=int, default=64)
    parser.add_argument("--no-real", action="store_true", help="padded wheels even if real")
    return parser


class Bench(NamedTuple):
    cache: Path
    poetry: Path
    root: Path  # the universe served
    version: str  # torch's version in whl/cpu
    uv: str | None


def start_bench(args: argparse.Namespace) -> Bench:
    """Poetry, the cpu index and uv for an install bench, with the header lines it prints."""
    cache: Path = args.cache
    binary = poetry_bin(cache)
    root, version, what = cpu_index(cache, padded_mb=args.padded_mb, real=not args.no_real)
    uv = find_uv()
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}; uv: {uv or 'not found (pip only)'}")
    out(f"wheels:  {what}")
    return Bench(cache, binary, root, version, uv)
