"""Resolving and replaying ``poetry-torch.lock``: the installer's resolution plus the index's
hashes."""

from __future__ import annotations

import re
import tempfile

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidSdistFilename
from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.urls import recorded_url
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.index.pages import download_sha256
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.installer import download_once
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import earlier_build
from poetry_torch_plugin.installer.backend import environment_tag_set
from poetry_torch_plugin.installer.backend import install_failure
from poetry_torch_plugin.installer.pip import PipBackend


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Mapping

    from poetry_torch_plugin.core.lockfile import LockInputs
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.installer.backend import Backend


_INTERPRETER = re.compile(r"^(?:cp|py|pp|ip|jy|graalpy)(\d)(\d*)$")


# Index pages read at once while locking (download.pytorch.org's torch page is megabytes).
_PARALLEL_PAGES = 8


def python_allows(requires_python: str) -> Callable[[int, int], bool]:
    """Whether requires-python admits some release of Python ``major.minor``."""
    if not requires_python:
        return lambda major, minor: True
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        from poetry.core.constraints.version import Version as PoetryVersion
        from poetry.core.constraints.version import parse_constraint

        try:
            constraint = parse_constraint(requires_python)
        except ValueError:
            return lambda major, minor: True
        return lambda major, minor: any(
            constraint.allows(PoetryVersion.parse(f"{major}.{minor}.{patch}")) for patch in (0, 99)
        )
    return lambda major, minor: any(
        spec.contains(f"{major}.{minor}.{patch}", prereleases=True) for patch in (0, 99)
    )


def wheel_allowed(filename: str, allows: Callable[[int, int], bool]) -> bool:
    """Whether one of the wheel's interpreter tags (cp311, py3, cp39-abi3) fits requires-python."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return True  # an sdist: any Python builds it
    for tag in tags:
        match = _INTERPRETER.match(tag.interpreter)
        if match is None:
            return True
        major, minor = int(match.group(1)), match.group(2)
        if not minor:
            minors: Iterable[int] = range(40)
        elif tag.abi == "abi3":
            minors = range(int(minor), 40)
        else:
            minors = (int(minor),)
        if any(allows(major, n) for n in minors):
            return True
    return False


def _file_of(filename: str, name: str, version: Version) -> bool:
    try:
        if filename.endswith(".whl"):
            found, found_version, _, _ = parse_wheel_filename(filename)
        else:
            found, found_version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return False
    return found == name and found_version == version


def _chosen_url(item: Mapping[str, Any]) -> str:
    """The URL of the file pip picked, from the report's ``download_info``; "" when none or
    not on an http(s) index (a local cache or folder is no place to lock)."""
    url = str((item.get("download_info") or {}).get("url", ""))
    return url if url.lower().startswith(("http://", "https://")) else ""


def _chosen_file(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """(file name, sha256) of the file pip picked, from the report's ``download_info``."""
    import urllib.parse

    info = item.get("download_info") or {}
    url = str(info.get("url", ""))
    archive = info.get("archive_info") or {}
    digest = (archive.get("hashes") or {}).get("sha256")
    if digest is None and str(archive.get("hash", "")).startswith("sha256="):
        digest = str(archive["hash"])[len("sha256=") :]
    if not url or not digest:
        return None
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rsplit("/", 1)[-1]), str(digest)


def lock_from_report(
    report: Mapping[str, Any],
    inputs: LockInputs,
    listing_of: Callable[[str], Listing | None],
    as_written: Callable[[str], str | None] = lambda link: link,
    origins: Mapping[str, str] | None = None,
    hash_file: Callable[[str, str], str | None] | None = None,
) -> TorchLock:
    """Build the lock from a ``--report``-shaped resolution and the index's pages.

    Every file the index lists for the chosen version (and requires-python admits) is recorded.
    pip's report also names the file it picked, with its hash, which stands in when the page
    could not be read.  uv names hashes without files (``hashes``): the page must agree with
    them, or the index changed between the two reads.  Each file's URL is kept as the page
    linked it (PyTorch's pages send torch to another host), without any login; read through
    a mirror (``POETRY_TORCH_INDEX_BASE``), as the project's own index would link it
    (``as_written``: ``IndexAccess.as_written``), since the lock is committed.  ``origins``
    names the packages taken from another index than the source (``{name: index URL}``):
    ``listing_of`` gives their page there, and the lock says where they come from.
    ``hash_file(file name, URL)`` gives the sha256 of a file the page lists without one
    (another machine's, nothing downloaded to resolve it: ``download_hashes``), or None
    for a file not of that machine; such a package is locked ``index_sha256=False``.
    """
    allows = python_allows(inputs.requires_python)
    items = list(report.get("install", []))
    names = [canonicalize_name(str(item["metadata"]["name"])) for item in items]
    with ThreadPoolExecutor(max_workers=_PARALLEL_PAGES) as pool:
        listings = dict(zip(names, pool.map(listing_of, names)))
    packages = []
    for name, item in zip(names, items):
        version = str(item["metadata"]["version"])
        parsed = Version(version)
        files: dict[str, str] = {}
        listing = listings[name]
        links = dict(listing.links) if listing is not None else {}
        downloaded = False
        for filename, digest in listing.files if listing is not None else ():
            if not (_file_of(filename, name, parsed) and wheel_allowed(filename, allows)):
                continue
            if not digest and hash_file is not None and links.get(filename):
                digest = hash_file(filename, links[filename]) or ""
                downloaded = downloaded or bool(digest)
            if digest:
                files[filename] = digest
        # the page was read and gives no sha256 for this version: the lock holds the sha256
        # of the bytes downloaded (by the installer: ``resolve`` makes sure it downloads them;
        # or by ``hash_file``)
        from_download = listing is not None and (downloaded or not files)
        chosen = _chosen_file(item)
        if chosen is not None:
            files.setdefault(*chosen)
            links.setdefault(chosen[0], _chosen_url(item))
        if not files and listing is None:
            raise IndexAccessError(
                f"the page of {name} on {redact(inputs.source_url)} could not be read, so"
                f" {name} {version} cannot be locked",
                kept=f"{LOCK_NAME} and the environment were left untouched",
                next="Check the index (`poetry torch check`) and run the command again.",
            )
        if not files:
            raise IndexAccessError(
                f"{redact(inputs.source_url)} publishes no sha256 for {name} {version}, and"
                " no file of it was downloaded to hash, so it cannot be locked",
                kept=f"{LOCK_NAME} and the environment were left untouched",
                next="Use an index that publishes #sha256= links, or pip in the project environment"
                " to download them.",
            )
        expected = set(item.get("hashes") or ())
        if expected and not expected & set(files.values()):
            raise IndexAccessError(
                f"{redact(inputs.source_url)} listed {name} {version} with other files than"
                " the installer just resolved",
                kept=f"{LOCK_NAME} and the environment were left untouched",
                next="The index changed while locking: run the command again.",
            )
        # a package from another index (``origins``) was not read through this index's mirror:
        # its links are kept as that index gave them
        written = (lambda link: link) if name in (origins or {}) else as_written
        kept = {f: recorded_url(f, written(links[f]) or "") for f in files if links.get(f)}
        packages.append(
            LockedPackage(
                name,
                version,
                bool(item.get("requested")),
                tuple(sorted(files.items())),
                index_sha256=not from_download,
                urls=tuple(sorted((f, url) for f, url in kept.items() if url)),
                index=(origins or {}).get(name, ""),
            )
        )
    env = report.get("environment") or {}
    resolved_for = " ".join(
        str(env.get(key, "?"))
        for key in ("implementation_name", "python_version", "sys_platform", "platform_machine")
    )
    packages.sort(key=lambda package: package.name)
    return TorchLock(inputs, inputs.content_hash(), tuple(packages), resolved_for)


def download_hashes(
    access: IndexAccess, fits: Callable[[str], bool], seen: dict[str, str]
) -> Callable[[str, str], str | None]:
    """``lock_from_report``'s ``hash_file`` for another machine's entry on an index that
    publishes no sha256: each file that ``fits`` that machine is downloaded through ``access``
    (this machine's mirror, the login only to the index's own origin), hashed and not kept;
    IndexAccessError when one cannot be.  ``seen`` (URL -> sha256) is shared by the entries
    resolving at once, so a file several of them lock is downloaded once (twice at worst,
    when two ask at the same moment: the same bytes, the same hash)."""

    def sha256(filename: str, url: str) -> str | None:
        if not fits(filename):
            return None
        if url not in seen:
            try:
                seen[url] = download_sha256(url, access)
            except IndexAccessError as error:  # say why a lock downloads at all
                raise IndexAccessError(
                    f"{error.what}, which the lock downloads to hash (the index publishes no"
                    " sha256)",
                    kept=error.kept,
                    next=error.next,
                ) from None
        return seen[url]

    return sha256


def resolve(
    backend: Backend,
    target: TargetEnv,
    access: IndexAccess,
    inputs: LockInputs,
    requirements: Iterable[str],
    *,
    verbose: bool = False,
    quiet: bool = False,
    known: Mapping[str, Listing] | None = None,
    wheelhouse: Path | None = None,
    origins: Mapping[str, str] | None = None,
) -> TorchLock:
    """What ``backend`` would install into an empty environment, with every published hash.

    ``known`` holds index pages already read in this run (the torch page, read to check that
    the index answers), so they are not fetched twice.  With a ``wheelhouse`` the closure is
    downloaded into it while resolving (see ``download_once.wheelhouse_needed``), for ``install_locked`` to
    install from; it stays empty when no pip could download.  ``origins``: the packages named
    by URL on another index (``service.family``), whose pages ``known`` holds.
    """
    request = Request.for_access(access, tuple(requirements), verbose=verbose)
    report = None
    loud = Request.for_access(access, tuple(requirements), quiet=quiet, verbose=verbose)
    if wheelhouse is not None:
        report = download_once.download_report(target, loud, wheelhouse)
    elif download_once.hashes_missing((known or {}).get("torch")):
        # the index gives no sha256 (nightly pages): download the closure to hash its bytes
        with tempfile.TemporaryDirectory(prefix="poetry-torch-hash-") as tmp:
            report = download_once.download_report(target, loud, Path(tmp))
    if report is None:
        report = backend.report(target, request)

    def listing_of(name: str) -> Listing | None:
        if known is not None and name in known:
            return known[name]
        try:
            return fetch_listing(access.url, name, access=access)
        except IndexAccessError:
            return None  # pip's report still names the file it chose, with its hash

    return lock_from_report(report, inputs, listing_of, access.as_written, origins)


def replay_failure(
    stderr: str, lock: TorchLock, index_url: str, target: TargetEnv, tool: str = "pip"
) -> InstallError:
    """The error of a failed ``--require-hashes`` install, from pip's or uv's error output."""
    shown = redact(index_url)
    # pip: "DO NOT MATCH THE HASHES"; uv 0.13: "Hash mismatch for `torch==...`", or, when the
    # bytes are not even a zip, "Failed to extract archive" / "Bad CRC" (uv 0.11 also "ZIP
    # local header filename ... does not use UTF-8 encoding") before any hash check.
    if re.search(
        r"DO NOT MATCH THE HASHES|Hash mismatch for|Failed to extract archive|Bad CRC"
        r"|ZIP local header",
        stderr,
        re.I,
    ):
        return InstallError(
            f"a file from {shown} does not match its sha256 in {LOCK_NAME} (or is not even a valid"
            " wheel)",
            kept="nothing was installed"
            + (
                " and the earlier build is still installed"
                if earlier_build(target, lock.pins())
                else ""
            ),
            next="The index or a proxy is serving a different file: retry, or use another mirror"
            " (run `poetry torch lock` only if the index really republished it).",
        )
    # pip: "Hashes are required in --require-hashes mode"; uv 0.13: "Hash-checking is
    # required, but no trusted hash was provided for: `setuptools`".
    if re.search(
        r"Hashes are required in --require-hashes mode"
        r"|Hash-checking is required, but no trusted hash",
        stderr,
    ):
        return InstallError(
            f"this environment needs a package that {LOCK_NAME} does not hold (the lock was"
            f" resolved for {lock.resolved_for or 'another environment'})",
            kept="nothing was installed",
            next="Run `poetry torch lock` with this environment's Python, then try again.",
        )
    return install_failure(stderr, Request(index_url, lock.pins()), target, tool, locked=True)


def install_locked(
    target: TargetEnv,
    lock: TorchLock,
    access: IndexAccess,
    *,
    backend: Backend | None = None,
    quiet: bool = False,
    verbose: bool = False,
    wheelhouse: Path | None = None,
    listing: Listing | None = None,
) -> tuple[str, ...]:
    """Install exactly the locked closure from the index (or from the ``wheelhouse`` that
    ``resolve`` filled, with no index), every file checked by sha256.

    ``listing`` is the index's torch page, when read: uv, given hashes to check on an index
    without PEP 658 metadata, downloads each wheel twice (once for its metadata), so there
    pip first downloads the locked files once, checked, and uv installs them with no index.

    Dependencies are not switched off (no ``--no-deps``): since every dependency is pinned
    and hashed, the installer needs nothing more, and a dependency the lock lacks (one this
    interpreter needs but the locking one did not) stops the install instead of coming in
    unchecked.  pip and uv get the same requirements file and ``--require-hashes``.
    """
    installer = backend if backend is not None else PipBackend()
    filled = wheelhouse is not None and any(wheelhouse.iterdir())
    # a package from another index than the source (PyPI's torchaudio) is named by its file's
    # URL; from a wheelhouse, by its pin as every other
    tags = None
    if not filled and any(package.index for package in lock.packages):
        tags = environment_tag_set(target.python)
    with tempfile.TemporaryDirectory(prefix="poetry-torch-") as tmp:
        requirements = Path(tmp) / "torch-requirements.txt"
        lines = requirement_lines(lock, tags=tags)
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        arguments = ("--require-hashes", "-r", str(requirements))
        request = Request.for_access(access, arguments, quiet=quiet, verbose=verbose)
        if filled:
            request = replace(request, find_links=str(wheelhouse))
        elif installer.name == "uv" and download_once.wheelhouse_needed(listing):
            house = Path(tmp) / "wheels"
            code, stderr = download_once.fetch_locked(target, request, house)
            if code != 0:
                raise replay_failure(stderr, lock, access.url, target, "pip")
            if any(house.iterdir()):
                request = replace(request, find_links=str(house))
        code, stderr = installer.run(target, request)
    if code != 0:
        raise replay_failure(stderr, lock, access.url, target, installer.name)
    return lock.pins()
