"""The universal torch lock: every target x platform x Python, resolved without its hardware.

``poetry torch lock`` resolves the committed variant for this interpreter (the lock's first
part), then, where ``[tool.poetry-torch.targets]`` or ``--add-variant`` ask for more, one
``[[entry]]`` per variant, platform and Python that requires-python admits and the index
publishes, with ``uv pip compile --python-platform --python-version`` (pip evaluates dependency
markers for the running interpreter only, so it cannot lock another platform).  Entries whose
inputs did not change are kept as they are: adding a target resolves only the new ones.
An install on a machine whose variant is not the committed one replays its own entry.
"""

from __future__ import annotations

import threading

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import DEFAULT
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import PLATFORMS
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import key_of
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.lockfile import Wanted
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.installer.uv import UvBackend


# uv resolutions run at once (each is one process reading a few index pages)
_PARALLEL = 4


def targets_text(settings: TorchConfig) -> tuple[str, ...]:
    """``[tool.poetry-torch.targets]`` as the lock records it: ``linux-aarch64=cu128``."""
    return tuple(f"{key}={value}" for key, value in settings.targets)


def universal(settings: TorchConfig, previous: TorchLock | None, add: tuple[str, ...]) -> bool:
    """Whether the lock holds more than the committed variant for this interpreter."""
    return bool(settings.targets or add or (previous is not None and previous.added))


def source_of(settings: TorchConfig, variant: str) -> Source:
    """The source a variant installs from: the committed one, a declared one, or derived."""
    from poetry_torch_plugin.core.variants import from_index_name
    from poetry_torch_plugin.service.settings import _source_for

    chosen = from_index_name(variant)
    if chosen is None:  # parse_targets admits only variants
        raise ConfigError(f"{variant!r} is not a PyTorch variant; nothing was changed.")
    return _source_for(settings, settings.source(), chosen)


def _inputs(settings: TorchConfig, variant: str, requires_python: str) -> LockInputs:
    from poetry_torch_plugin.core.lockfile import inputs_for

    return inputs_for(source_of(settings, variant), settings, requires_python)


def host_of(lock: TorchLock) -> tuple[str | None, str | None]:
    """(platform key, Python) the lock's first part was resolved for."""
    found = key_of(lock.resolved_for)
    return found if found is not None else (None, None)


def _uv() -> UvBackend:
    from poetry_torch_plugin.installer.select import get_backend
    from poetry_torch_plugin.installer.uv import UvBackend

    try:
        backend = get_backend("uv")
    except TorchPluginError:
        backend = None
    if not isinstance(backend, UvBackend):
        raise ConfigError(
            f"locking other platforms needs uv 0.5 or newer (pip evaluates dependency markers"
            f" for this machine only), and none was found; {LOCK_NAME} was left as it was."
            " Install it next to Poetry (`poetry self add uv`) or on PATH, then run"
            " `poetry torch lock` again."
        )
    return backend


class _Pages:
    """Index pages read once per run, shared by the resolutions running at once."""

    def __init__(self, settings: TorchConfig) -> None:
        self.settings = settings
        self._pages: dict[tuple[str, str], Listing | None] = {}
        self._lock = threading.Lock()

    def page(self, source: Source, name: str, *, required: bool = False) -> Listing | None:
        from poetry_torch_plugin.errors import IndexAccessError
        from poetry_torch_plugin.index.pages import fetch_listing
        from poetry_torch_plugin.service.settings import access_for

        key = (source.url, name)
        with self._lock:
            if key in self._pages:
                return self._pages[key]
        access = access_for(self.settings, source)  # its url without a login in it
        try:
            found: Listing | None = fetch_listing(access.url, name, access=access)
        except IndexAccessError:
            if required:
                raise
            found = None
        with self._lock:
            self._pages[key] = found
        return found


def lock_entries(
    settings: TorchConfig,
    primary: TorchLock,
    previous: TorchLock | None,
    target: TargetEnv,
    *,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    verbose: bool = False,
) -> TorchLock:
    """``primary`` with every entry the project wants: those of ``previous`` whose inputs are
    unchanged kept (unless ``regenerate``), the others resolved in parallel.  Nothing is written."""
    from poetry_torch_plugin.installer.resolve import python_allows

    added = tuple(dict.fromkeys((*(previous.added if previous else ()), *add)))
    source = settings.source()
    committed = source.variant if source is not None else None
    host, host_python = host_of(primary)
    if committed is None:
        return primary
    if add and host is None:
        from poetry_torch_plugin.core.lockfile import PLATFORMS as KNOWN

        raise ConfigError(
            f"--add-variant locks a variant for this machine's platform, and"
            f" {primary.resolved_for or 'this machine'} is none the lock knows"
            f" ({', '.join(KNOWN)}); {LOCK_NAME} was left as it was. Run `poetry torch lock`"
            " on such a machine, or without --add-variant."
        )
    requires_python = primary.inputs.requires_python
    allows = python_allows(requires_python)
    pages = _Pages(settings)
    kept = {(e.variant, e.platform, e.python): e for e in (previous.entries if previous else ())}
    entries: list[LockEntry] = []
    todo: list[tuple[str, str, str]] = []
    for want in wanted(settings.targets, committed.index_name, host, added):
        for python in _pythons(want, settings, pages, allows, requires_python):
            if (want.variant, want.platform, python) == (committed.index_name, host, host_python):
                continue  # the lock's first part
            inputs = _inputs(settings, want.variant, requires_python)
            old = kept.get((want.variant, want.platform, python))
            if old is not None and not regenerate and old.lock.fresh_for(inputs):
                entries.append(old)
            else:
                todo.append((want.variant, want.platform, python))
    if todo:
        uv = _uv()
        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            entries += pool.map(
                lambda key: _resolve_entry(
                    uv, settings, target, pages, key, requires_python, verbose
                ),
                todo,
            )
    entries.sort(key=lambda e: (e.variant, e.platform, tuple(map(int, e.python.split(".")))))
    return replace(primary, entries=tuple(entries), targets=targets_text(settings), added=added)


def _pythons(
    want: Wanted,
    settings: TorchConfig,
    pages: _Pages,
    allows: object,
    requires_python: str,
) -> tuple[str, ...]:
    from poetry_torch_plugin.core.lockfile import pythons_published
    from poetry_torch_plugin.core.urls import redact

    source = source_of(settings, want.variant)
    try:
        listing = pages.page(source, "torch", required=True)
    except TorchPluginError as error:
        raise _while_locking(f"{want.variant} for {want.platform}", error) from None
    names = tuple(name for name, _ in listing.files) if listing is not None else ()
    found = pythons_published(names, PLATFORMS[want.platform], allows)
    if not found and want.keys == (DEFAULT,):
        return ()  # this machine's own variant and platform: the lock's first part holds it
    if not found:
        asked = ", ".join(f'{key} = "{want.variant}"' for key in want.keys)
        raise ConfigError(
            f"{redact(source.url)} publishes no torch wheel for {want.platform} and a Python"
            f" that requires-python ({requires_python or 'any'}) admits, which {asked} asks"
            f" for; {LOCK_NAME} was left as it was. Change that entry of"
            " [tool.poetry-torch.targets] (or requires-python), then run `poetry torch lock`."
        )
    return found


def _while_locking(where: str, error: TorchPluginError) -> TorchPluginError:
    """An index or installer failure while an entry resolves, said for the lock."""
    cause = str(error).split("; ", 1)[0].split(" matches ", 1)  # (this machine's tags)
    return type(error)(
        f"while locking {where}: {cause[0]}{' fits there' if len(cause) > 1 else ''};"
        f" {LOCK_NAME} and pyproject.toml were left as they were. Once the index serves it"
        " (`poetry torch lock -v` shows uv's output), or that target is changed, run"
        " `poetry torch lock` again."
    )


def _resolve_entry(
    uv: UvBackend,
    settings: TorchConfig,
    target: TargetEnv,
    pages: _Pages,
    key: tuple[str, str, str],
    requires_python: str,
    verbose: bool,
) -> LockEntry:
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import fits
    from poetry_torch_plugin.core.lockfile import resolved_for
    from poetry_torch_plugin.core.lockfile import tag_set
    from poetry_torch_plugin.installer.backend import Request
    from poetry_torch_plugin.installer.resolve import lock_from_report
    from poetry_torch_plugin.service.settings import access_for

    variant, platform_key, python = key
    platform = PLATFORMS[platform_key]
    where = f"{variant} for {platform_key}, Python {python}"
    source = source_of(settings, variant)
    inputs = _inputs(settings, variant, requires_python)
    request = Request.for_access(
        access_for(settings, source), tuple(settings.packages), quiet=True, verbose=verbose
    )
    try:
        report = uv.report(target, request, foreign=(platform.uv, python))
        lock = lock_from_report(report, inputs, lambda name: pages.page(source, name))
    except TorchPluginError as error:
        raise _while_locking(where, error) from None
    allowed = tag_set(platform, python)
    packages = []
    for package in lock.packages:
        files = tuple((name, digest) for name, digest in package.files if fits(name, allowed))
        if not files:
            raise ConfigError(
                f"while locking {where}: the index lists no wheel of {package.name}"
                f" {package.version} for that platform; {LOCK_NAME} was left as it was."
                " Run `poetry torch lock` again (the index may have changed meanwhile)."
            )
        packages.append(
            LockedPackage(package.name, package.version, package.requested, files, package.urls)
        )
    entry_lock = replace(
        lock, packages=tuple(packages), resolved_for=resolved_for(platform, python)
    )
    return LockEntry(variant, platform_key, python, entry_lock)
