"""What is installed in the project environment, read from disk without importing torch."""

from __future__ import annotations

import os
import re

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.variants import from_cuda_version
from poetry_torch_plugin.core.variants import from_local_label


if TYPE_CHECKING:
    from collections.abc import Iterable

    from poetry_torch_plugin.core.variants import Variant


_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")
_ASSIGNMENT = re.compile(r"^(__version__|cuda|hip)\s*(?::\s*[^=]+)?=\s*(.+?)\s*$", re.MULTILINE)


# Packages whose version.py names the build (PyPI builds carry no local label in the dist-info).
_VERSION_MODULES = {"torch": "torch", "torchvision": "torchvision", "torchaudio": "torchaudio"}


@dataclass(frozen=True)
class TargetEnv:
    """The project environment: its interpreter and the directories its packages live in."""

    root: Path
    python: Path
    site_packages: tuple[Path, ...]


@dataclass(frozen=True)
class InstalledDist:
    name: str
    version: str
    dist_info: Path

    @property
    def location(self) -> Path:
        return self.dist_info.parent

    def build_version(self) -> str:
        """The version with its local label: ``2.8.0+cu129``, from version.py when needed."""
        if "+" in self.version:
            return self.version
        facts = self._version_py()
        declared = facts.get("__version__")
        return declared if declared and "+" in declared else self.version

    def variant(self) -> Variant | None:
        """The build's variant: the local label, else ``torch/version.py``; None if unknown."""
        labelled = from_local_label(self.version)
        if labelled is not None:
            return labelled
        facts = self._version_py()
        if not facts:
            return None
        labelled = from_local_label(facts.get("__version__") or "")
        if labelled is not None:
            return labelled
        return from_cuda_version(facts.get("cuda"), facts.get("hip"))

    def runtime_variant(self) -> Variant | None:
        """The variant the installed files were built for, from ``torch.version.cuda`` /
        ``hip`` in version.py (not the label); None when version.py says neither."""
        facts = self._version_py()
        if "cuda" not in facts and "hip" not in facts:
            return None
        return from_cuda_version(facts.get("cuda"), facts.get("hip"))

    def installer(self) -> str | None:
        """The tool that installed it (the dist-info's ``INSTALLER``: pip, uv, Poetry)."""
        try:
            text = (self.dist_info / "INSTALLER").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text.splitlines()[0].strip() if text else None

    def direct_url(self) -> str | None:
        """The URL or path it was installed from by a direct reference (``direct_url.json``);
        None for an install from an index."""
        import json

        try:
            data = json.loads((self.dist_info / "direct_url.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        url = data.get("url") if isinstance(data, dict) else None
        return url if isinstance(url, str) and url else None

    def is_complete(self) -> bool:
        """False when an interrupted install left metadata without its RECORD."""
        return (self.dist_info / "RECORD").is_file() and (self.dist_info / "METADATA").is_file()

    def _version_py(self) -> dict[str, str | None]:
        module = _VERSION_MODULES.get(self.name)
        if module is None:
            return {}
        try:
            text = (self.location / module / "version.py").read_text(encoding="utf-8")
        except OSError:
            return {}
        facts: dict[str, str | None] = {}
        for key, raw in _ASSIGNMENT.findall(text):
            value = raw.strip()
            if value == "None":
                facts[key] = None
            elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                facts[key] = value[1:-1]
        return facts


def installed_distributions(paths: Iterable[Path]) -> dict[str, InstalledDist]:
    """Every ``*.dist-info`` in ``paths`` by canonical name; the first path wins, as on sys.path."""
    found: dict[str, InstalledDist] = {}
    for path in paths:
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            match = _DIST_INFO.match(entry.name)
            if match is None:
                continue
            name = canonicalize_name(match.group("name"))
            found.setdefault(name, InstalledDist(name, match.group("version"), Path(entry.path)))
    return found


def requires_of(dist: InstalledDist) -> list[str]:
    """The ``Requires-Dist`` lines of an installed distribution (markers included)."""
    try:
        text = (dist.dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    header = text.split("\n\n", 1)[0]
    return [
        line[len("Requires-Dist:") :].strip()
        for line in header.splitlines()
        if line.startswith("Requires-Dist:")
    ]
