"""An offline wheelhouse: every wheel ``poetry-torch.lock`` pins, downloaded once into a folder
(each checked against its locked sha256), and installs from that folder with no index at all,
for air-gapped clusters and container layer caches.

The folder is flat (``pip --find-links``/``uv --find-links`` read it as it is) and also holds a
PEP 503 tree under ``simple/`` (``pip install --index-url file:///…/simple``).  Nothing here
writes pyproject.toml, poetry.lock or poetry-torch.lock."""

from __future__ import annotations

import html
import os

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.index.access import mirror_url
from poetry_torch_plugin.index.pages import download_verified
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import file_sha256
from poetry_torch_plugin.installer.backend import environment_tag_set
from poetry_torch_plugin.installer.select import get_backend
from poetry_torch_plugin.project.files import write_atomic
from poetry_torch_plugin.project.lockstate import configured
from poetry_torch_plugin.project.lockstate import fresh_lock
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.service.apply import apply
from poetry_torch_plugin.service.choose import plan_for
from poetry_torch_plugin.service.lock import every_part
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import with_choice


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Collection
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.env.installed import EnvFinder
    from poetry_torch_plugin.env.installed import TargetEnv


WHEELHOUSE_ENV = "POETRY_TORCH_WHEELHOUSE"


@record
class Filled:
    downloaded: int  # files fetched now
    present: int  # files already there with the locked hash
    size: int  # bytes of every selected file


def locked(
    pyproject: Path,
    purpose: str = "fill a wheelhouse from",
    kept: str = "the wheelhouse was left as it is",
) -> TorchLock:
    """The project's poetry-torch.lock, which must be fresh: a wheelhouse is only as good as
    the lock it replays."""
    return fresh_lock(pyproject, kept=kept, missing=purpose)


def select_files(lock: TorchLock, tags: Collection[str] | None) -> list[tuple[str, str, str]]:
    """(package, file name, sha256) of the locked files to fetch: every one when ``tags`` is
    None, else those whose wheel tags this environment supports (each package needs one)."""
    from packaging.utils import parse_wheel_filename

    chosen = []
    for package in lock.packages:
        files = [
            (package.name, name, digest)
            for name, digest in package.files
            if tags is None
            or (
                name.endswith(".whl")
                and {str(t) for t in parse_wheel_filename(name)[3]} & set(tags)
            )
        ]
        if not files:  # no wheel for here: a source archive builds anywhere
            files = [(package.name, n, d) for n, d in package.files if not n.endswith(".whl")]
        if not files:
            raise ConfigError(
                f"{LOCK_NAME} holds no file of {package.name} {package.version} that this"
                f" environment can install (locked for {lock.resolved_for or 'another machine'})",
                kept="nothing was downloaded",
                next="Run `poetry torch lock` here, or pass --all for every locked file.",
            )
        chosen.extend(files)
    return chosen


def fill(
    pyproject: Path,
    dest: Path,
    find_env: EnvFinder,
    *,
    every_file: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> Filled:
    """Download the selected locked files into ``dest`` (kept ones are re-checked, not
    re-downloaded) and write its ``simple/`` pages."""
    lock = locked(pyproject)
    _writable_folder(dest)  # before the project environment is looked for (or created)
    tags = None if every_file else environment_tag_set(find_env(create=True).python)
    if tags is not None and not tags:
        raise ConfigError(
            "cannot ask the project environment's Python which wheels it installs (it has neither"
            " packaging nor pip)",
            kept="nothing was downloaded",
            next="Pass --all for every locked file.",
        )
    settings, source = configured(pyproject)
    if every_file:  # the first part and every entry for other machines, each from its index
        parts = every_part(settings, lock, "Nothing was downloaded.")
    else:
        parts = [_this_machine(lock, settings, pyproject, find_env)]
    by_file = {
        name: part for part in parts for package in part.packages for name, _ in package.files
    }
    files = list(dict.fromkeys(f for part in parts for f in select_files(part, tags)))
    try:
        todo = [f for f in files if not _kept(dest / f[1], f[2], file_sha256)]
    except OSError as exc:
        raise ConfigError(
            f"cannot read {exc.filename} ({exc.strerror or exc})",
            kept="nothing was downloaded",
            next="Make the wheelhouse's files readable (or pick another folder), then run the"
            " command again.",
        ) from None
    indexes = sorted(
        {
            redact(source.url if by_file[f[1]] is lock else by_file[f[1]].inputs.source_url)
            for f in files
        }
    )
    say(
        f"Downloading {len(todo)} of {len(files)} locked files from {', '.join(indexes)} into"
        f" {dest}, each checked against its sha256 in {LOCK_NAME}"
    )
    links: dict[tuple[str, str], str] = {}
    for part in parts:
        part_source = Source(part.inputs.source_name, part.inputs.source_url, "explicit")
        access = access_for(settings, source if part is lock else part_source)
        mirrored = mirror_url(part.inputs.source_url, settings.index_base)
        if _same_index(access.url, part.inputs.source_url) or (
            mirrored is not None and _same_index(access.url, mirrored)
        ):
            # the URLs the index gave when locking (no page to read); through this machine's
            # mirror (POETRY_TORCH_INDEX_BASE) those under the project's base come from it
            links.update(
                {
                    (part.inputs.source_url, n): mirror_url(u, settings.index_base) or u
                    for p in part.packages
                    for n, u in p.urls
                }
            )
        # a package from another index (PyPI's torchaudio) is fetched where it was locked
        links.update(
            {(part.inputs.source_url, n): u for p in part.packages if p.index for n, u in p.urls}
        )
        for package, filename, digest in todo:
            if by_file[filename] is not part:
                continue
            known = {(part.inputs.source_url, filename), (part.inputs.source_url, package)}
            if not known & links.keys():
                listing = fetch_listing(access.url, package, access=access)
                links.update({(part.inputs.source_url, n): u for n, u in listing.links})
                links[(part.inputs.source_url, package)] = ""
            url = links.get((part.inputs.source_url, filename))
            if not url:
                raise ConfigError(
                    f"{redact(access.url)} no longer lists {filename} ({package}), which"
                    f" {LOCK_NAME} pins",
                    kept=f"the files already in {dest} were kept",
                    next="Run `poetry torch lock` to lock what the index publishes now.",
                )
            say(f"  {filename}")
            download_verified(url, dest / filename, digest, access)
    try:
        # every locked file the folder holds, not only this machine's: a wheelhouse shared by
        # machines with other Pythons keeps serving them (pip checks each #sha256 link)
        everything = [
            (p.name, name, digest)
            for part in (lock, *(entry.lock for entry in lock.entries))
            for p in part.packages
            for name, digest in p.files
        ]
        _write_simple(dest, [f for f in everything if (dest / f[1]).is_file()])
        size = sum((dest / filename).stat().st_size for _, filename, _ in files)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {exc.filename or dest / 'simple'} ({exc.strerror or exc})",
            kept=f"the wheels in {dest} were kept",
            next=f"Make {dest / 'simple'} a writable folder, then run the command again.",
        ) from None
    return Filled(len(todo), len(files) - len(todo), size)


def _same_index(url: str, locked: str) -> bool:
    from poetry_torch_plugin.core.urls import without_login

    return without_login(url).rstrip("/") == without_login(locked).rstrip("/")


def _kept(path: Path, digest: str, sha256: Callable[[Path], str]) -> bool:
    return path.is_file() and sha256(path) == digest


def _writable_folder(dest: Path) -> None:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the wheelhouse {dest} ({exc.strerror or exc})",
            kept="nothing was downloaded",
            next="Pick a folder you can write, then run the command again.",
        ) from None
    if not os.access(dest, os.W_OK):
        raise ConfigError(
            f"the wheelhouse {dest} is not writable",
            kept="nothing was downloaded",
            next="Pick a folder you can write, then run the command again.",
        )


def _write_simple(dest: Path, files: list[tuple[str, str, str]]) -> None:
    """``simple/index.html`` and ``simple/<package>/index.html`` linking the flat files."""
    by_package: dict[str, list[tuple[str, str]]] = {}
    for package, filename, digest in files:
        by_package.setdefault(package, []).append((filename, digest))
    root = dest / "simple"
    for package, entries in by_package.items():
        (root / package).mkdir(parents=True, exist_ok=True)
        anchors = "".join(
            f'<a href="../../{html.escape(name)}#sha256={digest}">{html.escape(name)}</a><br>\n'
            for name, digest in sorted(entries)
        )
        write_atomic(root / package / "index.html", _page(package, anchors).encode())
    listed = "".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(by_package))
    write_atomic(root / "index.html", _page("wheelhouse", listed).encode())


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>\n"
        f"<body>\n{body}</body></html>\n"
    )


def usable(folder: Path | str) -> Path:
    """The wheelhouse to install from (``~`` expanded, made absolute): a folder holding
    wheels, else ConfigError in one line, since installing from it could not work and the
    user asked for no index."""
    from pathlib import Path

    if not str(folder).strip():
        raise ConfigError(
            f"the wheelhouse folder given (--wheelhouse or {WHEELHOUSE_ENV}) is empty",
            kept="nothing was installed and no index was read",
            next="Name the folder `poetry torch wheelhouse` filled.",
        )
    path = Path(folder).expanduser().absolute()
    try:
        holds = path.is_dir() and any(path.glob("*.whl"))
    except OSError:
        holds = False
    if not holds:
        raise ConfigError(
            f"the wheelhouse {path} holds no wheels (or cannot be read)",
            kept="nothing was installed and no index was read",
            next=f"Fill it with `poetry torch wheelhouse {path}` where the index is reachable.",
        )
    return path


def holds(wheelhouse: Path, lock: TorchLock, tags: Collection[str] | None = None) -> Path:
    """``wheelhouse`` once it holds a locked file of every package, one this environment
    installs when its wheel ``tags`` are known; ConfigError in one line before anything is
    installed (a folder filled from another lock, or for another Python or platform)."""
    missing = []
    for package in lock.packages:
        try:
            wanted = select_files(replace(lock, packages=(package,)), tags or None)
        except ConfigError:
            wanted = []  # the lock has no file for here at all: pip would say the same
        if not any((wheelhouse / name).is_file() for _, name, _ in wanted):
            missing.append(f"{package.name} {package.version}")
    if missing:
        where = "for this environment's Python and platform " if tags else ""
        raise ConfigError(
            f"the wheelhouse {wheelhouse} holds no locked file {where}of"
            f" {', '.join(missing[:3])}{', …' if len(missing) > 3 else ''} (filled from another"
            f" {LOCK_NAME}, or for another machine?)",
            kept="nothing was installed and no index was read",
            next=f"Fill it with `poetry torch wheelhouse {wheelhouse}` (--all for every machine)"
            " where the index is reachable.",
        )
    return wheelhouse


def _this_machine(
    lock: TorchLock, settings: TorchConfig, pyproject: Path, find_env: EnvFinder
) -> TorchLock:
    """The part of ``lock`` (fresh) this machine installs (``service.plan.machine_part``): its
    entry when its variant is a machine-local choice, else the committed variant's part."""
    choice = with_choice(settings, pyproject).choice
    local = choice is not None and choice.machine_local
    # a single lock for the committed variant: no environment looked for
    target = find_env(create=True) if local or lock.entries else None
    chosen = with_choice(settings, pyproject, target) if local else settings
    source = chosen.sources[0] if local else settings.source()
    if source is None:
        return lock
    state = replace(lock_state(pyproject, source, chosen), lock=lock, failure=None)
    part = machine_part(state, chosen, target)
    if part.missing:
        raise part.refusal()
    return part.lock if part.lock is not None else lock


def from_env() -> Path | None:
    """``POETRY_TORCH_WHEELHOUSE`` checked by ``usable``; None when unset or empty."""
    folder = os.environ.get(WHEELHOUSE_ENV, "")
    return usable(folder) if folder.strip() else None


def install_from(
    pyproject: Path,
    wheelhouse: Path | str,
    find_env: EnvFinder,
    *,
    installer: str | None = None,
    dry_run: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    compile_bytecode: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> tuple[str, ...]:
    """Replay the fresh lock from ``wheelhouse`` alone (no index, hash-checked); no file of the
    project is written.  Returns the pins installed (none for a dry run)."""
    house = usable(wheelhouse)
    lock = locked(pyproject, "install from a wheelhouse", "nothing was installed")
    settings, source = configured(pyproject)
    first = lock
    lock = _this_machine(lock, settings, pyproject, find_env)
    holds(house, lock)  # the part this machine installs (its entry, for a local choice)
    if lock is not first:  # a machine-local choice: its entry, from its own index
        source = Source(lock.inputs.source_name, lock.inputs.source_url, "explicit")
    backend = get_backend(installer or settings.installer, compile_bytecode=compile_bytecode)
    verb = "Would install" if dry_run else "Installing"
    say(
        f"{verb} {len(lock.packages)} locked packages ({', '.join(lock.pins()[:3])}, …) from"
        f" the wheelhouse {house} with {backend.name}, no index, each checked against its"
        f" sha256 in {LOCK_NAME}"
    )
    if dry_run:
        return ()
    access = access_for(settings, source)
    target = find_env(create=True)
    holds(house, lock, environment_tag_set(target.python))

    def failure(problem: str, _: TargetEnv) -> InstallError:
        return InstallError(
            f"after installing from the wheelhouse {house}, {problem}",
            kept="no file of the project was changed",
            next="Refill it with `poetry torch wheelhouse`.",
        )

    plan = plan_for(
        settings, source.variant, source, lock, target, failure=failure, wheelhouse=house
    )
    return apply(
        plan,
        target,
        backend,
        access,
        quiet=quiet,
        verbose=verbose,
        summary=lambda moved: say(f"<info>torch ready</info> from the wheelhouse: {moved}"),
    )
