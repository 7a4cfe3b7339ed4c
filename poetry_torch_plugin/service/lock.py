"""poetry-torch.lock: ``poetry torch lock`` (and ``--check``, ``export``), and its universal entries.

``poetry torch lock`` resolves the committed variant for this interpreter (the lock's first
part), then, where ``[tool.poetry-torch.targets]`` or ``--add-variant`` ask for more, one
``[[entry]]`` per variant, platform and Python that requires-python admits and the index
publishes, with ``uv pip compile --python-platform --python-version`` (pip evaluates dependency
markers for the running interpreter only, so it cannot lock another platform).  Entries whose
inputs did not change are kept as they are: adding a target resolves only the new ones.
Which part a machine replays is ``service.plan.machine_part``."""

from __future__ import annotations

import threading

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import DEFAULT
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import PLATFORMS
from poetry_torch_plugin.core.lockfile import PLATFORMS as KNOWN
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import fits
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import pythons_published
from poetry_torch_plugin.core.lockfile import resolved_for
from poetry_torch_plugin.core.lockfile import tag_set
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.core.targets import parse_variant
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import environment_wheel_target
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
from poetry_torch_plugin.service.plan import host_of
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import source_for


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.lockfile import Wanted
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.service.settings import EnvFinder


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
        raise ConfigError(f"{variant!r} is not a PyTorch variant; nothing was changed.")
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
    added = tuple(dict.fromkeys((*(previous.added if previous else ()), *add)))
    source = settings.source()
    committed = source.variant if source is not None else None
    host, host_python = host_of(primary)
    if committed is None:
        return primary
    if add and host is None:
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

    variant, platform_key, python = key
    platform = PLATFORMS[platform_key]
    where = f"{variant} for {platform_key}, Python {python}"
    source = source_of(settings, variant)
    inputs = _inputs(settings, variant, requires_python)
    access = access_for(settings, source)
    allowed = tag_set(platform, python)
    # the default family's torchaudio for that machine: the index, PyPI or none (service.family)
    family = decide(
        settings,
        IndexPages(lambda _url: access),
        access.url,
        WheelTarget(f"{platform_key} {python}", allowed),
        access,
    )
    elsewhere = {name: listing for name, (_, listing) in family.elsewhere.items()}
    request = Request.for_access(access, family.requirements, quiet=True, verbose=verbose)
    try:
        report = uv.report(target, request, foreign=(platform.uv, python))
        lock = lock_from_report(
            report,
            inputs,
            lambda name: elsewhere.get(name) or pages.page(source, name),
            {name: index for name, (index, _) in family.elsewhere.items()},
        )
    except TorchPluginError as error:
        raise _while_locking(where, error) from None
    packages = []
    for package in lock.packages:
        files = tuple((name, digest) for name, digest in package.files if fits(name, allowed))
        if not files:
            raise ConfigError(
                f"while locking {where}: the index lists no wheel of {package.name}"
                f" {package.version} for that platform; {LOCK_NAME} was left as it was."
                " Run `poetry torch lock` again (the index may have changed meanwhile)."
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
) -> TorchLock:
    """Resolve the configured packages afresh for this interpreter and write the lock; with
    targets (or ``add``, variants to add), also every other entry the project wants, keeping
    those whose inputs did not change unless ``regenerate``.  Nothing is installed.

    ``add`` (or ``keep``: a target was added) keeps a fresh first part as it is: adding a
    variant or a target re-resolves nothing else."""
    settings, source = configured(pyproject)
    state = lock_state(pyproject, source, settings)
    refuse_read_only(state.path)

    previous = state.lock
    add = _checked_variants(add)
    if (add or keep) and previous is not None and state.fresh and not regenerate:
        lock = previous
    else:
        access = access_for(settings, source)
        try:
            probe = fetch_listing(access.url, "torch", access=access)
        except IndexAccessError as error:
            raise _for_the_lock(error) from None
        backend = get_backend(installer or settings.installer)
        pages = IndexPages(lambda _url: access)
        pages.known(access.url, "torch", probe)
        wheels = environment_wheel_target(target.python) or WheelTarget.here()
        family = decide(settings, pages, access.url, wheels, access)
        lock = resolve(
            backend,
            target,
            access,
            state.inputs,
            family.requirements,
            verbose=verbose,
            known={"torch": probe, **{n: page for n, (_, page) in family.elsewhere.items()}},
            origins={name: index for name, (index, _) in family.elsewhere.items()},
        )
    if universal(settings, previous, add):
        lock = lock_entries(
            settings, lock, previous, target, add=add, regenerate=regenerate, verbose=verbose
        )
    write_lock(state.path, lock)
    return lock


def _for_the_lock(error: IndexAccessError) -> IndexAccessError:
    """An unreadable index, said for ``poetry torch lock`` (the index layer's line names
    ``poetry torch install``, which would change the environment)."""
    cause = str(error).split("; ", 1)[0]
    return IndexAccessError(
        f"{cause}; {LOCK_NAME}, pyproject.toml and the installed build were left as they were."
        " Run `poetry torch lock` again once the index answers (`poetry torch check --index`"
        " shows what it answers)."
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
                f"--add-variant {value!r} names no variant; nothing was changed. Run"
                " `poetry torch lock --add-variant cu128` (or cpu, rocm6.4, …)."
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
) -> str:
    """Write the lock (or, with ``check``, only compare it with pyproject.toml); the line to
    show.  ConfigError in one line when the check fails."""
    if check and (add or regenerate):
        given = "--add-variant" if add else "--regenerate"
        raise ConfigError(
            f"--check writes nothing, so {given} cannot apply; nothing was changed. Run"
            f" `poetry torch lock {given}{' ' + add[0] if add else ''}` first, then"
            " `poetry torch lock --check`."
        )
    if check:
        state = check_project(pyproject)
        problem = state.problem()
        if problem is None and state.lock is None:
            problem = f"there is no {LOCK_NAME}; run `poetry torch lock` to write it."
        if problem is None and state.lock is not None:
            settings, _ = configured(pyproject)
            problem = universal_problem(settings, state.lock)
        if problem is not None:
            raise ConfigError(problem)
        return f"{LOCK_NAME} matches pyproject.toml."
    _checked_variants(add)  # before the project environment is looked for (or created)
    path = pyproject.parent / LOCK_NAME
    before = path.read_bytes() if path.is_file() else None
    lock = lock_project(
        pyproject,
        find_env(create=True),
        installer,
        verbose=verbose,
        add=add,
        regenerate=regenerate,
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
    return (
        f"{line}, and {len(lock.entries)} entries for other machines"
        f" ({'; '.join(kinds)}; Python {', '.join(pythons)})"
    )


def export(
    pyproject: Path,
    output: str | None = None,
    form: str | None = None,
    target: str | None = None,
    every: bool = False,
) -> str | None:
    """The requirements text (or, ``form`` "pylock", the PEP 751 text) of a fresh lock; with
    ``output`` (relative to the project) it is written there instead and None comes back."""
    name = output.replace("\\", "/").rsplit("/", 1)[-1] if output else None
    pylock_named = name is not None and _pylock_name(name)
    # -o pylock.torch.toml alone means the PEP 751 format: requirements text under that name
    # would be a file every installer rejects
    form = (form or ("pylock" if pylock_named else "requirements")).strip().lower()
    if form not in ("requirements", "pylock"):
        raise ConfigError(
            f"unknown export format {form!r}; nothing was exported. Use --format requirements"
            " (the default) or --format pylock (PEP 751)."
        )
    if form == "pylock" and name is not None and not pylock_named:
        raise ConfigError(
            f"PEP 751 names a lock file pylock.toml or pylock.<name>.toml, not {name};"
            " nothing was exported. Use -o pylock.torch.toml."
        )
    if form == "requirements" and pylock_named:
        raise ConfigError(
            f"{name} is a PEP 751 lock file name, but --format requirements writes a"
            " requirements file; nothing was exported. Use --format pylock, or -o"
            " requirements-torch.txt."
        )
    if target is not None and every:
        raise ConfigError(
            "--target and --all exclude each other; nothing was exported. Give one of them."
        )

    def check(lock: TorchLock) -> str | None:

        return universal_problem(configured(pyproject)[0], lock)

    text = export_project(pyproject, form, target and target.strip().lower(), every, check)
    if not output:
        return text
    path = pyproject.parent / output
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}; nothing was exported. Pick another path with -o."
        ) from None
    return None


def _pylock_name(name: str) -> bool:
    import re

    return re.fullmatch(r"pylock\.([^.]+\.)?toml", name) is not None
