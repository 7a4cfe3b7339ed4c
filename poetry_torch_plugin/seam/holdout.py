"""The Poetry objects this plugin wraps to hold the torch family out, and nothing else.

Verified against Poetry 2.0.1 … 2.5.1 (see ``VERIFIED_WITH``); ``check_seams`` stops the command
when Poetry moves any of these, and ``tests/unit/seam/test_holdout.py`` fails loudly.

Everything is bound to the running command's own objects, never to Poetry's classes, so that
isolated builds (an sdist whose build-system requires torch) and ``poetry self …`` behave
exactly as without the plugin.  What is wrapped, and why:

- the command's ``Locker``: ``locked_repository()`` and ``locked_packages()`` leave held names
  out (a poetry.lock written by plain Poetry may still hold torch) and ``locked_repository()``
  adds the stand-ins, so that the throw-away pools Poetry builds from the lock
  (``RepositoryPool.from_packages``: re-resolve on install, ``poetry show``) see the configured
  build; ``set_lock_data()`` drops held packages before poetry.lock is written.
- the solver's pool: a shallow copy of the project's pool, given to the command's Installer
  only (its executor keeps the original, which isolated builds reuse), whose
  ``find_packages``/``package`` answer a held name with the stand-in alone: the configured
  build, carrying that build's own dependencies minus the held family.
- the project's own declarations of held packages, in memory for this command: no source, no
  build label (``_relax_root``), so a declaration Poetry's docs recommend keeps resolving.
- the command's ``Installer._execute``: operations on held packages are dropped, and so are
  removals (``poetry sync``) of what the installed torch family itself requires.
- the root package the command's Installer solves with (``Installer._package``, also after
  ``set_package``): a copy whose main group also requires each configured package the project
  does not declare, at the stand-in's exact version (``_with_held``), so that the build's own
  pins bind poetry.lock when torch is not declared.  ``poetry.package`` itself is left alone:
  the project's editable install and ``poetry build`` never gain ``Requires-Dist: torch``, and
  ``set_lock_data`` drops the held packages from poetry.lock as before.
"""

from __future__ import annotations

import copy
import inspect
import re

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import PoetrySeamError
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from pathlib import Path

    from poetry.core.packages.dependency import Dependency
    from poetry.core.packages.package import Package

VERIFIED_WITH = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3", "2.5.1")

# (module, class, attribute) -> the leading parameter names the wrappers rely on.
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
    ("poetry.packages.locker", "Locker", "locked_repository"): ("self",),
    ("poetry.installation.installer", "Installer", "_execute"): ("self", "operations"),
    ("poetry.installation.installer", "Installer", "set_package"): ("self", "package"),
    # ``_with_held`` replaces ``Installer._package``, which __init__ sets from ``package``.
    ("poetry.installation.installer", "Installer", "__init__"): (
        "self",
        "io",
        "env",
        "package",
    ),
}


class HoldOut:
    """What to hold out of Poetry, and what to show its solver instead.

    ``held(name)`` says whether a canonical name belongs to the torch family;
    ``provide(name)`` gives the (version, Requires-Dist lines) the solver should see for it,
    or None; ``protected()`` lists installed names that ``poetry sync`` must not remove.
    """

    def __init__(
        self,
        held: Callable[[str], bool],
        provide: Callable[[str], tuple[str, Sequence[str]] | None],
        protected: Callable[[], frozenset[str]],
        shown: Sequence[str] = (),
        suggest: Callable[[str, str], str] | None = None,
    ) -> None:
        self.held = held
        self._provide = provide
        self._protected = protected
        self.shown = tuple(shown)
        # (name, Poetry constraint) -> the install command(s) that would satisfy it, or ""
        self._suggest = suggest or _plain_advice
        self._packages: dict[str, Package | None] = {}
        # what the solver asked for and the stand-in could not give: (name, constraint) -> version
        self.refused: dict[tuple[str, str], str] = {}
        self.command = ""  # the Poetry command this hold-out serves (``lock``, ``install``)

    def package(self, name: str) -> Package | None:
        if name not in self._packages:
            try:
                provided = self._provide(name)
            except TorchPluginError as exc:
                raise _solver_stop(exc.what, self.command or "lock") from None
            self._packages[name] = self._stand_in(name, *provided) if provided else None
        return self._packages[name]

    def _stand_in(self, name: str, version: str, requires: Sequence[str]) -> Package:
        from poetry.core.packages.package import Package

        package = Package(name, version)
        extras: dict[str, list[Dependency]] = {}
        for line in requires:
            try:
                dependency = _dependency(line, self.held)
            except ValueError:
                continue  # Poetry could not read it either; torch's metadata is well-formed
            if dependency is None:
                continue
            for extra in dependency.in_extras:
                extras.setdefault(str(extra), []).append(dependency)
            package.add_dependency(dependency)
        if extras:
            package.extras = extras  # type: ignore[assignment]
        return package

    def protected(self) -> frozenset[str]:
        return self._protected()

    def conflict(self) -> str | None:
        """One line for a failed solve that asked for a torch the configured build is not."""
        if not self.refused:
            return None
        (name, constraint), version = next(iter(self.refused.items()))
        command = self._suggest(name, constraint)
        return (
            f"a dependency requires {name} ({constraint}), but the configured build is"
            f" {version}; nothing was locked or installed. Relax that requirement"
            + (f", or install a build it accepts: {command}." if command else ".")
        )


def _dependency(line: str, held: Callable[[str], bool]) -> Dependency | None:
    """``Dependency.create_from_pep_508(line)`` for a Requires-Dist line naming no URL, built
    from packaging's reading of it: poetry-core reads PEP 508 with a lark grammar that costs
    ~60 ms to build, which a no-op ``poetry install`` otherwise never builds (poetry.lock holds
    constraints and markers, not requirement strings).  The marker goes through poetry-core's
    own marker parser and the ``marker`` setter, as ``create_from_pep_508`` does (extras,
    Python versions); a line naming a URL, or one packaging cannot read, is Poetry's to read.
    None for a line naming a ``held`` package (most of a CUDA build's), its marker unparsed."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement
    from poetry.core.constraints.version import parse_constraint
    from poetry.core.packages.dependency import Dependency
    from poetry.core.version.markers import parse_marker

    try:
        requirement: Requirement | None = Requirement(line)
    except InvalidRequirement:
        requirement = None
    if requirement is None or requirement.url:
        dependency = Dependency.create_from_pep_508(line)
        return None if held(dependency.name) else dependency
    if held(requirement.name):
        return None
    specifier = str(requirement.specifier)
    # the parsed constraint, as Poetry passes it: its messages then say "sharedep (1.0.0)"
    constraint = parse_constraint(specifier) if specifier else "*"
    dependency = Dependency(requirement.name, constraint, extras=requirement.extras)
    if requirement.marker is not None:
        dependency.marker = parse_marker(str(requirement.marker))
    return dependency


def _plain_advice(name: str, constraint: str) -> str:
    from poetry_torch_plugin.core.config import install_advice

    return install_advice(name, constraint)


def _solver_stop(what: str, command: str) -> Exception:
    """An index error met inside Poetry's solver (the PyTorch source down, a 404, a login
    refused), as one prefixed line that names the command to rerun, not ``poetry torch install``
    (issue 12, item 24): ``what`` went wrong is the error's own field."""
    from cleo.exceptions import CleoUserError

    what = what.rstrip(".")
    return CleoUserError(
        f"poetry-torch: {what}, so Poetry's solver could not read the configured torch build;"
        f" `poetry {command}` stopped before changing poetry.lock or the environment. Check"
        f" the source with `poetry torch check` (or the network), then run `poetry {command}`"
        " again."
    )


def _resolve(module: str, cls: str, attribute: str) -> Any:
    import importlib

    try:
        return getattr(getattr(importlib.import_module(module), cls), attribute)
    except (ImportError, AttributeError):
        raise PoetrySeamError(
            f"poetry-torch-plugin cannot find {module}.{cls}.{attribute} in this Poetry (verified"
            f" with {', '.join(VERIFIED_WITH)})",
            kept="the command was stopped before anything was locked or installed, so torch is"
            " not put into poetry.lock",
            next="Upgrade poetry-torch-plugin, or run with --no-plugins.",
        ) from None


def check_seams() -> None:
    """Raise PoetrySeamError when a wrapped method is missing or its signature moved."""
    for (module, cls, attribute), expected in SEAMS.items():
        function = _resolve(module, cls, attribute)
        names = tuple(inspect.signature(function).parameters)[: len(expected)]
        if names != expected:
            raise PoetrySeamError(
                f"poetry-torch-plugin: {cls}.{attribute}{names} no longer has the parameters"
                f" {expected} it was verified with (Poetry {', '.join(VERIFIED_WITH)})",
                kept="the command was stopped before anything was locked or installed",
                next="Upgrade poetry-torch-plugin, or run with --no-plugins.",
            )


def _wrap_pool(pool: Any, hold: HoldOut) -> Any:
    """A shallow copy of ``pool`` whose lookups answer held names with the stand-in only."""
    from poetry.repositories.exceptions import PackageNotFoundError

    proxy = copy.copy(pool)
    find_packages, package = pool.find_packages, pool.package

    def find_packages_held(dependency: Any) -> list[Package]:
        if not hold.held(dependency.name):
            return list(find_packages(dependency))
        provided = hold.package(dependency.name)
        if provided is None:
            return []
        if not dependency.constraint.allows(provided.version):
            if not _ruled_out(dependency.constraint, provided.version):
                refused = (dependency.name, dependency.pretty_constraint)
                hold.refused[refused] = provided.pretty_version
            return []
        return [provided]

    def package_held(name: str, version: Any, *args: Any, **kwargs: Any) -> Package:
        if not hold.held(name):
            return package(name, version, *args, **kwargs)  # type: ignore[no-any-return]
        provided = hold.package(name)
        if provided is None or provided.version != version:
            raise PackageNotFoundError(f"Package {name} ({version}) not found.")
        return provided

    proxy.find_packages = find_packages_held
    proxy.package = package_held
    return proxy


def _ruled_out(constraint: Any, version: Any) -> bool:
    """Whether ``constraint`` refuses ``version`` only because Poetry's solver already tried
    that very build and ruled it out for another reason (``>=2.0,!=2.11.0+cu130``: a range with
    a hole at the stand-in's version, which adding the version back closes).  The conflict is
    then not about the torch version (a dependency of the build excludes part of the project's
    Python range, say), and Poetry's own explanation is the one to show (issue 23, item 3)."""
    return len(constraint.union(version).flatten()) < len(constraint.flatten())


def _wrap_locker(locker: Any, hold: HoldOut) -> None:
    locked_repository, set_lock_data = locker.locked_repository, locker.set_lock_data
    locked_packages = getattr(locker, "locked_packages", None)

    def locked_repository_held() -> Any:
        from poetry.repositories.lockfile_repository import LockfileRepository

        repository = LockfileRepository()
        for package in locked_repository().packages:
            if not hold.held(package.name):
                repository.add_package(package)
        for name in hold.shown:
            stand_in = hold.package(name)
            if stand_in is not None and not repository.has_package(stand_in):
                repository.add_package(stand_in)
        return repository

    def locked_packages_held() -> Any:
        assert locked_packages is not None
        found = locked_packages()
        return type(found)((pkg, info) for pkg, info in found.items() if not hold.held(pkg.name))

    def set_lock_data_held(root: Any, packages: dict[Any, Any]) -> bool:
        kept = {pkg: info for pkg, info in packages.items() if not hold.held(pkg.name)}
        return bool(set_lock_data(root, kept))

    locker.locked_repository = locked_repository_held
    locker.set_lock_data = set_lock_data_held
    if locked_packages is not None:
        locker.locked_packages = locked_packages_held


def _wrap_installer(installer: Any, hold: HoldOut) -> None:
    execute = installer._execute

    def execute_held(operations: list[Any]) -> int:
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
        return int(execute(kept))

    installer._execute = execute_held


# (a pattern as text: re compiles it on first use, not when the hook's modules load)
_LOCAL_LABEL = r"\+[0-9A-Za-z.]+"


def _declared(package: Any) -> list[Any]:
    """Every Dependency object of the project, also the two lists a group merges on each read
    in poetry-core 2.x (PEP 621 ``[project]`` entries and their ``[tool.poetry]`` enrichment),
    so that what ``all_requires`` builds afresh is built from the relaxed ones."""
    found = list(package.all_requires)
    for group in getattr(package, "_dependency_groups", {}).values():
        found += getattr(group, "_dependencies", [])
        found += getattr(group, "_poetry_dependencies", [])
    return found


def _relax_root(package: Any, hold: HoldOut) -> None:
    """The project's own declarations of held packages, as this command's solver reads them:
    no source (the stand-in answers for every source, and the throw-away pools Poetry builds
    from the lock know none of them) and no build label (``^2.4.0+cu124`` or ``2.8.0+cpu``
    mean that release, whichever variant is configured).  pyproject.toml is not touched, and
    poetry.lock's content-hash is computed from the file, not from these objects."""
    for dependency in _declared(package):
        if not hold.held(dependency.name):
            continue
        dependency.source_name = None
        text = str(dependency.constraint)
        stripped = re.sub(_LOCAL_LABEL, "", text)
        if stripped != text:
            dependency.constraint = stripped


def _held_requirements(root: Any, hold: HoldOut) -> Callable[[], list[Any]]:
    """The configured packages ``root`` does not declare (in any group), as requirements at
    the stand-in's exact version; computed on first use (inside the solve), a name without a
    stand-in left out, as if the project had declared it."""
    from poetry.core.packages.dependency import Dependency

    declared = {dependency.name for dependency in root.all_requires}
    found: list[Any] = []
    done = False

    def requirements() -> list[Any]:
        nonlocal done
        if not done:
            for name in hold.shown:
                if name in declared:
                    continue
                stand_in = hold.package(name)
                if stand_in is not None:
                    found.append(Dependency(name, f"=={stand_in.version.text}"))
            done = True
        return list(found)

    return requirements


def _with_held(root: Any, hold: HoldOut) -> Any:
    """A copy of the project package whose main group also requires the held family (see
    ``_held_requirements``); ``root`` and its groups are not changed."""
    from poetry.core.packages.dependency_group import MAIN_GROUP
    from poetry.core.packages.dependency_group import DependencyGroup

    extra = _held_requirements(root, hold)
    main = (
        root.dependency_group(MAIN_GROUP)
        if root.has_dependency_group(MAIN_GROUP)
        else DependencyGroup(MAIN_GROUP)
    )
    base: type[Any] = type(main)

    class HeldGroup(base):  # type: ignore[misc]
        """The main group, plus the held requirements (what the solver and the locker read)."""

        @property
        def dependencies(self) -> list[Any]:
            return [*super().dependencies, *extra()]

        @property
        def dependencies_for_locking(self) -> list[Any]:
            return [*super().dependencies_for_locking, *extra()]

    group = copy.copy(main)
    group.__class__ = HeldGroup
    package = root.clone()
    package.add_dependency_group(group)  # a new dict of groups: root's own is untouched
    return package


def _require_held(installer: Any, hold: HoldOut) -> None:
    """The Installer solves with ``_with_held(package)``, also after ``set_package`` (``poetry
    add`` and ``remove`` hand it the edited project)."""
    set_package = installer.set_package

    def set_package_held(package: Any) -> Any:
        set_package(_with_held(package, hold))
        return installer

    installer._package = _with_held(installer._package, hold)
    installer.set_package = set_package_held


def bind(poetry: Any, installer: Any | None, hold: HoldOut) -> None:
    """Hold the torch family out of this command's Poetry objects (not Poetry's classes).

    With an ``installer`` (lock, install, update, add, remove, sync) its solver gets the
    wrapped pool; without one (show, debug resolve) the project's pool itself is wrapped,
    since nothing there installs.
    """
    check_seams()
    _relax_root(poetry.package, hold)
    _wrap_locker(poetry.locker, hold)
    if installer is None:
        proxy = _wrap_pool(poetry.pool, hold)
        poetry.pool.find_packages, poetry.pool.package = proxy.find_packages, proxy.package
        return
    installer._pool = _wrap_pool(installer._pool, hold)
    _wrap_installer(installer, hold)
    _require_held(installer, hold)


# --- refreshing poetry.lock through Poetry's own Installer -------------------------------------
# Refresh poetry.lock through Poetry's own Installer, as ``poetry lock`` does.
#
# ``poetry torch install`` edits the ``[[tool.poetry.source]]`` table, which is part of
# poetry.lock's content-hash, so a stale lock would make the next ``poetry install`` refuse to run.
# Never by hand-editing the hash: a fresh Poetry object reads the new pyproject.toml, the hold-out
# is bound to it, and ``Installer.lock(update=False)`` keeps every locked version.
# Checked against Poetry 2.0.1 and 2.5.1 (``build_constraints`` exists from 2.3).
def refresh_lock(project_dir: Path, bind: Callable[[Any, Any], None]) -> bool:
    """Rewrite a stale poetry.lock with the same locked versions; True when it was rewritten.

    ``bind(poetry, installer)`` applies the hold-out to the objects used.  Raises RuntimeError
    with Poetry's one-line reason when Poetry cannot lock.
    """
    from cleo.io.buffered_io import BufferedIO
    from poetry.factory import Factory
    from poetry.installation.installer import Installer
    from poetry.repositories.installed_repository import InstalledRepository
    from poetry.utils.env import EnvManager

    io = BufferedIO()
    poetry = Factory().create_poetry(project_dir, io=io)
    if not poetry.locker.is_locked() or poetry.locker.is_fresh():
        return False
    env = EnvManager(poetry, io=io).get()
    extra: dict[str, Any] = {}
    if "build_constraints" in inspect.signature(Installer).parameters:
        extra["build_constraints"] = getattr(poetry, "build_constraints", None)
    installer = Installer(
        io,
        env,
        poetry.package,
        poetry.locker,
        poetry.pool,
        poetry.config,
        InstalledRepository(),
        disable_cache=poetry.disable_cache,
        **extra,
    )
    bind(poetry, installer)
    installer.lock(update=False)
    try:
        code = installer.run()
    except Exception as exc:  # Poetry's solver errors have no common base class
        reason = str(exc).strip().splitlines()
        raise RuntimeError(reason[-1] if reason else type(exc).__name__) from None
    if code != 0:
        output = (io.fetch_error() or io.fetch_output()).strip().splitlines()
        raise RuntimeError(output[-1] if output else f"poetry lock exited with {code}")
    return True
