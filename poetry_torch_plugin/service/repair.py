"""The hook after Poetry commands: reinstall the configured build only when it is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.env.drift import drift
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.env.mutex import exclusive
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.service.install import install_pins
from poetry_torch_plugin.service.settings import Reporter
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import configured_variant
from poetry_torch_plugin.service.verify import verify


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv


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
    from poetry_torch_plugin.install.resolve import install_locked
    from poetry_torch_plugin.install.select import get_backend

    with exclusive(target):
        problems = _ensure_problems(settings, target, variant, lock)
        if not problems:
            return False
        origin = LOCK_NAME if lock is not None else source.name
        reporter.line(
            f"poetry-torch: {problems[0]}; reinstalling {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        backend = get_backend(settings.installer)
        if lock is not None:
            install_locked(
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


def _replayable_lock(
    pyproject: Path | None, source: Source, settings: TorchConfig, reporter: Reporter
) -> TorchLock | None:
    """The fresh lock to replay; a stale or unreadable one is reported and not used."""
    if pyproject is None:
        return None
    state = lock_state(pyproject, source, settings)
    problem = state.problem()
    if problem is not None:
        reporter.line(f"poetry-torch: {problem}")
        return None
    return state.lock


def _ensure_problems(
    settings: TorchConfig, target: TargetEnv, variant: Variant, lock: TorchLock | None
) -> list[str]:
    problems = [problem.text for problem in verify(settings, target, variant)]
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
