"""The Poetry methods this plugin wraps to hold the torch family out, and nothing else.

Verified against Poetry 2.0.1 and 2.5.1 (see ``VERIFIED_WITH``); ``tests/unit/test_seam.py``
fails loudly when Poetry moves any of these.  What is wrapped, and why:

- ``RepositoryPool.find_packages`` / ``RepositoryPool.package``: for a held-out name (torch,
  torchvision, torchaudio, nvidia-*, triton, ...) the solver sees only the build that is
  installed (or the one the configured index will install), with no dependencies.  A package
  that needs another torch is therefore reported as a conflict, and nothing is looked up on
  the primary source.  Patched on the class, because Poetry also builds throw-away pools
  (``RepositoryPool.from_packages``) when it re-resolves from the lock file.
- ``Locker.set_lock_data``: held-out packages are dropped before poetry.lock is written.
- ``Installer._execute``: operations on held-out packages are dropped, and so are removals
  (``poetry sync``) of what the installed torch family itself requires."""

from __future__ import annotations

import functools
import inspect

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import PoetrySeamError


if TYPE_CHECKING:
    from collections.abc import Callable

    from poetry.core.packages.package import Package


VERIFIED_WITH = ("2.0.1", "2.5.1")


# (module, class, attribute) -> the parameter names the wrapper relies on.
SEAMS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("poetry.repositories.repository_pool", "RepositoryPool", "find_packages"): (
        "self",
        "dependency",
    ),
    # Poetry 2.0 has an ``extras`` parameter between version and repository_name.
    ("poetry.repositories.repository_pool", "RepositoryPool", "package"): (
        "self",
        "name",
        "version",
    ),
    ("poetry.packages.locker", "Locker", "set_lock_data"): ("self", "root", "packages"),
    ("poetry.installation.installer", "Installer", "_execute"): ("self", "operations"),
}


class HoldOut:
    """What to hold out of Poetry, and what to show its solver instead.

    ``held(name)`` says whether a canonical name belongs to the torch family; ``provide(name)``
    returns the (name, version) the solver should see for it, or None; ``protected()`` lists
    installed names that ``poetry sync`` must not remove.
    """

    def __init__(
        self,
        held: Callable[[str], bool],
        provide: Callable[[str], str | None],
        protected: Callable[[], frozenset[str]],
    ) -> None:
        self.held = held
        self._provide = provide
        self._protected = protected
        self._packages: dict[str, Package | None] = {}

    def package(self, name: str) -> Package | None:
        if name not in self._packages:
            from poetry.core.packages.package import Package

            version = self._provide(name)
            self._packages[name] = Package(name, version) if version else None
        return self._packages[name]

    def protected(self) -> frozenset[str]:
        return self._protected()


def _resolve(module: str, cls: str, attribute: str) -> tuple[type[Any], Any]:
    import importlib

    try:
        owner = getattr(importlib.import_module(module), cls)
        return owner, getattr(owner, attribute)
    except (ImportError, AttributeError):
        raise PoetrySeamError(
            f"poetry-torch-plugin cannot find {module}.{cls}.{attribute} in this Poetry"
            f" (verified with {', '.join(VERIFIED_WITH)}); torch would not be held out of"
            " poetry.lock, so the command was stopped. Upgrade poetry-torch-plugin, or run with"
            " --no-plugins."
        ) from None


def check_seams() -> None:
    """Raise PoetrySeamError when a wrapped method is missing or its signature moved."""
    for (module, cls, attribute), expected in SEAMS.items():
        _, function = _resolve(module, cls, attribute)
        original = getattr(function, "__wrapped__", function)
        names = tuple(inspect.signature(original).parameters)[: len(expected)]
        if names != expected:
            raise PoetrySeamError(
                f"poetry-torch-plugin: {cls}.{attribute}{names} no longer has the parameters"
                f" {expected} it was verified with (Poetry {', '.join(VERIFIED_WITH)}); the"
                " command was stopped so torch is not locked. Upgrade poetry-torch-plugin, or"
                " run with --no-plugins."
            )


def _patch(module: str, cls: str, attribute: str, make: Callable[[Any], Any]) -> None:
    owner, current = _resolve(module, cls, attribute)
    original = getattr(current, "__wrapped__", current)
    wrapper = functools.wraps(original)(make(original))
    setattr(owner, attribute, wrapper)


def hold_out(hold: HoldOut) -> None:
    """Install the wrappers for this process (idempotent: a second call replaces the first)."""
    check_seams()
    from poetry.repositories.exceptions import PackageNotFoundError

    def find_packages(original: Any) -> Any:
        def wrapper(self: Any, dependency: Any) -> list[Package]:
            if not hold.held(dependency.name):
                return list(original(self, dependency))
            package = hold.package(dependency.name)
            if package is None or not dependency.constraint.allows(package.version):
                return []
            return [package]

        return wrapper

    def package(original: Any) -> Any:
        def wrapper(self: Any, name: str, version: Any, *args: Any, **kwargs: Any) -> Package:
            if not hold.held(name):
                return original(self, name, version, *args, **kwargs)  # type: ignore[no-any-return]
            provided = hold.package(name)
            if provided is None or provided.version != version:
                raise PackageNotFoundError(f"Package {name} ({version}) not found.")
            return provided

        return wrapper

    def set_lock_data(original: Any) -> Any:
        def wrapper(self: Any, root: Any, packages: dict[Any, Any]) -> bool:
            kept = {pkg: info for pkg, info in packages.items() if not hold.held(pkg.name)}
            return bool(original(self, root, kept))

        return wrapper

    def execute(original: Any) -> Any:
        def wrapper(self: Any, operations: list[Any]) -> int:
            protected = (
                hold.protected()
                if any(op.job_type == "uninstall" for op in operations)
                else frozenset()
            )
            kept = [
                op
                for op in operations
                if not hold.held(op.package.name)
                and not (op.job_type == "uninstall" and op.package.name in protected)
            ]
            return int(original(self, kept))

        return wrapper

    _patch("poetry.repositories.repository_pool", "RepositoryPool", "find_packages", find_packages)
    _patch("poetry.repositories.repository_pool", "RepositoryPool", "package", package)
    _patch("poetry.packages.locker", "Locker", "set_lock_data", set_lock_data)
    _patch("poetry.installation.installer", "Installer", "_execute", execute)


def release() -> None:
    """Put Poetry's own methods back (tests that run several commands in one process)."""
    for module, cls, attribute in SEAMS:
        owner, current = _resolve(module, cls, attribute)
        original = getattr(current, "__wrapped__", None)
        if original is not None:
            setattr(owner, attribute, original)
