"""Which part of the universal poetry-torch.lock a machine installs, and whether the lock
holds what the targets ask for (``poetry torch lock --check``, ``export``, ``wheelhouse --all``).

``service.universal`` writes the entries; this module only reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.service.universal import _inputs
from poetry_torch_plugin.service.universal import host_of
from poetry_torch_plugin.service.universal import targets_text
from poetry_torch_plugin.service.universal import universal


if TYPE_CHECKING:
    from collections.abc import Callable

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv


def _machine(
    target: TargetEnv, note: Callable[[str], None] | None = None
) -> tuple[str | None, str]:
    """(platform key, Python ``3.12``) of the environment's interpreter, read from its files
    (pyvenv.cfg, the executable's header) where they tell, else by starting it."""
    from poetry_torch_plugin.core.lockfile import platform_of
    from poetry_torch_plugin.env.interpreter import interpreter_of

    found = interpreter_of(target.root, target.python, note)
    if found is None:
        return None, ""
    return platform_of(found.sys_platform, found.platform_machine), found.python_version


def own_part(
    lock: TorchLock, target: TargetEnv, note: Callable[[str], None] | None = None
) -> TorchLock:
    """The part of a fresh lock this environment installs for the committed variant: the first
    part is one interpreter's closure, so another Python or platform gets its entry, if held."""
    if not lock.entries:
        return lock
    here = _machine(target, note)
    if here[0] is None or here == host_of(lock):
        return lock
    for entry in lock.entries:
        same = entry.lock.content_hash == lock.content_hash
        if same and (entry.variant, entry.platform, entry.python) == (_committed(lock), *here):
            return entry.lock
    return lock


def choice_lock(
    lock: TorchLock | None,
    settings: TorchConfig,
    variant: Variant,
    inputs: LockInputs,
    target: TargetEnv,
    why: str,
) -> TorchLock | None:
    """The entry of ``lock`` this machine installs for a variant that is not the committed
    one (None: there is no lock, so the packages are resolved afresh).  ConfigError in one line
    when the lock holds no such entry, or a stale one: ``why`` says what chose the variant."""
    if lock is None:
        return None
    platform, python = _machine(target)
    found, problem, command = entry_for(lock, settings, variant, inputs, platform, python)
    if found is not None:
        return found
    raise ConfigError(
        f"{problem} (this machine's variant is {why}); nothing was installed and the files"
        f" were left as they were. Run `{command}` to lock it, then run the command again."
    )


def entry_for(
    lock: TorchLock,
    settings: TorchConfig,
    variant: Variant,
    inputs: LockInputs,
    platform: str | None,
    python: str,
) -> tuple[TorchLock | None, str, str]:
    """(the fresh entry of ``variant`` for ``platform`` and ``python``, or None; why not; the
    command that locks it)."""
    name = variant.index_name
    stale = False
    for entry in lock.entries:
        if (entry.variant, entry.platform, entry.python) != (name, platform, python):
            continue
        if entry.lock.fresh_for(inputs):
            return entry.lock, "", ""
        stale = True
    # (``settings`` holds the chosen source: what the lock commits to is its first part's)
    asked = any(
        (want.variant, want.platform) == (name, platform)
        for want in wanted(settings.targets, _committed(lock), platform, lock.added)
    )
    # the targets ask for it (the lock is older than they are), or only this machine does
    command = "poetry torch lock" if asked or stale else f"poetry torch lock --add-variant {name}"
    where = f"for {platform or 'this platform'}, Python {python}"
    if stale:
        stale_line = (
            f"{LOCK_NAME}'s {name} entry {where} is stale (locked before pyproject.toml changed)"
        )
        return None, stale_line, command
    locked = sorted({e.variant for e in lock.entries} | {_committed(lock)})
    return None, f"{LOCK_NAME} holds no {name} build {where} (it has {', '.join(locked)})", command


def _committed(lock: TorchLock) -> str:
    from poetry_torch_plugin.core.variants import from_url

    found = from_url(lock.inputs.source_url)
    return found.index_name if found is not None else lock.inputs.source_name


def universal_problem(settings: TorchConfig, lock: TorchLock) -> str | None:
    """Why a fresh lock does not hold what the targets ask for (``poetry torch lock --check``);
    None when it does.  Offline: the Pythons are those the lock found published."""
    if not universal(settings, lock, ()) and not lock.targets and not lock.entries:
        return None  # (targets removed from pyproject.toml: the lock still holds them)
    rerun = "run `poetry torch lock` to lock them."
    if targets_text(settings) != lock.targets:
        return f"{LOCK_NAME} was written for other targets than pyproject.toml lists; {rerun}"
    source = settings.source()
    if source is None or source.variant is None:
        return None
    host, _ = host_of(lock)
    held = {(e.variant, e.platform) for e in lock.entries} | {(source.variant.index_name, host)}
    requires_python = lock.inputs.requires_python
    for want in wanted(settings.targets, source.variant.index_name, host, lock.added):
        if (want.variant, want.platform) not in held:
            return f"{LOCK_NAME} holds no {want.variant} build for {want.platform}; {rerun}"
    for entry in lock.entries:
        if not entry.lock.fresh_for(_inputs(settings, entry.variant, requires_python)):
            return f"{LOCK_NAME}'s entry {entry.where} is stale; {rerun}"
    return None


def every_part(settings: TorchConfig, lock: TorchLock, untouched: str) -> list[TorchLock]:
    """The first part and every entry, each fresh for its own index (``wheelhouse --all``)."""
    problem = universal_problem(settings, lock)
    if problem is not None:
        raise ConfigError(f"{problem} {untouched}")
    return [lock, *(entry.lock for entry in lock.entries)]
