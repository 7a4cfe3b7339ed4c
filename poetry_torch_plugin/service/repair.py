"""The hook after Poetry commands: reinstall the configured build only when it is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.env.installed import drift
from poetry_torch_plugin.env.installed import exclusive
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.service.settings import Reporter
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import configured_variant
from poetry_torch_plugin.service.verify import verify


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import Listing


def ensure(
    settings: TorchConfig,
    target: TargetEnv,
    reporter: Reporter,
    *,
    quiet: bool = False,
    verbose: bool = False,
    pyproject: Path | None = None,
    dry_run: bool = False,
    lock_only: bool = False,
) -> bool:
    """The hook: reinstall the configured build only when it is missing or wrong.

    ``dry_run``: say in one line what would be reinstalled, and from where; change nothing.
    ``lock_only`` (after ``poetry lock``, ``update --lock``, ...): repair an environment that
    holds a wrong or partial build, but never download the stack into one that has none of it
    (a CI job that only refreshes the lock).

    With ``pyproject`` given and a fresh poetry-torch.lock beside it, "wrong" also means "not
    the locked build", and the lock is what gets reinstalled.  Returns True when it had to
    reinstall.  The installer (``settings.installer``) is looked for only then.
    """
    source, variant = configured_variant(settings)
    if lock_only and not set(settings.package_names) & set(
        installed_distributions(target.site_packages)
    ):  # before the lock is read: a machine-local variant it lacks does not fail `poetry lock`
        reporter.detail(
            f"poetry-torch: no torch build in {target.root}; a lock-only command installs none"
            " (run `poetry install` to get one)"
        )
        return False
    lock = _replayable_lock(pyproject, source, settings, reporter, target)
    problems = _ensure_problems(settings, target, variant, lock)
    if not problems:
        reporter.detail(f"poetry-torch: {', '.join(settings.package_names)} match {variant}")
        return False
    where = f"{source.name}, {redact(source.url)}"
    origin = (
        f"{LOCK_NAME} ({where})" if lock is not None else f"{source.name} ({redact(source.url)})"
    )
    if dry_run:
        reporter.line(
            f"poetry-torch: {problems[0]}; would reinstall {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        return False
    from poetry_torch_plugin.errors import InstallError
    from poetry_torch_plugin.installer.backend import refuse_foreign_builds
    from poetry_torch_plugin.installer.resolve import install_locked
    from poetry_torch_plugin.installer.select import get_backend
    from poetry_torch_plugin.service.pins import install_pins

    house = _wheelhouse(lock, target)  # POETRY_TORCH_WHEELHOUSE: no index at all
    with exclusive(target):
        problems = _ensure_problems(settings, target, variant, lock)
        if not problems:
            return False
        reporter.line(
            f"poetry-torch: {problems[0]}; reinstalling {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        backend = get_backend(settings.installer)
        if lock is not None:
            refuse_foreign_builds(
                {package.name: package.version for package in lock.packages},
                variant,
                source.url,
                kept="the installed build was left as it was",
            )
            access = access_for(settings, source)
            install_locked(
                target,
                lock,
                access,
                backend=backend,
                quiet=quiet,
                verbose=verbose,
                wheelhouse=house,
                listing=_torch_page(access) if backend.name == "uv" and house is None else None,
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
                variant=variant,
            )
        after = verify(settings, target, variant)
    if after:
        # the index served what it should not: say so and fail, rather than reinstall (and
        # succeed) after every Poetry command
        raise InstallError(
            f"after reinstalling from {redact(source.url)}, {after[0].text}. Check that the"
            f" source serves {variant} builds (`poetry torch check`), fix it in pyproject.toml,"
            " then run the command again."
        )
    return True


def _torch_page(access: IndexAccess) -> Listing | None:
    """The index's torch page (whether it offers PEP 658 metadata); None when unreadable,
    and the installer says what is wrong with the index."""
    from poetry_torch_plugin.errors import IndexAccessError
    from poetry_torch_plugin.index.pages import fetch_listing

    try:
        return fetch_listing(access.url, "torch", access=access)
    except IndexAccessError:
        return None


def _replayable_lock(
    pyproject: Path | None,
    source: Source,
    settings: TorchConfig,
    reporter: Reporter,
    target: TargetEnv,
) -> TorchLock | None:
    """The fresh lock to replay; a stale or unreadable one is reported and not used."""
    if pyproject is None:
        return None
    choice = settings.choice
    state = lock_state(pyproject, source, settings)
    if choice is not None and choice.machine_local:
        # a machine-local choice replays its own entry of the lock (service.universal)
        if state.error is not None:
            reporter.detail(f"poetry-torch: variant {choice.line()}; {LOCK_NAME} not replayed")
            return None
        from poetry_torch_plugin.service.lockparts import choice_lock

        return choice_lock(
            state.lock, settings, choice.variant, state.inputs, target, choice.line()
        )
    problem = state.problem()
    if problem is not None:
        reporter.line(f"poetry-torch: {problem}")
        return None
    if state.lock is None or not state.lock.entries:
        return state.lock  # one interpreter's lock: lockparts (and universal) stay unloaded
    from poetry_torch_plugin.service.lockparts import own_part

    return own_part(state.lock, target, reporter.detail)


def _ensure_problems(
    settings: TorchConfig, target: TargetEnv, variant: Variant, lock: TorchLock | None
) -> list[str]:
    problems = [problem.text for problem in verify(settings, target, variant, companions=True)]
    if lock is not None:
        # Only what Poetry never manages: torch's other dependencies (filelock, ...) belong to
        # poetry.lock too, and chasing them would reinstall after every Poetry command.
        installed = installed_distributions(target.site_packages)
        problems += [
            item.text
            for item in drift(lock, installed)
            if item.kind != "unlocked" and settings.held(item.name)
        ]
    return problems


def held_in_lock(settings: TorchConfig, lock_path: Path) -> None:
    """Fail closed: after Poetry wrote poetry.lock, no configured torch package may be in it."""
    from importlib.metadata import version

    from poetry_torch_plugin.core.config import parse_toml
    from poetry_torch_plugin.errors import PoetrySeamError

    try:
        data = parse_toml(lock_path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return  # no lock written (dry run, --lock with nothing to do): nothing to check
    entries = data.get("package", [])
    names = {str(e.get("name", "")) for e in entries if isinstance(e, dict)}
    found = sorted(names & set(settings.package_names))
    if found:
        raise PoetrySeamError(
            f"{lock_path.name} holds {', '.join(found)} although the plugin holds them out"
            f" (Poetry {version('poetry')} is not one this plugin was verified with, or another"
            " plugin wrapped the same methods); nothing was installed. Run `poetry lock` again,"
            " or upgrade poetry-torch-plugin."
        )


def _wheelhouse(lock: TorchLock | None, target: TargetEnv | None = None) -> Path | None:
    """``POETRY_TORCH_WHEELHOUSE``: the hook replays the lock from that folder, no index.
    Set, it must hold wheels and there must be a lock to replay: the user asked for no
    network, so the hook never falls back to the index (ConfigError, nothing installed)."""
    from poetry_torch_plugin.errors import ConfigError
    from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV
    from poetry_torch_plugin.service.wheelhouse import from_env
    from poetry_torch_plugin.service.wheelhouse import holds

    house = from_env()
    if house is not None and lock is not None:
        from poetry_torch_plugin.installer.backend import environment_tag_set

        return holds(house, lock, environment_tag_set(target.python) if target else None)
    if house is not None:
        raise ConfigError(
            f"{WHEELHOUSE_ENV} is set but there is no fresh {LOCK_NAME} for this machine to"
            f" replay from {house} (`poetry torch check` says why); nothing was"
            " installed and no index was read. Run `poetry torch lock` where the index is"
            f" reachable, or unset {WHEELHOUSE_ENV}."
        )
    return house
