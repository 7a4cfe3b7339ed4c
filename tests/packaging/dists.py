"""The sdist and the wheel, built once per test run with ``python -m build`` (as a maintainer
would, in build's isolated environment with pyproject's build-system requirements)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import tarfile
import zipfile

from dataclasses import dataclass
from pathlib import Path

from tests.support.poetry_env import REPO
from tests.support.poetry_env import pip_environment


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    wheel_from_sdist: Path


def build(srcdir: Path, outdir: Path, *which: str) -> subprocess.CompletedProcess[str]:
    """``python -m build`` with the machine's pip configuration (it needs poetry-core)."""
    return subprocess.run(
        [sys.executable, "-m", "build", *which, "--outdir", str(outdir), str(srcdir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=pip_environment(),
    )


def build_dists(root: Path) -> Dists:
    """Under ``root`` (shared by pytest-xdist workers, one builds under a lock): the sdist and
    the wheel built from the source tree, and a second wheel built from the sdist alone."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".building").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        tree, again = root / "from-tree", root / "from-sdist"
        if not (again / ".ready").exists():
            result = build(REPO, tree, "--sdist", "--wheel")
            assert result.returncode == 0, result.stdout + result.stderr
            (sdist,) = tree.glob("*.tar.gz")
            unpacked = root / "unpacked"
            with tarfile.open(sdist) as archive:
                if hasattr(tarfile, "data_filter"):  # 3.12, and patch releases since 3.9.17
                    archive.extractall(unpacked, filter="data")
                else:
                    archive.extractall(unpacked)
            (top,) = unpacked.iterdir()
            result = build(top, again, "--wheel")
            assert result.returncode == 0, result.stdout + result.stderr
            (again / ".ready").write_text("")
    (sdist,) = tree.glob("*.tar.gz")
    (wheel,) = tree.glob("*.whl")
    (wheel_from_sdist,) = again.glob("*.whl")
    return Dists(sdist, wheel, wheel_from_sdist)


def wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
