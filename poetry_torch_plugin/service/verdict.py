"""One verdict of ``poetry torch check``, its levels and the fixes it names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.env.installed import InstalledDist
from poetry_torch_plugin.env.installed import requires_of


# The packages shown in the environment section, whatever the configuration lists.
OK, WARNING, ERROR = "ok", "warning", "error"
SHOWN = ("torch", "torchvision", "torchaudio")
COMPANIONS = ("torchvision", "torchaudio")
FIX_INSTALL = "poetry torch install"
FIX_AUTO = "poetry torch install --cuda auto"


@dataclass(frozen=True)
class Verdict:
    """One finding: ``code`` is stable (for --json), ``fix`` the command that repairs it."""

    code: str
    level: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "message": self.message, "fix": self.fix}


def torch_pin(dist: InstalledDist) -> Requirement | None:
    """The ``Requires-Dist: torch==X`` of a companion (torchvision, torchaudio), if any."""
    for line in requires_of(dist):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == "torch" and requirement.specifier:
            return requirement
    return None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None
