"""``poetry torch install --cuda auto``: which build this machine should get, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.facts import choose_auto_variant
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import from_index_name


if TYPE_CHECKING:
    from collections.abc import Iterable

    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant


@dataclass(frozen=True)
class AutoChoice:
    variant: Variant
    reason: str
    torch_version: str | None


def pinned_torch_version(requirements: Iterable[str]) -> str | None:
    """``2.8.0`` from ``torch==2.8.0`` (or ``2.8`` from ``torch==2.8.*``); None otherwise.

    Requirements that do not parse are skipped: ``torch install`` reports them itself.
    """
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "torch":
            continue
        for spec in requirement.specifier:
            if spec.operator in ("==", "==="):
                return spec.version.removesuffix(".*").split("+", 1)[0]
    return None


def choose(
    machine: Machine,
    requested: Iterable[str] = (),
    configured: Iterable[str] = (),
    installed: str | None = None,
) -> AutoChoice:
    """The newest build for this machine, for the torch release that will be installed.

    A torch pin on the command line beats the configured one, which beats the torch already
    installed (a switch keeps the release); with none of them, the newest release in the table.
    """
    version = (
        pinned_torch_version(requested)
        or pinned_torch_version(configured)
        or (installed.split("+", 1)[0] if installed else None)
    )
    name, reason = choose_auto_variant(machine, version)
    variant = from_index_name(name) or CPU
    return AutoChoice(variant, reason, version)
