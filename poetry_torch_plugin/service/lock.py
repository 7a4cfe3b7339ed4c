"""poetry-torch.lock: ``poetry torch lock`` (and ``--check``, ``export``), and its universal entries.

``poetry torch lock`` resolves the committed variant for this interpreter (the lock's first
part), then, where ``[tool.poetry-torch.targets]`` or ``--add-variant`` ask for more, one
``[[entry]]`` per variant, platform and Python that requires-python admits and the index
publishes, with ``uv pip compile --python-platform --python-version`` (pip evaluates markers for
the running interpreter only).  Entries whose inputs did not change are kept as they are: adding
a target resolves only the new ones.  Which part a machine replays is ``service.plan.machine_part``."""

from __future__ import annotations

import threading

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.formats import export_form
from poetry_torch_plugin.core.lockfile import DEFAULT
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import PLATFORMS
from poetry_torch_plugin.core.lockfile import PLATFORMS as KNOWN
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import fits
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import moved
from poetry_torch_plugin.core.lockfile import pythons_published
from poetry_torch_plugin.core.lockfile import resolved_for
from poetry_torch_plugin.core.lockfile import tag_set
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.release import anchor
from poetry_torch_plugin.core.release import anchored
from poetry_torch_plugin.core.release import at_release
from poetry_torch_plugin.core.release import newest
from poetry_torch_plugin.core.release import pinned
from poetry_torch_plugin.core.release import public_version
from poetry_torch_plugin.core.release import wheels_of
from poetry_torch_plugin.core.targets import parse_variant
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.index.access import mirror_base
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import environment_wheel_target
from poetry_torch_plugin.installer.download_once import hashes_missing
from poetry_torch_plugin.installer.resolve import download_hashes
from poetry_torch_plugin.installer.resolve import lock_from_report
from poetry_torch_plugin.installer.resolve import python_allows
from poetry_torch_plugin.installer.resolve import resolve
from poetry_torch_plugin.installer.select import get_backend
from poetry_torch_plugin.installer.uv import UvBackend
from poetry_torch_plugin.project.files import refuse_read_only
from poetry_torch_plugin.project.files import write_atomic
from poetry_torch_plugin.project.lockstate import check_project
from poetry_torch_plugin.project.lockstate import configured
from poetry_torch_plugin.project.lockstate import export_project
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.project.lockstate import write_lock
from poetry_torch_plugin.service.family import decide
from poetry_torch_plugin.service.plan import committed_of
from poetry_torch_plugin.service.plan import host_of
from poetry_torch_plugin.service.plan import machine_of
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import source_for
from poetry_torch_plugin.service.settings import with_choice


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.version import Version

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.lockfile import Wanted
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.env.installed import EnvFinder
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.project.lockstate import LockState


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
    chosen = from_index_name(variant)
    if chosen is None:  # parse_targets admits only variants
        raise ConfigError(f"{variant!r} is not a PyTorch variant", kept="nothing was changed")
    return source_for(settings, settings.source(), chosen)


def _inputs(settings: TorchConfig, variant: str, requires_python: str) -> LockInputs:
    return inputs_for(source_of(settings, variant), settings, requires_python)


def _uv() -> UvBackend:
    try:
        backend = get_backend("uv")
    except TorchPluginError:
        backend = None
    if not isinstance(backend, UvBackend):
        raise ConfigError(
            "locking other platforms needs uv 0.5 or newer (pip evaluates dependency markers for"
            " this machine only), and none was found",
            kept=f"{LOCK_NAME} was left as it was",
            next="Install uv (`poetry self add uv`, or on PATH) and run `poetry torch lock` again.",
        )
    return backend


class _Pages:
    """Index pages read once per run, shared by the resolutions running at once."""

    def __init__(self, settings: TorchConfig) -> None:
        self.settings = settings
        self._pages: dict[tuple[str, str], Listing | None] = {}
        self._lock = threading.Lock()
        self.digests: dict[str, str] = {}  # URL -> sha256 of a file downloaded to hash it

    def page(self, source: Source, name: str, *, required: bool = False) -> Listing | None:
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
    team: Team,
    *,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    verbose: bool = False,
    say: Callable[[str], None] | None = None,
) -> TorchLock:
    """``primary`` with every entry of ``team`` (its slots, all at its release): those of
    ``previous`` whose inputs and release are unchanged kept (unless ``regenerate``), the others
    resolved in parallel, ``say`` told first how many and for what.  Nothing is written."""
    requires_python = primary.inputs.requires_python
    kept = {(e.variant, e.platform, e.python): e for e in (previous.entries if previous else ())}
    host = host_of(primary)
    if add and host[0] is None:
        raise ConfigError(
            "--add-variant locks a variant for this machine's platform, and"
            f" {primary.resolved_for or 'this machine'} is none the lock knows"
            f" ({', '.join(KNOWN)})",
            kept=f"{LOCK_NAME} was left as it was",
            next="Run `poetry torch lock` on such a machine, or without --add-variant.",
        )
    entries: list[LockEntry] = []
    todo: list[tuple[str, str, str]] = []
    for key in team.slots:
        if key == (team.committed, *host):
            continue  # the lock's first part
        inputs = _inputs(settings, key[0], requires_python)
        old = kept.get(key)
        release = team.release.get(key[0], {})
        same = old is not None and old.lock.fresh_for(inputs) and at_release(old.lock, release)
        if old is not None and same and not regenerate:
            entries.append(old)
        else:
            todo.append(key)
    if todo:
        uv = _uv()
        if say is not None:
            kinds = ", ".join(sorted({f"{variant} {platform}" for variant, platform, _ in todo}))
            count = f"{len(todo)} {'entry' if len(todo) == 1 else 'entries'} of {LOCK_NAME}"
            at_once = min(_PARALLEL, len(todo))
            say(f"Resolving {count} for other machines ({kinds}) with uv, {at_once} at a time")
        # after a failure (Ctrl-C kills the running uvs before this thread sees it) start no more
        stop = threading.Event()

        def entry(key: tuple[str, str, str]) -> LockEntry:
            if stop.is_set():
                raise InstallError(f"{_where(key)}: not started, an earlier entry failed")
            try:
                return _resolve_entry(uv, settings, target, team, key, requires_python, verbose)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            entries += pool.map(entry, todo)
    entries.sort(key=lambda e: (e.variant, e.platform, tuple(map(int, e.python.split(".")))))
    return replace(
        primary, entries=tuple(entries), targets=targets_text(settings), added=team.added
    )


@record
class Team:
    """What one universal lock holds: every (variant, platform, Python) slot, the first
    part's first, and per variant the one torch release (``_anchor``) that all of that
    variant's slots pin (the cpu index may lag the CUDA ones: each variant moves as a whole)."""

    committed: str  # the committed variant (index name): the first part's
    slots: tuple[tuple[str, str, str], ...]
    # variant -> canonical name -> public version ("2.9.0"), the same on every platform/Python
    release: dict[str, dict[str, str]]
    added: tuple[str, ...]
    pages: _Pages
    note: str | None = None  # a newer release some entry lacks, said with the written line


def team_for(
    settings: TorchConfig,
    host: tuple[str | None, str | None],
    previous: TorchLock | None,
    add: tuple[str, ...],
    requires_python: str,
    fixed: Mapping[str, Mapping[str, str]] | None = None,
) -> Team:
    """The slots the lock holds and the release they all pin: per variant, the newest torch
    (``_anchor``) published for every slot, or ``fixed`` (a kept first part: adding a variant or
    a target moves nothing).  ConfigError naming the slot when none is (or ``fixed`` is not)."""
    added = tuple(dict.fromkeys((*(previous.added if previous else ()), *add)))
    source = settings.source()
    assert source is not None and source.variant is not None  # (``configured`` checked)
    committed = source.variant.index_name
    platform, python = host
    pages = _Pages(settings)
    allows = python_allows(requires_python)
    slots: list[tuple[str, str, str]] = []
    if platform is not None and python:
        slots.append((committed, platform, python))
    for want in wanted(settings.targets, committed, platform, added):
        for each in _pythons(want, settings, pages, allows, requires_python):
            if (want.variant, want.platform, each) not in slots:
                slots.append((want.variant, want.platform, each))
    release: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for variant in dict.fromkeys(slot[0] for slot in slots):
        mine = [slot for slot in slots if slot[0] == variant]
        kept = (fixed or {}).get(variant, {})
        for requirement in anchor(settings.requirements):
            name = canonicalize_name(requirement.name)
            chosen, note = _release_of(settings, requirement, mine, pages, kept.get(name))
            if chosen is not None:
                release.setdefault(variant, {})[name] = chosen
            if note is not None:
                notes.append(note)
    return Team(committed, tuple(slots), release, added, pages, "; ".join(notes) if notes else None)


def _release_of(
    settings: TorchConfig,
    requirement: Requirement,
    slots: list[tuple[str, str, str]],
    pages: _Pages,
    fixed: str | None,
) -> tuple[str | None, str | None]:
    """(the release of one requested package every slot gets, a note when a newer one is
    left out); (None, None) when no slot's page lists it (the resolution then says why)."""
    from packaging.version import Version

    name = canonicalize_name(requirement.name)
    wheels: dict[str, list[tuple[Version, frozenset[str]]]] = {}
    published: list[tuple[tuple[str, str, str], set[Version]]] = []
    for slot in slots:
        variant, platform_key, python = slot
        listing = pages.page(source_of(settings, variant), name)
        if listing is None:
            continue
        allowed = tag_set(PLATFORMS[platform_key], python)
        if listing.url not in wheels:
            wheels[listing.url] = wheels_of(listing.project, listing.files)
        versions = {
            version
            for version, tags in wheels[listing.url]
            if tags & allowed and requirement.specifier.contains(version, prereleases=True)
        }
        if versions:  # none at all: the resolution says why, naming the entry
            published.append((slot, versions))
    if not published:
        return None, None
    everywhere = set.intersection(*(versions for _, versions in published))
    anywhere = set.union(*(versions for _, versions in published))
    if fixed is not None:
        lacking = next(
            (slot for slot, versions in published if Version(fixed) not in versions), None
        )
        if lacking is None:
            return fixed, None
        raise ConfigError(
            f"{LOCK_NAME} pins {name} {fixed} for every {lacking[0]} machine, and"
            f" {redact(source_of(settings, lacking[0]).url)} publishes no {name} {fixed} for"
            f" {_where(lacking)}",
            kept=f"{LOCK_NAME} and pyproject.toml were left as they were",
            next=f"Run `poetry torch lock` to move every {lacking[0]} entry to a release all have.",
        )
    top = newest(anywhere)
    if top is None:
        return None, None
    chosen = newest(everywhere)
    lacking = (
        next(slot for slot, versions in published if top not in versions) if chosen != top else None
    )
    if chosen is None:
        assert lacking is not None
        raise ConfigError(
            f"every {lacking[0]} entry of {LOCK_NAME} pins one release of {name}, and none is"
            f" published for all of them: {redact(source_of(settings, lacking[0]).url)} publishes"
            f" no {name} {top} for {_where(lacking)}",
            kept=f"{LOCK_NAME} and pyproject.toml were left as they were",
            next="Change that entry of [tool.poetry-torch.targets] (or the packages' versions),"
            " then run `poetry torch lock` again.",
        )
    note = None
    if lacking is not None:
        note = f"{name} {top} left out: the index has none for {_where(lacking)}"
    return str(chosen), note


def _where(slot: tuple[str, str, str]) -> str:
    return f"{slot[0]} for {slot[1]}, Python {slot[2]}"


def _pythons(
    want: Wanted, settings: TorchConfig, pages: _Pages, allows: object, requires_python: str
) -> tuple[str, ...]:
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
            f"{redact(source.url)} publishes no torch wheel for {want.platform} and a Python that"
            f" requires-python ({requires_python or 'any'}) admits, which {asked} asks for",
            kept=f"{LOCK_NAME} was left as it was",
            next="Change that entry of [tool.poetry-torch.targets] (or requires-python), then run"
            " `poetry torch lock`.",
        )
    return found


def _while_locking(where: str, error: TorchPluginError) -> TorchPluginError:
    """An index or installer failure while an entry resolves, said for the lock."""
    # no wheel "matches" this machine's tags: say it of the target's
    unfit = error.no_wheel if isinstance(error, InstallError) else None
    cause = error.what if unfit is None else f"{unfit} fits there"
    return type(error)(
        f"while locking {where}: {cause}",
        kept=f"{LOCK_NAME} and pyproject.toml were left as they were",
        next="Once the index serves it (`poetry torch lock -v` shows uv's output), or that"
        " target is changed, run `poetry torch lock` again.",
    )


def _resolve_entry(
    uv: UvBackend,
    settings: TorchConfig,
    target: TargetEnv,
    team: Team,
    key: tuple[str, str, str],
    requires_python: str,
    verbose: bool,
) -> LockEntry:
    variant, platform_key, python = key
    platform = PLATFORMS[platform_key]
    where = _where(key)
    source = source_of(settings, variant)
    inputs = _inputs(settings, variant, requires_python)
    access = access_for(settings, source)
    allowed = tag_set(platform, python)
    # the team's one release for this variant (core.release), then the default family's
    # torchaudio for that machine: the index, PyPI or none (service.family)
    release = team.release.get(variant, {})
    family = decide(
        replace(settings, packages=pinned(settings, release)) if release else settings,
        IndexPages(lambda _url: access),
        access.url,
        WheelTarget(f"{platform_key} {python}", allowed),
        access,
    )
    elsewhere = {name: listing for name, (_, listing) in family.elsewhere.items()}
    request = Request.for_access(access, family.requirements, quiet=True, verbose=verbose)
    try:
        # no sha256 on the index: the lock hashes the entry's files itself (``download_hashes``)
        hashless = hashes_missing(team.pages.page(source, "torch"))
        report = uv.report(target, request, foreign=(platform.uv, python), hashes=not hashless)
        lock = lock_from_report(
            report,
            inputs,
            lambda name: elsewhere.get(name) or team.pages.page(source, name),
            access.as_written,
            {name: index for name, (index, _) in family.elsewhere.items()},
            download_hashes(access, lambda name: fits(name, allowed), team.pages.digests),
        )
    except TorchPluginError as error:
        raise _while_locking(where, error) from None
    packages = []
    for package in lock.packages:
        files = tuple((name, digest) for name, digest in package.files if fits(name, allowed))
        if not files:
            raise ConfigError(
                f"while locking {where}: the index lists no wheel of {package.name}"
                f" {package.version} for that platform",
                kept=f"{LOCK_NAME} was left as it was",
                next="Run `poetry torch lock` again (the index may have changed meanwhile).",
            )
        packages.append(replace(package, files=files))
    entry_lock = replace(
        lock, packages=tuple(packages), resolved_for=resolved_for(platform, python)
    )
    return LockEntry(variant, platform_key, python, entry_lock)


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
    return mixed_releases(lock)


def mixed_releases(lock: TorchLock) -> str | None:
    """Why the parts of a universal lock for one variant do not all pin one torch release
    (``_anchor``: a hand edit, an older plugin's lock); None when they do."""
    host, python = host_of(lock)
    parts = [(committed_of(lock), f"{host or lock.resolved_for}, Python {python}", lock)]
    parts += [(e.variant, f"{e.platform}, Python {e.python}", e.lock) for e in lock.entries]
    first: dict[tuple[str, str], tuple[str, str]] = {}  # (variant, name) -> (version, where)
    differ: dict[tuple[str, str], list[str]] = {}
    for variant, where, part in parts:
        anchor = anchored([p.name for p in part.packages if p.requested])
        for package in part.packages:
            if package.name != anchor:
                continue
            key, version = (variant, package.name), public_version(package.version)
            seen = first.setdefault(key, (version, where))
            if seen[0] != version:
                differ.setdefault(key, []).append(f"{where} ({package.name} {version})")
    for (variant, name), others in differ.items():
        version, where = first[(variant, name)]
        more = f" and {len(others) - 2} more" if len(others) > 2 else ""
        return (
            f"{LOCK_NAME} pins {name} {version} for {variant} on {where} but another release"
            f" for {variant} on {', '.join(others[:2])}{more}: every machine of one variant"
            " must get the same release; run `poetry torch lock` to move them to one."
        )
    return None


def every_part(settings: TorchConfig, lock: TorchLock, untouched: str) -> list[TorchLock]:
    """The first part and every entry, each fresh for its own index (``wheelhouse --all``)."""
    problem = universal_problem(settings, lock)
    if problem is not None:
        raise ConfigError(f"{problem} {untouched}")
    return [lock, *(entry.lock for entry in lock.entries)]


def lock_project(
    pyproject: Path,
    target: TargetEnv,
    installer: str | None = None,
    *,
    verbose: bool = False,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    keep: bool = False,
    notes: list[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> TorchLock:
    """Resolve the configured packages afresh for this interpreter and write the lock; with
    targets (or ``add``, variants to add), also every other entry the project wants, keeping
    those whose inputs did not change unless ``regenerate``.  Nothing is installed.  ``add`` (or
    ``keep``: a target was added) keeps a fresh first part as it is: adding a variant or a target
    re-resolves nothing else.  ``notes`` hears a newer release left out as some entry lacks it."""
    settings, source = configured(pyproject)
    state = lock_state(pyproject, source, settings)
    refuse_read_only(state.path)
    lock = relocked(
        settings,
        state,
        target,
        installer,
        verbose=verbose,
        add=_checked_variants(add),
        regenerate=regenerate,
        keep=keep,
        notes=notes,
        say=say,
    )
    write_lock(state.path, lock)
    return lock


def relocked(
    settings: TorchConfig,
    state: LockState,
    target: TargetEnv,
    installer: str | None = None,
    *,
    verbose: bool = False,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    keep: bool = False,
    notes: list[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> TorchLock:
    """The lock ``lock_project`` writes (nothing is written here); a universal lock pins, per
    variant, the newest torch release the index publishes for all its parts (``team_for``)."""
    source = settings.source()
    assert source is not None  # (``configured``)
    previous = state.lock
    kept = (add or keep) and previous is not None and state.fresh and not regenerate
    access = access_for(settings, source)
    probe = None
    if not kept:
        try:  # first: an index that does not answer is said for the lock, before anything
            probe = fetch_listing(access.url, "torch", access=access)
        except IndexAccessError as error:
            raise _for_the_lock(error) from None
    team = None
    if universal(settings, previous, add) and source.variant is not None:
        host = host_of(previous) if kept and previous is not None else machine_of(target)
        fixed = releases_of(previous) if kept and previous is not None else None
        team = team_for(settings, host, previous, add, state.inputs.requires_python, fixed)
        if team.note is not None and notes is not None:
            notes.append(team.note)
    if kept and previous is not None:
        lock = previous
    else:
        backend = get_backend(installer or settings.installer)
        pages = IndexPages(lambda _url: access)
        if probe is not None:
            pages.known(access.url, "torch", probe)
        wheels = environment_wheel_target(target.python) or WheelTarget.here()
        release = team.release.get(team.committed, {}) if team else {}
        # the team's one release (core.release), then the default family's torchaudio
        chosen = replace(settings, packages=pinned(settings, release)) if release else settings
        family = decide(chosen, pages, access.url, wheels, access)
        known = {n: page for n, (_, page) in family.elsewhere.items()}
        if probe is not None:
            known["torch"] = probe
        lock = resolve(
            backend,
            target,
            access,
            state.inputs,
            family.requirements,
            verbose=verbose,
            known=known or None,
            origins={name: index for name, (index, _) in family.elsewhere.items()},
        )
    if team is not None:
        lock = lock_entries(
            settings,
            lock,
            previous,
            target,
            team,
            add=add,
            regenerate=regenerate,
            verbose=verbose,
            say=say,
        )
    return lock


def releases_of(lock: TorchLock) -> dict[str, dict[str, str]]:
    """Per variant, the public version of torch (``_anchor``) its parts pin (the first
    part, then the entries; the first seen wins)."""
    found: dict[str, dict[str, str]] = {}
    parts = [(committed_of(lock), lock), *((e.variant, e.lock) for e in lock.entries)]
    for variant, part in parts:
        mine = found.setdefault(variant, {})
        anchor = anchored([p.name for p in part.packages if p.requested])
        for package in part.packages:
            if package.name == anchor:
                mine.setdefault(package.name, public_version(package.version))
    return found


def _for_the_lock(error: IndexAccessError) -> IndexAccessError:
    """An unreadable index, said for ``poetry torch lock`` (the index layer's line names
    ``poetry torch install``, which would change the environment)."""
    return IndexAccessError(
        error.what,
        kept=f"{LOCK_NAME}, pyproject.toml and the installed build were left as they were",
        next="Run `poetry torch lock` again once the index answers (`poetry torch check"
        " --index` shows what it answers).",
    )


def _checked_variants(add: tuple[str, ...]) -> tuple[str, ...]:
    """``--add-variant`` values as index names; ConfigError for one that is no variant."""
    found: list[str] = []
    for value in add:
        variant = parse_variant(
            value, where="--add-variant", fix="Run `poetry torch lock --add-variant cu128`"
        )
        if variant is None or variant == "auto":
            raise ConfigError(
                f"--add-variant {value!r} names no variant",
                kept="nothing was changed",
                next="Run `poetry torch lock --add-variant cu128` (or cpu, rocm6.4, …).",
            )
        found.append(variant)
    return tuple(found)


def lock_or_check(
    pyproject: Path,
    find_env: EnvFinder,
    *,
    check: bool = False,
    installer: str | None = None,
    verbose: bool = False,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    say: Callable[[str], None] | None = None,
) -> str:
    """Write the lock (or, with ``check``, only compare it with pyproject.toml); the line to
    show (``say``: a line before a long phase).  ConfigError in one line when the check fails."""
    if check and (add or regenerate):
        given = "--add-variant" if add else "--regenerate"
        raise ConfigError(
            f"--check writes nothing, so {given} cannot apply",
            kept="nothing was changed",
            next=f"Run `poetry torch lock {given}{' ' + add[0] if add else ''}` first, then"
            " `poetry torch lock --check`.",
        )
    if check:
        state = check_project(pyproject)
        problem = state.problem()
        if problem is None and state.lock is None:
            problem = f"there is no {LOCK_NAME}; run `poetry torch lock` to write it."
        if problem is None and state.lock is not None:
            settings, _ = configured(pyproject)
            problem = universal_problem(settings, state.lock) or _machine_problem(
                pyproject, settings, find_env
            )
        if problem is not None:
            raise ConfigError(problem)
        return f"{LOCK_NAME} matches pyproject.toml."
    _checked_variants(add)  # before the project environment is looked for (or created)
    path = pyproject.parent / LOCK_NAME
    before = path.read_bytes() if path.is_file() else None
    notes: list[str] = []
    lock = lock_project(
        pyproject,
        find_env(create=True),
        installer,
        verbose=verbose,
        add=add,
        regenerate=regenerate,
        notes=notes,
        say=say,
    )
    requested = [f"{p.name} {p.version}" for p in lock.packages if p.requested]
    files = sum(len(p.files) for p in lock.packages)
    unchanged = before is not None and path.is_file() and path.read_bytes() == before
    line = (
        f"{'' if unchanged else 'Wrote '}<info>{LOCK_NAME}</info>{' unchanged' if unchanged else ''}:"
        f" {', '.join(requested)} ({len(lock.packages)} packages, {files} files)"
    )
    if not lock.entries:
        return line
    kinds = sorted({f"{e.variant} {e.platform}" for e in lock.entries})
    pythons = sorted({e.python for e in lock.entries}, key=lambda p: tuple(map(int, p.split("."))))
    release = "; ".join(
        f"{variant} at {', '.join(f'{name} {version}' for name, version in pins.items())}"
        for variant, pins in sorted(releases_of(lock).items())
    )
    left_out = f"; {'; '.join(notes)}" if notes else ""
    return (
        f"{line}, and {len(lock.entries)} entries for other machines"
        f" ({'; '.join(kinds)}; Python {', '.join(pythons)}); one release per variant:"
        f" {release}{left_out}"
    )


def _machine_problem(pyproject: Path, settings: TorchConfig, find_env: EnvFinder) -> str | None:
    """Why the lock holds nothing for the variant this machine installs (a target,
    ``POETRY_TORCH_VARIANT``, poetry.toml); None when it does or no environment says the Python."""
    try:
        target = find_env(create=False)
    except TorchPluginError:
        return None
    chosen = with_choice(settings, pyproject, target)
    if chosen.choice is None or not chosen.choice.machine_local:
        return None  # the committed variant: its part is the first part, or its entry
    # (the chosen variant's entries are fresh for its own source, not the committed one)
    part = machine_part(lock_state(pyproject, chosen.sources[0], chosen), chosen, target)
    if not part.missing:
        return None
    return f"{part.problem} (this machine's variant is {part.choice}); run `{part.fix}` to lock it."


def export(
    pyproject: Path,
    output: str | None = None,
    form: str | None = None,
    target: str | None = None,
    every: bool = False,
) -> str | None:
    """The requirements text (or, ``form`` "pylock", the PEP 751 text) of a fresh lock; with
    ``output`` (relative to the project) it is written there instead and None comes back."""
    form = export_form(form, output)
    if target is not None and every:
        raise ConfigError(
            "--target and --all exclude each other",
            kept="nothing was exported",
            next="Run `poetry torch export` with one of them.",
        )

    def check(lock: TorchLock) -> str | None:
        return universal_problem(configured(pyproject)[0], lock)

    # exported for this machine: through its mirror (POETRY_TORCH_INDEX_BASE), as Poetry's
    # own export names a repository URL that POETRY_REPOSITORIES_<NAME>_URL replaces
    mirror = mirror_base()
    base = configured(pyproject)[0].index_base if mirror is not None else ""

    def through(lock: TorchLock) -> TorchLock:
        return moved(lock, without_login(base), without_login(mirror or ""))

    text = export_project(
        pyproject,
        form,
        target and target.strip().lower(),
        every,
        check,
        through if mirror is not None else None,
    )
    if not output:
        return text
    path = pyproject.parent / output
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}",
            kept="nothing was exported",
            next="Pick another path with -o.",
        ) from None
    return None
