"""The ``Plan`` of one run, and which part of poetry-torch.lock this machine replays
(``machine_part``: the one answer that ``poetry torch install``, its dry run, the hook, the
wheelhouse, ``check`` and the hold-out ask).  ``service.apply`` carries a plan out.

A fresh lock's first part is one interpreter's closure for the committed variant; its
``[[entry]]`` tables hold the other variants, platforms and Pythons (``service.lock``
writes them).  The committed variant on another Python or platform replays its entry when the
lock holds one, else the first part; a machine-local choice (``POETRY_TORCH_VARIANT``,
poetry.toml, a targets entry, auto) replays its own entry and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import key_of
from poetry_torch_plugin.core.lockfile import platform_of
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.core.variants import from_url
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.fit import Fit
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.project.edits import EditResult
    from poetry_torch_plugin.project.edits import PyProject
    from poetry_torch_plugin.project.lockstate import LockState


LOCKED = "lock"
INDEX = "index"
FACTS = "facts"


@record
class MachineVerdict:
    """Which build this machine gets and whether it runs it, judged for the exact torch
    release that will be installed: the one poetry-torch.lock pins when it is fresh
    (``by`` "lock"), else the newest the index publishes that the project admits ("index"),
    else the facts' guess when the index could not be read ("facts", ``note`` says why).
    ``service.choose.judge_build`` makes it; install, its dry run, the hook and ``check``
    read it."""

    variant: Variant
    torch: str | None  # the exact release judged (2.8.0); None: the facts' newest
    by: str  # LOCKED, INDEX or FACTS
    reason: str = ""  # auto: why this build (one clause)
    dropped: tuple[str, ...] = ()  # auto: candidates the index ruled out, "cu130: <why>"
    note: str | None = None  # the index could not be read: what was wrong, and that facts decided
    fit: Fit | None = None  # an explicit variant: the refusal or the notes (None: auto)

    @property
    def summary(self) -> str:
        """``cu129 runs here`` or what stands against it (one clause)."""
        fit = self.fit
        if fit is not None and fit.problem is not None:
            return f"{self.variant} may not run here ({fit.problem})"
        if fit is not None and fit.notes:
            return f"{self.variant} is unchecked here (see above)"
        return f"{self.variant} runs here"

    @property
    def judged_by(self) -> str:
        """``torch 2.8.0 from poetry-torch.lock`` (or ``on the index``, ``from the facts``)."""
        what = f"torch {self.torch}" if self.torch else "the newest torch"
        where = {LOCKED: f"in {LOCK_NAME}", INDEX: "on the index"}.get(self.by, "in the facts")
        if self.by == FACTS and self.note:
            return f"{what} {where} (the index could not be read)"
        return f"{what} {where}"


@record
class Plan:
    """What one run does to this machine and to the project's files, decided before any of it
    happens: ``service.choose.plan_for`` builds it for ``poetry torch install``, the hook's
    repair, the wheelhouse replay and ``check``, and ``service.apply.apply`` carries it out."""

    settings: TorchConfig  # the packages, the installer, how to reach the index
    variant: Variant | None  # the build verified after (None: an index naming no variant)
    source: Source  # the index read (a login it came with is used, never written)
    replay: TorchLock | None  # the exact files (name, version, sha256); None: resolved first
    # the error when the installed result fails verification (the problem, the env)
    failure: Callable[[str, TargetEnv], InstallError]
    foreign: str | None = None  # refuse a build of another variant, saying this was kept
    wheelhouse: Path | None = None  # the files come from this folder, with no index
    pins: bool = False  # no lock to replay or write: the hook's pinned install
    state: LockState | None = None  # poetry-torch.lock as read (resolving needs its inputs)
    write_lock: bool = False  # a resolution is written to poetry-torch.lock (with the entries)
    pyproject: PyProject | None = None  # pyproject.toml as read, written after with ``edit``
    edit: EditResult | None = None
    note: str | None = None  # said before resolving afresh: why the lock is not replayed
    # puts the earlier build back when the written files must be undone; says how (a clause)
    put_back: Callable[[TargetEnv], str] | None = None
    verdict: MachineVerdict | None = None  # the machine verdict for the build (None: not judged)
    # a universal lock relocked whole (``replay`` is this machine's part of it), written after
    relock: TorchLock | None = None
    # stop before installing when the result would leave an installed torchvision/torchaudio
    # that does not belong with the new torch (``apply.CompanionsLeftError``)
    companions: bool = False


@record
class MachinePart:
    """The part of poetry-torch.lock this machine replays, or why there is none."""

    lock: TorchLock | None  # None: nothing fresh to replay (no lock, or ``problem``)
    problem: str | None = None  # stale, unreadable, newer, or no fresh entry for the choice
    fix: str = "poetry torch lock"  # the command that puts it right
    choice: str | None = None  # a machine-local choice's line: its entry, never the first part
    missing: bool = False  # the lock was read, and holds no fresh entry for the choice

    def refusal(self) -> ConfigError:
        """The one line that stops an install when the lock lacks the choice's entry."""
        return ConfigError(
            f"{self.problem} (this machine's variant is {self.choice})",
            kept="nothing was installed and the files were left as they were",
            next=f"Run `{self.fix}` to lock it, then run the command again.",
        )


def as_built(settings: TorchConfig, lock: TorchLock) -> TorchConfig:
    """``settings`` narrowed to the build ``lock`` holds: the default family's torchaudio,
    locked as not part of this build (``service.family``), is not expected installed."""
    return settings.as_built(lock.inputs.packages, (package.name for package in lock.packages))


def machine_part(
    state: LockState,
    settings: TorchConfig,
    target: TargetEnv | None,
    note: Callable[[str], None] | None = None,
) -> MachinePart:
    """Which part of the project's poetry-torch.lock (``state``, read for ``settings``' one
    source) this machine replays.  ``target``: the environment whose interpreter names the
    platform and Python; None when there is none to ask (the first part, for the committed
    variant: what Poetry's solver sees; nothing, for a machine-local choice).  ``note`` hears
    when that interpreter has to be started to say them (``-v``)."""
    choice = settings.choice
    if choice is not None and choice.machine_local:
        line = choice.line()
        if state.lock is None or state.error is not None or target is None:
            return MachinePart(None, state.error, choice=line)
        platform, python = machine_of(target, note)
        found, why, command = entry_for(
            state.lock, settings, choice.variant, state.inputs, platform, python
        )
        if found is not None:
            return MachinePart(found, choice=line)
        return MachinePart(None, why, command, choice=line, missing=True)
    problem = state.problem()
    if problem is not None:
        return MachinePart(None, problem, "poetry torch lock")
    if state.lock is None or target is None:
        return MachinePart(state.lock)
    return MachinePart(own_part(state.lock, target, note))


def locked_releases(state: LockState, target: TargetEnv | None) -> dict[str, str]:
    """``{variant: torch release}`` that a fresh poetry-torch.lock pins for this machine's
    platform and Python (its first part, and every fresh entry for the same interpreter); empty
    when the lock is absent, stale or unreadable.  ``target`` None: the lock's own host."""
    lock = state.lock
    if lock is None or state.problem() is not None:
        return {}
    found: dict[str, str] = {}
    found.update(
        locked_torch(committed_of(lock), own_part(lock, target) if target is not None else lock)
    )
    if not lock.entries:
        return found
    here = machine_of(target) if target is not None else host_of(lock)
    for entry in lock.entries:
        same = (
            entry.lock.inputs.packages == state.inputs.packages
            and entry.lock.inputs.requires_python == state.inputs.requires_python
        )
        if same and (entry.platform, entry.python) == here and entry.variant not in found:
            found.update(locked_torch(entry.variant, entry.lock))
    return found


def locked_torch(variant: str, lock: TorchLock | None) -> dict[str, str]:
    """``{variant: torch release}`` that ``lock`` pins (empty: no lock, or no torch in it)."""
    torch = [p.version for p in (lock.packages if lock else ()) if p.name == "torch"]
    return {variant: torch[0].split("+", 1)[0]} if torch else {}


def machine_of(
    target: TargetEnv, note: Callable[[str], None] | None = None
) -> tuple[str | None, str]:
    """(platform key, Python ``3.12``) of the environment's interpreter: what Poetry learnt of
    it this command, else read from its files (pyvenv.cfg, the executable's header) where they
    tell, else by starting it; ``(None, "")`` when none of them tells.  The one answer to
    "which machine is this" for every flow (install, the hook, check, the team lock)."""
    if target.markers is not None:
        sys_platform, machine, python = target.markers
        return platform_of(sys_platform, machine), python
    # a deliberate start-up boundary: the hook of a single lock never asks (no entries)
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
    here = machine_of(target, note)
    if here[0] is None or here == host_of(lock):
        return lock
    for entry in lock.entries:
        same = entry.lock.content_hash == lock.content_hash
        if same and (entry.variant, entry.platform, entry.python) == (committed_of(lock), *here):
            return entry.lock
    return lock


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
        for want in wanted(settings.targets, committed_of(lock), platform, lock.added)
    )
    # the targets ask for it (the lock is older than they are), or only this machine does
    command = "poetry torch lock" if asked or stale else f"poetry torch lock --add-variant {name}"
    where = f"for {platform or 'this platform'}, Python {python}"
    if stale:
        stale_line = (
            f"{LOCK_NAME}'s {name} entry {where} is stale (locked before pyproject.toml changed)"
        )
        return None, stale_line, command
    locked = sorted({e.variant for e in lock.entries} | {committed_of(lock)})
    return None, f"{LOCK_NAME} holds no {name} build {where} (it has {', '.join(locked)})", command


def host_of(lock: TorchLock) -> tuple[str | None, str | None]:
    """(platform key, Python) the lock's first part was resolved for."""
    found = key_of(lock.resolved_for)
    return found if found is not None else (None, None)


def committed_of(lock: TorchLock) -> str:
    """The variant the lock's first part was resolved for (its index name)."""
    found = from_url(lock.inputs.source_url)
    return found.index_name if found is not None else lock.inputs.source_name
