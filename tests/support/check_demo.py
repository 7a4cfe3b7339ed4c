"""A project for ``poetry torch check``: pyproject.toml with a pytorch source, and a ``.venv``
whose site-packages holds torch-family dist-info folders and ``version.py`` files (no wheels,
no index).  Standard library only: ``bench/check_speed.py`` also runs it on the device machine.
"""

from __future__ import annotations

import venv

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

PYPROJECT = """[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.9"

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "pytorch_cuda_{variant}"
url = "https://download.pytorch.org/whl/{variant}"
priority = "explicit"

[tool.poetry-torch]
packages = ["torch", "torchvision", "torchaudio"]
"""


def write_dist(
    site: Path, name: str, version: str, version_py: str | None = None, requires: Iterable[str] = ()
) -> None:
    """``<name>-<version>.dist-info`` (METADATA with its Requires-Dist, empty RECORD), and
    ``<name>/version.py`` when given."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = "".join(f"Requires-Dist: {line}\n" for line in requires)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{lines}\n"
    )
    (info / "RECORD").write_text("")
    if version_py is not None:
        (site / name).mkdir()
        (site / name / "version.py").write_text(version_py)


def make_check_demo(root: Path, name: str = "check-demo") -> Path:
    """The project at ``root`` with torch 2.11.0+cu130, torchvision 0.26.0+cu130 (both +cu130
    in their version.py too) and torchaudio 2.11.0 (no version.py) against a cu130 source;
    returns the site-packages directory."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(name=name, variant="cu130"))
    venv.EnvBuilder(with_pip=False).create(root / ".venv")
    site = next((root / ".venv").glob("lib/python*/site-packages"))
    # torch and torchvision as the configured index publishes them (a local label; PyPI's
    # untagged builds get a foreign-build warning), torchaudio with nothing that names a build
    write_dist(
        site, "torch", "2.11.0+cu130", "__version__ = '2.11.0+cu130'\ncuda = '13.0'\nhip = None\n"
    )
    write_dist(
        site,
        "torchvision",
        "0.26.0+cu130",
        "__version__ = '0.26.0+cu130'\ncuda = '13.0'\n",
        ("torch==2.11.0",),
    )
    write_dist(site, "torchaudio", "2.11.0", None, ("torch==2.11.0",))
    return site
