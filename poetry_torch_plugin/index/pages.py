"""The PyTorch index's pages: its URL for a variant, a light PEP 503 read of what it
publishes, whether it publishes a wheel of every configured package for the target, and the
download of one file checked against its sha256.

What the configured index really publishes for one variant (issue 13 item 2): the pages are read
once per command run (``IndexPages`` keeps them), so ``--cuda auto`` trying several candidates
and the check before the download share every read.

A downloaded file lands under its final name only once its hash matched (a ``.part`` file is
written first and renamed), so a folder never holds a half-written or tampered wheel."""

from __future__ import annotations

import hashlib
import html
import os
import re
import secrets
import socket
import urllib.error
import urllib.parse
import urllib.request

from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import AccessRefusedError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import NotPublishedError
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.access import open_url
from poetry_torch_plugin.index.access import request_timeout


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Iterator
    from collections.abc import Mapping
    from pathlib import Path
    from typing import BinaryIO

    from packaging.specifiers import SpecifierSet

    from poetry_torch_plugin.core.variants import Variant


# what an index that cannot be read leaves as it was
_UNTOUCHED = "pyproject.toml and the installed build were left untouched"

_TAG = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"(?<![\w-])href\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
# PEP 658's attribute and PEP 714's new name for it: ``true``, or ``<hash name>=<hex>``
_OFFERED = re.compile(
    r"(?<![\w-])data-(core|dist-info)-metadata"
    r"(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?",
    re.IGNORECASE,
)


def source_url(index_base: str, variant: Variant) -> str:
    return f"{index_base.rstrip('/')}/{variant.index_name}"


@record
class Listing:
    """The wheels an index publishes for one project."""

    project: str
    url: str
    files: tuple[tuple[str, str], ...]  # (file name, sha256 or "")
    metadata: bool = False  # the page offers PEP 658 metadata (``data-core-metadata``)
    links: tuple[tuple[str, str], ...] = ()  # (file name, absolute URL), in page order
    # the files whose PEP 658 metadata the page offers: (file name, its sha256, or "" where the
    # page says only ``true``); a file not named here has none
    offered: tuple[tuple[str, str], ...] = ()

    @property
    def local(self) -> bool:
        """A ``file://`` index: reading its wheels costs no network."""
        return self.url.lower().startswith("file:")

    def versions(self, target: WheelTarget | None = None) -> list[Version]:
        """The versions the page lists wheels of, oldest first; with ``target``, only those
        with a wheel for that interpreter."""
        found = set()
        for filename, _ in self.files:
            try:
                _, version, _, tags = parse_wheel_filename(filename)
            except InvalidWheelFilename:
                continue
            if target is None or any(str(tag) in target.tags for tag in tags):
                found.add(version)
        return sorted(found)


def _parse_listing(project: str, url: str, body: str) -> Listing:
    files: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    offered: list[tuple[str, str]] = []
    for tag in _TAG.findall(body):
        found = _HREF.search(tag)
        if found is None:
            continue
        href = html.unescape(found.group(1))
        path, _, fragment = href.partition("#")
        filename = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        files.append((filename, digest))
        links.append((filename, urllib.parse.urljoin(url, path)))
        metadata = _metadata_offered(tag)
        if metadata is not None:
            offered.append((filename, metadata))
    return Listing(project, url, tuple(files), bool(offered), tuple(links), tuple(offered))


def _metadata_offered(tag: str) -> str | None:
    """Whether one anchor offers its file's PEP 658 metadata: its sha256 (lower-case hex),
    "" when the page says ``true`` (or names another hash), None when it offers none.  PEP 714:
    ``data-core-metadata`` wins over the older ``data-dist-info-metadata``."""
    values: dict[str, str] = {}
    for name, double, single, bare in _OFFERED.findall(tag):
        values.setdefault(name.lower(), html.unescape(double or single or bare or "true"))
    value = values.get("core", values.get("dist-info"))
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "true":
        return ""
    algorithm, sep, digest = value.partition("=")
    if not sep:
        return None  # ``false`` or anything else PEP 658 does not define: none offered
    return digest.strip().lower() if algorithm.strip().lower() == "sha256" else ""


def fetch_listing(
    index_url: str, project: str, *, timeout: float | None = None, access: IndexAccess | None = None
) -> Listing:
    """GET ``<index>/<project>/`` and parse its anchors; IndexAccessError with a one-line reason."""
    timeout = request_timeout() if timeout is None else timeout
    url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    shown = redact(url)
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        return _checked(_parse_listing(project, url, _read_local(index_url, project, url)))
    try:
        with open_url(url, access, login_for=url, timeout=timeout, accept="text/html") as response:
            body = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AccessRefusedError(
                f"the index {redact(index_url)} refused access (HTTP {exc.code})",
                kept=_UNTOUCHED,
                next="Set credentials with `poetry config http-basic.<source> USER`, then run the"
                " command again.",
            ) from None
        if exc.code == 404:
            raise NotPublishedError(
                f"the index {redact(index_url)} does not publish {project} (HTTP 404 for {shown})",
                kept=_UNTOUCHED,
                next="Check the variant with `poetry torch check`, then run `poetry torch install"
                " --cuda X.Y` with one it publishes.",
                project=project,
            ) from None
        raise IndexAccessError(
            f"the index {redact(index_url)} answered HTTP {exc.code} for {shown}",
            kept=_UNTOUCHED,
            next="Run `poetry torch install` again later, or with --index-base pointing at a"
            " mirror.",
        ) from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexAccessError(
            f"cannot reach the index {redact(index_url)} ({reason})",
            kept=_UNTOUCHED,
            next="Check the network or proxy (or point --index-base at a mirror), then run"
            " `poetry torch install` again.",
        ) from None
    return _checked(_parse_listing(project, url, body))


def _checked(listing: Listing) -> Listing:
    shown = redact(listing.url)
    if not listing.files:
        raise IndexAccessError(
            f"{shown} is not a package index page (no links to files)",
            kept=_UNTOUCHED,
            next="Check the index URL (a proxy login page?) and run the command again.",
        )
    return listing


def _read_local(index_url: str, project: str, url: str) -> str:
    """A ``file://`` index page, read as pip reads it: ``<index>/<project>/index.html``."""
    from pathlib import Path

    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise IndexAccessError(
            f"the file index {redact(index_url)} names a host ({parts.netloc})",
            kept=_UNTOUCHED,
            next="Use file:///absolute/path (three slashes), then run the command again.",
        )
    folder = Path(urllib.request.url2pathname(parts.path))
    page = folder / "index.html"
    try:
        return page.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise NotPublishedError(
            f"the index {redact(index_url)} does not publish {project} (there is no {page})",
            kept=_UNTOUCHED,
            next="A file:// index is a PEP 503 tree (<index>/<project>/index.html linking the"
            " wheels): check the folder, then run the command again.",
            project=project,
        ) from None
    except OSError as exc:
        raise IndexAccessError(
            f"cannot read the local index {redact(index_url)} ({page}: {exc.strerror or exc})",
            kept=_UNTOUCHED,
            next="Check the folder's permissions, then run the command again.",
        ) from None


def fetch_requires(
    listing: Listing,
    version: str,
    *,
    access: IndexAccess | None = None,
    note: Callable[[str], None] | None = None,
) -> list[str] | None:
    """The ``Requires-Dist`` lines of ``version``, from the index's PEP 658 metadata file (a
    few kB; never the wheel) of the first file of that version whose page offers one.  None
    when no such file offers metadata, it cannot be read, or its bytes do not match the sha256
    the page gives (PyTorch issue 197552: such a file is never trusted, and ``note`` hears one
    line on it): the caller decides what an unknown dependency list means."""
    offered = dict(listing.offered)
    if not offered:
        return None
    wanted = Version(version)
    for filename, link in listing.links:
        if filename not in offered:
            continue
        try:
            _, found, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if found != wanted:
            continue
        try:
            with open_url(f"{link}.metadata", access, login_for=listing.url) as response:
                body = response.read()
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError):
            return None
        expected = offered[filename]
        got = hashlib.sha256(body).hexdigest()
        if expected and got != expected:
            if note is not None:
                note(
                    f"the index's metadata for {filename} did not match its sha256 on the page"
                    f" (got {got[:16]}…, the page gives {expected[:16]}…): it was not used"
                )
            return None
        from email.parser import HeaderParser

        text = body.decode("utf-8", "replace")
        return list(HeaderParser().parsestr(text).get_all("Requires-Dist") or [])
    return None


def release_requires(
    listing: Listing,
    version: Version,
    target: WheelTarget | None,
    *,
    access: IndexAccess | None = None,
    note: Callable[[str], None] | None = None,
) -> list[str] | None:
    """The ``Requires-Dist`` lines of ``version``: from its PEP 658 metadata where the page
    offers it for a file of that version and the metadata matches its sha256 there, else from
    one of its wheels for ``target`` (downloaded to a temporary folder, checked against the
    page's sha256 when it gives one).  None when neither can be read.  ``note`` hears one line
    for metadata that did not match its sha256 (``fetch_requires``)."""
    found = fetch_requires(listing, str(version), access=access, note=note)
    if found is not None:
        return found
    import tempfile
    import zipfile

    from email.parser import HeaderParser
    from pathlib import Path

    digests = dict(listing.files)
    for filename, link in listing.links:
        try:
            _, found_version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if found_version != version:
            continue
        if target is not None and not any(str(tag) in target.tags for tag in tags):
            continue
        with tempfile.TemporaryDirectory(prefix="poetry-torch-metadata-") as tmp:
            wheel = Path(tmp) / filename
            try:
                if digests.get(filename):
                    download_verified(link, wheel, digests[filename], access)
                else:
                    with _source(link, access) as stream:
                        wheel.write_bytes(stream.read())
                with zipfile.ZipFile(wheel) as archive:
                    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
                    text = archive.read(name).decode("utf-8", "replace")
            except (IndexAccessError, OSError, zipfile.BadZipFile, StopIteration):
                return None
        return list(HeaderParser().parsestr(text).get_all("Requires-Dist") or [])
    return None


@record
class WheelTarget:
    """The interpreter the packages are for: its wheel tags, most specific first, and a short
    name for messages (``cp312 linux_x86_64``)."""

    short: str
    tags: frozenset[str]

    @classmethod
    def here(cls) -> WheelTarget:
        """The interpreter this process runs on (when the project has no environment yet)."""
        import sys
        import sysconfig

        from packaging.tags import interpreter_name
        from packaging.tags import sys_tags

        short = f"{interpreter_name()}{sys.version_info[0]}{sys.version_info[1]}"
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return cls(f"{short} {platform}", frozenset(str(tag) for tag in sys_tags()))


def wanted_packages(requirements: Iterable[str]) -> dict[str, SpecifierSet]:
    """``{name: specifier}`` of the requirements that parse; a later one for the same name
    wins (a pin on the command line over the configured one)."""
    wanted: dict[str, SpecifierSet] = {}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        wanted[canonicalize_name(requirement.name)] = requirement.specifier
    return wanted


def has_wheel(listing: Listing, specifier: SpecifierSet, target: WheelTarget | None) -> bool:
    """Whether the page links a wheel whose version the specifier admits (pre-releases too:
    the test and nightly channels publish nothing else) and one of whose tags the target
    supports; with no target known, any wheel of an admitted version."""
    return next(_admitted(listing, specifier, target), None) is not None


def _admitted(
    listing: Listing, specifier: SpecifierSet | None, target: WheelTarget | None
) -> Iterator[Version]:
    """The version of each wheel the page links that the specifier admits (pre-releases
    too) and the target installs (any, with no target known)."""
    for filename, _ in listing.files:
        try:
            _, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if specifier and not specifier.contains(version, prereleases=True):
            continue
        if target is None or any(str(tag) in target.tags for tag in tags):
            yield version


def newest_admitted(
    listing: Listing, specifier: SpecifierSet | None, target: WheelTarget | None
) -> str | None:
    """The newest version (public part: ``2.8.0`` of ``2.8.0+cu129``) the page links a wheel of
    that the specifier admits and the target installs; a final release before a pre-release
    (the test and nightly channels publish only those).  None when there is none."""
    found = set(_admitted(listing, specifier, target))
    finals = [version for version in found if not version.is_prerelease]
    newest = max(finals or found, default=None)
    return newest.public if newest is not None else None


class IndexPages:
    """The pages of one command run, keyed by index URL and project; ``access`` gives the
    login and certificates for an index URL."""

    def __init__(self, access: Callable[[str], IndexAccess]) -> None:
        self._access = access
        self._pages: dict[tuple[str, str], Listing | None] = {}
        self._errors: dict[tuple[str, str], NotPublishedError] = {}
        # index URL -> the URL read for it (a mirror's, ``IndexAccess.mirror``)
        self._read_at: dict[str, str] = {}

    def page(self, index_url: str, project: str) -> Listing | None:
        """The project's page; None when the index has none (HTTP 404).  Any other failure
        raises IndexAccessError (unreachable, refused, not an index)."""
        key = (index_url.rstrip("/"), canonicalize_name(project))
        if key not in self._pages:
            access = self._access(key[0])
            self._read_at[key[0]] = access.url
            try:
                self._pages[key] = fetch_listing(access.url, project, access=access)
            except NotPublishedError as exc:
                self._pages[key] = None
                self._errors[key] = exc
            except AccessRefusedError:
                # An index that served a sibling page with the same login and now refuses
                # this one is S3 saying "no such key" (download.pytorch.org answers 403 so).
                if not any(url == key[0] and page for (url, _), page in self._pages.items()):
                    raise
                self._pages[key] = None
        return self._pages[key]

    def known(self, index_url: str, project: str, listing: Listing) -> None:
        """A page this run already read elsewhere (the install's torch page)."""
        self._pages[(index_url.rstrip("/"), canonicalize_name(project))] = listing

    def not_published(self, index_url: str, project: str) -> NotPublishedError | None:
        """The index's own one-line answer for a page it does not have (HTTP 404, or no
        folder), once ``page`` has found it missing."""
        return self._errors.get((index_url.rstrip("/"), canonicalize_name(project)))

    @property
    def read(self) -> int:
        """How many pages were read (or found missing) so far."""
        return len(self._pages)

    def missing(
        self,
        index_url: str,
        wanted: Mapping[str, SpecifierSet],
        target: WheelTarget | None,
    ) -> Missing | None:
        """Why ``index_url`` cannot serve every wanted package (``str()`` of it says so in a
        few words); None when it can.  Pages are read in order and stop at the first that
        fails; IndexAccessError when one cannot be read.  The index named is the URL read
        (a mirror's, when ``POETRY_TORCH_INDEX_BASE`` stands in for ``index_url``)."""
        for name, specifier in wanted.items():
            listing = self.page(index_url, name)
            shown = redact(self._read_at.get(index_url.rstrip("/"), index_url.rstrip("/")))
            if listing is None:
                return Missing(name, "", UNPUBLISHED, shown)
            if specifier and not has_wheel(listing, specifier, None):
                versions = ", ".join(str(v) for v in listing.versions()[-4:])
                return Missing(name, str(specifier), NO_VERSION, shown, versions or "none")
            if not has_wheel(listing, specifier, target):
                where = target.short if target is not None else "any platform"
                return Missing(name, str(specifier), NO_WHEEL, shown, where)
        return None


UNPUBLISHED = "unpublished"  # the index has no page for the package
NO_VERSION = "no-version"  # no version the specifier admits (detail: the newest few)
NO_WHEEL = "no-wheel"  # no wheel for the target (detail: the target's short name)


@record
class Missing:
    """Why an index cannot serve one wanted package: ``kind`` is UNPUBLISHED, NO_VERSION or
    NO_WHEEL; ``str()`` says it in a few words (``torchaudio is not published on <index>``,
    ``torch==2.9.0 has no wheel for cp312 linux_x86_64``)."""

    package: str
    specifier: str
    kind: str
    index: str  # redacted, as printed
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == UNPUBLISHED:
            return f"{self.package} is not published on {self.index}"
        if self.kind == NO_VERSION:
            return (
                f"{self.package}{self.specifier} matches no version on {self.index}"
                f" (newest: {self.detail})"
            )
        return f"{self.package}{self.specifier} has no wheel for {self.detail}"


_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(url: str, dest: Path, sha256: str, access: IndexAccess | None) -> int:
    """Write ``url`` to ``dest`` if its content hashes to ``sha256``; return the bytes read.

    IndexAccessError (one line) when the index cannot be read or the hash differs; ``dest``
    is then left as it was (absent)."""
    # one .part per download: two machines filling one shared folder never write into the
    # same file (each verifies its own stream, so a shared .part could be renamed mixed)
    part = dest.with_name(f"{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as out:
            got, size = _read(url, access, dest.name, out.write)
    except (IndexAccessError, OSError) as exc:  # (OSError: the .part cannot be created)
        part.unlink(missing_ok=True)
        raise IndexAccessError(
            exc.what
            if isinstance(exc, IndexAccessError)
            else f"cannot download {dest.name} from {_shown(url)} ({exc.strerror or exc})",
            kept=f"the files already in {dest.parent} were kept",
            next="Check the network, then run the command again.",
        ) from None
    except BaseException:  # Ctrl-C: no half-written .part is left behind
        part.unlink(missing_ok=True)
        raise
    if got != sha256:
        part.unlink(missing_ok=True)
        raise IndexAccessError(
            f"{dest.name} from {_shown(url)} does not match its sha256 in poetry-torch.lock"
            f" (got {got[:16]}…, locked {sha256[:16]}…)",
            kept="it was not kept",
            next="The index or a proxy serves another file: check it, or run `poetry torch lock` if"
            " the index really changed.",
        )
    try:
        part.replace(dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise IndexAccessError(
            f"cannot write {dest} ({exc.strerror or exc})",
            kept=f"the files already in {dest.parent} were kept",
            next="Make the folder and its files writable, then run the command again.",
        ) from None
    return size


def download_sha256(url: str, access: IndexAccess | None) -> str:
    """The sha256 of the bytes at ``url``, read through ``access`` (its login only to the
    index's own origin) and kept nowhere: another machine's file, hashed for the lock where
    the index publishes no sha256.  IndexAccessError (one line) when it cannot be read."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    return _read(url, access, name, lambda chunk: None)[0]


def _read(
    url: str, access: IndexAccess | None, name: str, out: Callable[[bytes], object]
) -> tuple[str, int]:
    """(sha256 hex, size) of the bytes at ``url``, each chunk handed to ``out``;
    IndexAccessError when it cannot be read (or ``out`` cannot write)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with _source(url, access) as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out(chunk)
                size += len(chunk)
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise IndexAccessError(
            f"cannot download {name} from {_shown(url)} ({reason})",
            kept="nothing was written",
            next="Check the network, then run the command again.",
        ) from None
    return digest.hexdigest(), size


def _shown(url: str) -> str:
    """The URL to print: login masked, and no query or fragment, where a signed link (an
    object store's ``?X-Amz-Signature=…``) carries a credential of its own."""
    return redact(urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl())


def _source(url: str, access: IndexAccess | None) -> BinaryIO:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "file":
        return open(urllib.request.url2pathname(parts.path), "rb")  # noqa: PTH123
    # the login goes only to the index's own origin, as for pages and .metadata files
    response: BinaryIO = open_url(url, access, login_for=access.url if access else url)
    return response
