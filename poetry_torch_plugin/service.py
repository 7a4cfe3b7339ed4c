"""Orchestration: plan and run ``poetry torch install``, verify and repair after Poetry commands.

Data flows one way: command -> service -> (config, edits, index, environment, installers).
"""

from __future__ import annotations

import contextlib
import os

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin import config
from poetry_torch_plugin import torchlock
from poetry_torch_plugin.config import Source
from poetry_torch_plugin.environment import installed_distributions
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Sequence
    from pathlib import Path

    from poetry_torch_plugin.access import IndexAccess
    from poetry_torch_plugin.config import PyProject
    from poetry_torch_plugin.config import TorchConfig
    from poetry_torch_plugin.edits import EditResult
    from poetry_torch_plugin.environment import TargetEnv
    from poetry_torch_plugin.installers import Backend
    from poetry_torch_plugin.installers import Request
    from poetry_torch_plugin.variants import Variant

SKIP_ENV = "POETRY_TORCH_SKIP"
# Packages whose builds differ per variant (their version or version.py names it).
_VARIANT_BUILDS = frozenset({"torch", "torchvision", "torchaudio"})


class Reporter(Protocol):
    """Where the service's few lines of output go (the command's IO, in practice)."""

    def line(self, text: str) -> None: ...

    def detail(self, text: str) -> None: ...


@dataclass(frozen=True)
class InstallPlan:
    pyproject: PyProject
    variant: Variant
    source: Source
    settings: TorchConfig
    edit: EditResult

    @property
    def index_url(self) -> str:
        return self.source.url


def _no_source_error() -> ConfigError:
    return ConfigError(
        "pyproject.toml has no pytorch source; nothing was changed."
        " Run `poetry torch install --cuda X.Y` (or --cpu, --rocm X.Y, --cuda auto) to add one."
    )


def plan_install(
    path: Path,
    *,
    variant: Variant | None,
    requested: Sequence[str] = (),
    index_base: str | None = None,
) -> InstallPlan:
    """Read pyproject.toml and compute, in memory, every change ``torch install`` would make."""
    from poetry_torch_plugin import index
    from poetry_torch_plugin.edits import apply_install_edits

    pyproject = config.load(path)
    current = config.read_config(pyproject.document)
    requested_reqs = config.parse_requirements(requested, where="command line", require_torch=False)
    if variant is None:
        existing, variant = _existing_source(current)
        url = (index_base and index.source_url(index_base, variant)) or existing.url
        source = Source(existing.name, url, "explicit")
    else:
        same = [s for s in current.sources if s.variant == variant]
        if index_base or not same:
            url = index.source_url(config.effective_index_base(current, index_base), variant)
        else:
            url = same[0].url
        source = Source(variant.source_name, url, "explicit")
    edit = apply_install_edits(
        pyproject.document,
        source=source,
        configured=current.packages,
        requested=requested_reqs,
        original_text=pyproject.original.decode("utf-8"),
    )
    import tomlkit

    updated = config.read_config(tomlkit.parse(edit.text))
    return InstallPlan(pyproject, variant, source, updated, edit)


def execute_install(
    plan: InstallPlan,
    target: TargetEnv,
    backend: Backend,
    *,
    quiet: bool = False,
    verbose: bool = False,
    upgrade: bool = False,
) -> tuple[str, ...]:
    """Install the plan's packages, then (only then) write pyproject.toml and the lock.

    A fresh poetry-torch.lock is replayed (unless ``upgrade``); otherwise the packages are
    resolved afresh into a new lock, and that lock is what gets installed.  Anything that fails
    before the last step leaves pyproject.toml and the lock byte-identical and the earlier build
    installed.  Returns the pins that were passed to the installer.
    """
    from poetry_torch_plugin import index
    from poetry_torch_plugin import lockresolve

    access = access_for(plan.settings, plan.source)
    probe = index.fetch_listing(access.url, "torch", access=access)
    state = torchlock.lock_state(plan.pyproject.path, plan.source, plan.settings)
    with environment_lock(target):
        if state.fresh and state.lock is not None and not upgrade:
            lock = state.lock
        else:
            lock = lockresolve.resolve(
                backend,
                target,
                access,
                state.inputs,
                plan.settings.packages,
                verbose=verbose,
                known={"torch": probe},
            )
        installed = lockresolve.install_locked(
            target, lock, access, backend=backend, quiet=quiet, verbose=verbose
        )
    problems = verify(plan.settings, target, plan.variant)
    if problems:
        raise InstallError(
            f"after installing from {index.redact(plan.index_url)}, {problems[0].text};"
            " pyproject.toml was not changed. Check that the index really serves"
            f" {plan.variant} builds (`poetry torch check`)."
        )
    if plan.edit.changed:
        config.write_atomic(plan.pyproject, plan.edit.text)
    if lock is not state.lock:
        torchlock.write_lock(state.path, lock)
    return installed


def access_for(settings: TorchConfig, source: Source) -> IndexAccess:
    """How to reach the source's index (login, certificates); refuses remote plain http."""
    from poetry_torch_plugin.access import resolve_access

    return resolve_access(source.name, source.url, allow_http=settings.allow_http)


def request_for(
    access: IndexAccess, requirements: Sequence[str], *, quiet: bool = False, verbose: bool = False
) -> Request:
    from poetry_torch_plugin.installers import Request

    return Request.for_access(access, requirements, quiet=quiet, verbose=verbose)


@dataclass(frozen=True)
class Problem:
    name: str
    text: str


def verify(settings: TorchConfig, target: TargetEnv, variant: Variant) -> list[Problem]:
    """Every way the environment differs from the configuration (empty when all is right)."""
    installed = installed_distributions(target.site_packages)
    problems: list[Problem] = []
    for requirement in settings.requirements:
        name = canonicalize_name(requirement.name)
        dist = installed.get(name)
        if dist is None:
            problems.append(Problem(name, f"{name} is not installed"))
            continue
        if not dist.is_complete():
            problems.append(Problem(name, f"{name} {dist.version} is half-installed"))
            continue
        try:
            version = Version(dist.version)
        except InvalidVersion:
            problems.append(Problem(name, f"{name} has an unreadable version {dist.version!r}"))
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(Problem(name, f"{name} {dist.version} does not satisfy {requirement}"))
            continue
        found = dist.variant()
        if found is not None and found != variant and name in _VARIANT_BUILDS:
            problems.append(
                Problem(name, f"{name} {dist.build_version()} is a {found} build, not {variant}")
            )
    return problems


def _existing_source(settings: TorchConfig) -> tuple[Source, Variant]:
    """The one pytorch source and its variant; ConfigError when there is none or several."""
    source = settings.source()
    if source is None:
        raise _no_source_error()
    variant = source.variant
    if variant is None:
        from poetry_torch_plugin.index import redact

        raise ConfigError(
            f"the source {source.name} ({redact(source.url)}) names no PyTorch variant;"
            " nothing was changed. Run `poetry torch install --cuda X.Y` to replace it."
        )
    return source, variant


def configured_variant(settings: TorchConfig) -> tuple[Source, Variant]:
    """The configured source and variant, for the hook: the source must also be explicit."""
    source, variant = _existing_source(settings)
    if source.priority != "explicit":
        raise ConfigError(
            f"the source {source.name} has priority {source.priority or 'primary'!r}, so Poetry"
            " would take other packages from the PyTorch index; nothing was reinstalled."
            " Run `poetry torch install` to make it explicit."
        )
    return source, variant


@contextlib.contextmanager
def environment_lock(target: TargetEnv) -> Iterator[None]:
    """Serialize reinstalls of one environment across concurrent Poetry processes."""
    from filelock import FileLock
    from filelock import Timeout

    lock_path = target.root / ".poetry-torch.lock"
    try:
        lock = FileLock(str(lock_path), timeout=900)
        with lock:
            yield
    except (PermissionError, OSError) as exc:
        if isinstance(exc, Timeout):
            raise
        # A read-only environment cannot hold a lock file; the install will say why it failed.
        yield


def install_pins(
    backend: Backend,
    target: TargetEnv,
    access: IndexAccess,
    settings_requirements: Sequence[str],
    names: Sequence[str],
    *,
    quiet: bool,
    verbose: bool,
) -> tuple[str, ...]:
    """Install ``settings_requirements`` from the index in one transaction.

    When part of the family is already installed, pip would keep a build that merely satisfies
    the version range (a +cu129 torch satisfies ``torch==2.8.0`` for a cu128 install), so the
    exact versions are resolved from the index first and pinned.
    """
    from poetry_torch_plugin.installers import pins_of

    request = request_for(access, settings_requirements, quiet=quiet, verbose=verbose)
    installed = installed_distributions(target.site_packages)
    if any(name in installed for name in names):
        pins = pins_of(backend.report(target, request))
        pinned = tuple(f"{name}=={pins[name]}" for name in names if name in pins)
        request = request_for(access, pinned, quiet=quiet, verbose=verbose)
    backend.install(target, request)
    return request.requirements


def ensure(
    settings: TorchConfig,
    target: TargetEnv,
    reporter: Reporter,
    *,
    quiet: bool = False,
    verbose: bool = False,
    pyproject: Path | None = None,
) -> bool:
    """The hook: reinstall the configured build only when it is missing or wrong.

    With ``pyproject`` given and a fresh poetry-torch.lock beside it, "wrong" also means "not
    the locked build", and the lock is what gets reinstalled.  Returns True when it had to
    reinstall.  The installer (``settings.installer``) is looked for only then.
    """
    source, variant = configured_variant(settings)
    lock = _replayable_lock(pyproject, source, settings, reporter)
    problems = _ensure_problems(settings, target, variant, lock)
    if not problems:
        reporter.detail(f"poetry-torch: {', '.join(settings.package_names)} match {variant}")
        return False
    from poetry_torch_plugin import lockresolve
    from poetry_torch_plugin.installers import get_backend

    with environment_lock(target):
        problems = _ensure_problems(settings, target, variant, lock)
        if not problems:
            return False
        origin = torchlock.LOCK_NAME if lock is not None else source.name
        reporter.line(
            f"poetry-torch: {problems[0]}; reinstalling {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        backend = get_backend(settings.installer)
        if lock is not None:
            lockresolve.install_locked(
                target,
                lock,
                access_for(settings, source),
                backend=backend,
                quiet=quiet,
                verbose=verbose,
            )
        else:
            install_pins(
                backend,
                target,
                access_for(settings, source),
                settings.packages,
                settings.package_names,
                quiet=quiet,
                verbose=verbose,
            )
    return True


# --- poetry-torch.lock in the hook ------------------------------------------------------------


def _replayable_lock(
    pyproject: Path | None, source: Source, settings: TorchConfig, reporter: Reporter
) -> torchlock.TorchLock | None:
    """The fresh lock to replay; a stale or unreadable one is reported and not used."""
    if pyproject is None:
        return None
    state = torchlock.lock_state(pyproject, source, settings)
    problem = state.problem()
    if problem is not None:
        reporter.line(f"poetry-torch: {problem}")
        return None
    return state.lock


def _ensure_problems(
    settings: TorchConfig, target: TargetEnv, variant: Variant, lock: torchlock.TorchLock | None
) -> list[str]:
    problems = [problem.text for problem in verify(settings, target, variant)]
    if lock is not None:
        # Only what Poetry never manages: torch's other dependencies (filelock, ...) belong to
        # poetry.lock too, and chasing them would reinstall after every Poetry command.
        installed = installed_distributions(target.site_packages)
        problems += [
            item.text
            for item in torchlock.drift(lock, installed)
            if item.kind != "unlocked" and settings.held(item.name)
        ]
    return problems


def skip_requested() -> bool:
    return os.environ.get(SKIP_ENV, "") not in ("", "0")
