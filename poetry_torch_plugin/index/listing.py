"""The PyTorch index: its URL for a variant, and a light PEP 503 probe of what it publishes."""

from __future__ import annotations

import functools
import html
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import AccessRefusedError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import NotPublishedError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.index.access import IndexAccess


_ANCHOR = re.compile(r"<a\s[^>]*href=[\"']([^\"']+)[\"'][^>]*>", re.IGNORECASE)
_METADATA = re.compile(r"<a\s[^>]*\bdata-(?:core|dist-info)-metadata\b", re.IGNORECASE)


def source_url(index_base: str, variant: Variant) -> str:
    return f"{index_base.rstrip('/')}/{variant.index_name}"


@dataclass(frozen=True)
class Listing:
    """The wheels an index publishes for one project."""

    project: str
    url: str
    files: tuple[tuple[str, str], ...]  # (file name, sha256 or "")
    metadata: bool = False  # the page offers PEP 658 metadata (``data-core-metadata``)
    links: tuple[tuple[str, str], ...] = ()  # (file name, absolute URL), in page order

    @property
    def local(self) -> bool:
        """A ``file://`` index: reading its wheels costs no network."""
        return self.url.lower().startswith("file:")

    def versions(self) -> list[Version]:
        found = set()
        for filename, _ in self.files:
            try:
                _, version, _, _ = parse_wheel_filename(filename)
            except InvalidWheelFilename:
                continue
            found.add(version)
        return sorted(found)


def _parse_listing(project: str, url: str, body: str) -> Listing:
    files: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    for href in _ANCHOR.findall(body):
        href = html.unescape(href)
        path, _, fragment = href.partition("#")
        filename = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        files.append((filename, digest))
        links.append((filename, urllib.parse.urljoin(url, path)))
    metadata = _METADATA.search(body) is not None
    return Listing(project, url, tuple(files), metadata, tuple(links))


def _ssl_context(access: IndexAccess | None) -> ssl.SSLContext | None:
    if access is None or access.url.startswith("http:"):
        return None
    return _context(access.cert, access.client_cert, access.verify)


@functools.lru_cache(maxsize=4)
def _context(cafile: str | None, client_cert: str | None, verify: bool) -> ssl.SSLContext:
    """One context per trust setting: loading the CA bundle costs ~10 ms, and locking reads
    the page of every package in the closure."""
    context = ssl.create_default_context(cafile=cafile)
    if client_cert:
        context.load_cert_chain(client_cert)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


TIMEOUT_ENV = "POETRY_TORCH_TIMEOUT"


def _timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, "15")))
    except ValueError:
        return 15.0


class _DropLoginOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send the login only to the origin it was meant for: a redirect
    that changes scheme, host or port drops ``Authorization`` (as pip and requests do)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for key in [k for k in new.headers if k.lower() == "authorization"]:
                del new.headers[key]
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _open(request: urllib.request.Request, timeout: float, context: ssl.SSLContext | None) -> Any:
    handlers: list[urllib.request.BaseHandler] = [_DropLoginOnRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def open_url(
    url: str,
    access: IndexAccess | None,
    *,
    login_for: str,
    timeout: float | None = None,
    accept: str | None = None,
) -> Any:
    """GET ``url`` (an index page, a wheel, its ``.metadata``) with the index's certificates;
    the index's login goes along only when ``url`` has the origin of ``login_for`` (the index
    page it was linked from), and a redirect elsewhere drops it (``_DropLoginOnRedirect``)."""
    headers = {"Accept": accept} if accept else {}
    auth = access.basic_auth() if access else None
    if auth is not None and _origin(url) == _origin(login_for):
        import base64

        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    return _open(request, _timeout() if timeout is None else timeout, _ssl_context(access))


def fetch_listing(
    index_url: str, project: str, *, timeout: float | None = None, access: IndexAccess | None = None
) -> Listing:
    """GET ``<index>/<project>/`` and parse its anchors; IndexAccessError with a one-line reason."""
    timeout = _timeout() if timeout is None else timeout
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
                f"the index {redact(index_url)} refused access (HTTP {exc.code});"
                " pyproject.toml and the installed build were left untouched. Set credentials"
                " with `poetry config http-basic.<source> USER`, then run the command again."
            ) from None
        if exc.code == 404:
            raise NotPublishedError(
                f"the index {redact(index_url)} does not publish {project} (HTTP 404 for {shown});"
                " pyproject.toml and the installed build were left untouched. Check the variant"
                " with `poetry torch check`, then run `poetry torch install --cuda X.Y` with one"
                " it publishes."
            ) from None
        raise IndexAccessError(
            f"the index {redact(index_url)} answered HTTP {exc.code} for {shown};"
            " pyproject.toml and the installed build were left untouched."
            " Run `poetry torch install` again later, or with --index-base pointing at a mirror."
        ) from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise IndexAccessError(
            f"cannot reach the index {redact(index_url)} ({reason});"
            " pyproject.toml and the installed build were left untouched."
            " Check the network or proxy (or point --index-base at a mirror), then run"
            " `poetry torch install` again."
        ) from None
    return _checked(_parse_listing(project, url, body))


def _checked(listing: Listing) -> Listing:
    shown = redact(listing.url)
    if not listing.files:
        raise IndexAccessError(
            f"{shown} is not a package index page (no links to files);"
            " pyproject.toml and the installed build were left untouched."
            " Check the index URL (a proxy login page?) and run the command again."
        )
    return listing


def _read_local(index_url: str, project: str, url: str) -> str:
    """A ``file://`` index page, read as pip reads it: ``<index>/<project>/index.html``."""
    from pathlib import Path

    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise IndexAccessError(
            f"the file index {redact(index_url)} names a host ({parts.netloc}); pyproject.toml"
            " and the installed build were left untouched. Use file:///absolute/path (three"
            " slashes), then run the command again."
        )
    folder = Path(urllib.request.url2pathname(parts.path))
    page = folder / "index.html"
    try:
        return page.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise NotPublishedError(
            f"the index {redact(index_url)} does not publish {project} (there is no {page});"
            " pyproject.toml and the installed build were left untouched. A file:// index is a"
            " PEP 503 tree (<index>/<project>/index.html linking the wheels): check the"
            " folder, then run the command again."
        ) from None
    except OSError as exc:
        raise IndexAccessError(
            f"cannot read the local index {redact(index_url)} ({page}: {exc.strerror or exc});"
            " pyproject.toml and the installed build were left untouched. Check the folder's"
            " permissions, then run the command again."
        ) from None


def fetch_requires(
    listing: Listing, version: str, *, access: IndexAccess | None = None
) -> list[str] | None:
    """The ``Requires-Dist`` lines of ``version``, from the index's PEP 658 metadata file (a
    few kB; never the wheel).  None when the index offers no metadata or it cannot be read:
    the caller decides what an unknown dependency list means."""
    if not listing.metadata:
        return None
    wanted = Version(version)
    for filename, link in listing.links:
        try:
            _, found, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if found != wanted:
            continue
        try:
            with open_url(f"{link}.metadata", access, login_for=listing.url) as response:
                text = response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError):
            return None
        from email.parser import HeaderParser

        return list(HeaderParser().parsestr(text).get_all("Requires-Dist") or [])
    return None
