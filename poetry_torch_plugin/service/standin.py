"""What Poetry's solver sees for the held torch family while a Poetry command runs.

The version: the one poetry-torch.lock pins; without a fresh torch lock, the newest build on the
configured index that satisfies the configuration; the installed build only when the index
cannot be read (offline), and then the user is told.  The dependencies: the configured build's
own Requires-Dist (from its installed metadata, else the torch lock's pins), minus the held
family, so that poetry.lock holds versions torch accepts.  The held names: the configured
packages plus the CUDA/ROCm runtime the configured build actually pulls in."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import install_advice
from poetry_torch_plugin.core.config import is_runtime_package
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.env.installed import requires_of
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.seam.holdout import HoldOut
from poetry_torch_plugin.seam.holdout import bind as bind_seam
from poetry_torch_plugin.service.plan import as_built
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.settings import access_for


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.env.installed import InstalledDist
    from poetry_torch_plugin.env.installed import TargetEnv


def _name_of(requirement: str) -> str:
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index]
    return requirement


def _closure(
    roots: list[str], installed: dict[str, InstalledDist], keep: Callable[[str], bool]
) -> set[str]:
    """Installed names reachable from ``roots`` through Requires-Dist, following the extras
    each requirement asks for (torch 2.14's ``rocm[libraries,device-all]`` pulls in the
    rocm-sdk-libraries-* and rocm-sdk-devices-* packages through rocm's extras)."""
    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    stack = [(name, frozenset[str]()) for name in roots]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen or name not in installed or not keep(name):
            continue
        seen.add((name, extras))
        names.add(name)
        for line in requires_of(installed[name]):
            step = _requirement_step(line, extras)
            if step is not None:
                stack.append(step)
    return names


def _requirement_step(line: str, extras: frozenset[str]) -> tuple[str, frozenset[str]] | None:
    """(name, its extras) of one Requires-Dist line that applies given the ``extras`` asked
    of its package; None for a line behind an extra not asked for.  A line naming neither
    extras nor an ``extra`` marker (most of a torch build's ~20) is its name alone, read without
    building a Requirement (~0.05 ms each, after every Poetry command); only such a line that a
    Requirement could not read is taken by its leading name too (a legacy specifier's name is
    still the dependency's), the others it cannot read give None."""
    if "[" not in line and "extra" not in line:
        name = _name_of(line.strip())
        if name:
            return canonicalize_name(name), frozenset()
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return None
    marker = requirement.marker
    behind = marker is not None and "extra" in str(marker)
    if behind and not any(marker.evaluate({"extra": e}) for e in extras):  # type: ignore[union-attr]
        return None
    wanted = frozenset(canonicalize_name(extra) for extra in requirement.extras)
    return canonicalize_name(requirement.name), wanted


def _fresh_lock(settings: TorchConfig, pyproject: Path) -> TorchLock | None:
    """The lock's first part, when fresh: what the solver sees (no interpreter is asked; a
    machine-local choice gets none, the lock being for the committed variant)."""
    from poetry_torch_plugin.core.lockfile import NewerLockError

    try:
        source = settings.source()
        if source is None:
            return None
        state = lock_state(pyproject, source, settings)
    except NewerLockError:
        raise  # a newer plugin's lock: the Poetry command is stopped before it runs
    except TorchPluginError:
        return None
    return machine_part(state, settings, None).lock


def build(
    settings: TorchConfig,
    target: TargetEnv | None,
    pyproject: Path,
    say: Callable[[str], None],
) -> HoldOut:
    """The hold-out for one command on this project (``target`` None: no environment yet)."""
    installed = installed_distributions(target.site_packages) if target is not None else {}
    source = settings.source()  # several plugin sources: ConfigError, the command is stopped
    variant = source.variant if source else None
    lock = _fresh_lock(settings, pyproject)
    locked = {p.name: p for p in lock.packages} if lock is not None else {}
    if lock is not None:  # a default-family companion the build has none of is not held
        settings = as_built(settings, lock)
    wanted: dict[str, Requirement] = {
        canonicalize_name(req.name): req for req in settings.requirements
    }

    def right_build(name: str) -> InstalledDist | None:
        dist = installed.get(name)
        if dist is None or (name in wanted and dist.variant() not in (None, variant)):
            return None
        return dist

    # Held: the configured packages, plus the runtime (nvidia-*, triton, ...) that the
    # configured build pulls in, as the torch lock or the installed build says.
    runtime = {name for name in locked if is_runtime_package(name)}
    roots = [name for name in wanted if right_build(name) is not None]
    runtime |= {n for n in _closure(roots, installed, lambda _: True) if is_runtime_package(n)}
    held_names = frozenset(wanted) | frozenset(runtime)
    if not locked and not roots:
        # Nothing says what the build pulls in yet: hold what a torch build may pull in.
        def held(name: str) -> bool:
            canonical = canonicalize_name(name)
            return canonical in held_names or is_runtime_package(canonical)
    else:

        def held(name: str) -> bool:
            return canonicalize_name(name) in held_names

    listings: dict[str, Any] = {}

    def newest_on_index(name: str) -> str | None:
        # the index is read only when no fresh poetry-torch.lock pins the build: its module
        # loads then, not before every Poetry command
        from poetry_torch_plugin.index.pages import fetch_listing

        if source is None:
            return None

        access = access_for(settings, source)
        label = variant.local_label if variant else None
        requirement = wanted[name]
        listing = fetch_listing(access.url, name, access=access)
        listings[name] = (listing, access)
        candidates = [
            v
            for v in listing.versions()
            if (label is None or v.local in (None, label))
            and requirement.specifier.contains(v, prereleases=True)
        ]
        return str(max(candidates)) if candidates else None

    def provide(name: str) -> tuple[str, list[str]] | None:
        dist = right_build(name)
        version: str | None = None
        if name in locked:
            version = locked[name].version
        elif name in wanted:
            try:
                version = newest_on_index(name)
            except TorchPluginError as exc:
                if dist is None:
                    raise
                say(
                    f"poetry-torch: cannot read the configured index ({exc.what}); Poetry's solver"
                    f" sees the installed {name} {dist.version} instead"
                )
        if version is None and dist is not None:
            version = dist.version
        if version is None:
            return None
        if dist is not None and dist.version == version:
            return version, requires_of(dist)
        if name in listings:
            listing, access = listings[name]
            from poetry_torch_plugin.index.pages import fetch_requires  # (as above)

            requires = fetch_requires(listing, version, access=access)
            if requires is not None:
                return version, requires  # the build's own metadata (PEP 658), a few kB
        if name == "torch" and locked:
            # The torch lock pins torch's whole closure: its shared dependencies at those pins.
            return version, [f"{p.name}=={p.version}" for p in locked.values() if not held(p.name)]
        return version, []

    def protected() -> frozenset[str]:
        return frozenset(_closure([n for n in installed if held(n)], installed, lambda _: True))

    # the advice edits pyproject.toml: it names the committed variant, not a machine-local one
    choice = settings.choice
    committed = choice.committed if choice is not None and choice.machine_local else variant

    def suggest(name: str, constraint: str) -> str:
        option = committed.option if committed is not None else ""
        return install_advice(name, constraint, option=option, companions=settings.written)

    return HoldOut(held, provide, protected, shown=tuple(wanted), suggest=suggest)


def bind(poetry: Any, installer: Any | None, hold: HoldOut) -> None:
    """Bind the hold-out to the running command's Poetry objects."""
    bind_seam(poetry, installer, hold)
