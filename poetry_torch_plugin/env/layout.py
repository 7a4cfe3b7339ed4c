"""Where an environment keeps its interpreter and site-packages, read from disk."""

from __future__ import annotations

import re

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

from poetry_torch_plugin.env.installed import InstalledDist
from poetry_torch_plugin.env.installed import installed_distributions


if TYPE_CHECKING:
    from pathlib import Path


_PYVENV_VERSION = re.compile(r"^\s*(?:version|version_info)\s*=\s*(\d+\.\d+(?:\.\d+)?)", re.M)
_LIB_PYTHON = re.compile(r"python(\d+\.\d+)")


@dataclass(frozen=True)
class EnvState:
    """The project environment read from disk; ``root`` is None when there is none yet."""

    root: Path | None
    python_version: str | None = None
    site_packages: tuple[Path, ...] = ()
    dists: dict[str, InstalledDist] = field(default_factory=dict, compare=False)


def site_packages_of(root: Path) -> tuple[Path, ...]:
    """``lib/python*/site-packages`` (and ``lib64``), ``Lib/site-packages`` on Windows, else
    Debian's ``dist-packages``."""
    found = [*sorted(root.glob("lib/python*/site-packages")), *root.glob("Lib/site-packages")]
    lib64 = sorted(root.glob("lib64/python*/site-packages"))
    found += [path for path in lib64 if path.resolve() not in {p.resolve() for p in found}]
    if not found:
        # A Debian/Ubuntu system Python (virtualenvs.create = false, root /usr): pip installs
        # into /usr/local/lib/python3.X/dist-packages, the distribution into lib/python3/...
        found = [
            *sorted((root / "local").glob("lib/python3*/dist-packages")),
            *sorted(root.glob("lib/python3*/dist-packages")),
        ]
    return tuple(found)


def python_version_of(root: Path, site_packages: tuple[Path, ...] = ()) -> str | None:
    """From ``pyvenv.cfg`` (venv, virtualenv and uv write it), else the ``lib/pythonX.Y`` name."""
    try:
        match = _PYVENV_VERSION.search((root / "pyvenv.cfg").read_text(encoding="utf-8"))
    except OSError:
        match = None
    if match is not None:
        return match.group(1)
    named = (_LIB_PYTHON.search(str(path)) for path in site_packages)
    return next((found.group(1) for found in named if found is not None), None)


def read_environment(root: Path | None) -> EnvState:
    if root is None:
        return EnvState(None)
    site = site_packages_of(root)
    return EnvState(root, python_version_of(root, site), site, installed_distributions(site))


def env_python(root: Path) -> Path | None:
    """The interpreter of an environment root (no Python is run to find it)."""
    for candidate in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
        path = root / candidate
        if path.is_file():
            return path
    return None
