"""What Poetry's solver sees for the held torch family while a Poetry command runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name


if TYPE_CHECKING:
    from pathlib import Path

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.env.installed import TargetEnv


def hold_out(settings: TorchConfig, target: TargetEnv, pyproject: Path) -> None:
    """Hold the torch family out of Poetry for this process, showing its solver the
    installed build, else the locked one, else the newest the configured index serves."""
    from poetry_torch_plugin.env.installed import installed_distributions
    from poetry_torch_plugin.env.installed import requires_of
    from poetry_torch_plugin.errors import TorchPluginError
    from poetry_torch_plugin.seam import holdout as seam

    installed = installed_distributions(target.site_packages)
    try:
        source = settings.source()
    except TorchPluginError:
        source = None
    variant = source.variant if source else None
    wanted: dict[str, Requirement] = {
        canonicalize_name(req.name): req for req in settings.requirements
    }

    locks: list[dict[str, str]] = []

    def locked_versions() -> dict[str, str]:
        if not locks:
            locks.append({})
            if source is not None:
                from poetry_torch_plugin.project.lockstate import lock_state

                try:
                    state = lock_state(pyproject, source, settings)
                except TorchPluginError:
                    state = None
                if state is not None and state.fresh and state.lock is not None:
                    locks[0] = {p.name: p.version for p in state.lock.packages}
        return locks[0]

    def provide(name: str) -> str | None:
        dist = installed.get(name)
        right_build = dist is not None and (name not in wanted or dist.variant() in (None, variant))
        if dist is not None and right_build:
            return dist.version
        locked = locked_versions()
        if name in locked:
            return locked[name]  # what the hook will install from poetry-torch.lock
        if name in wanted and source is not None:
            from poetry_torch_plugin.index.listing import fetch_listing
            from poetry_torch_plugin.service.settings import access_for

            requirement = wanted[name]
            label = variant.local_label if variant else None
            access = access_for(settings, source)
            listing = fetch_listing(access.url, name, access=access)
            candidates = [
                v
                for v in listing.versions()
                if (label is None or v.local in (None, label))
                and requirement.specifier.contains(v, prereleases=True)
            ]
            if candidates:
                return str(max(candidates))
        return dist.version if dist is not None else None

    def protected() -> frozenset[str]:
        names: set[str] = set()
        stack = [name for name in installed if settings.held(name)]
        while stack:
            name = stack.pop()
            if name in names or name not in installed:
                continue
            names.add(name)
            for line in requires_of(installed[name]):
                if "extra ==" in line:
                    continue
                head = line.split(";", 1)[0].strip()
                stack.append(canonicalize_name(_name_of(head)))
        return frozenset(names)

    seam.hold_out(seam.HoldOut(settings.held, provide, protected))


def _name_of(requirement: str) -> str:
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index]
    return requirement
