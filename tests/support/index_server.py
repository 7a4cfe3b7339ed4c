"""A real HTTP server on 127.0.0.1 serving a wheel tree as PEP 503 simple indexes.

URL layout (``root`` as written by ``tests.support.wheels.build_torch_universe``)::

    /whl/                       the list of PyTorch-style indexes (``root/whl/*``)
    /whl/<idx>/                 PEP 503 project list of ``root/whl/<idx>``
    /whl/<idx>/<project>/       links to that project's wheels
    /whl/<idx>/<file>           a wheel; ``<file>.metadata`` is its PEP 658 metadata
    /whl/test/<idx>/, /whl/nightly/<idx>/   the same for ``root/whl/<channel>/<idx>``
    /pypi/simple/               PEP 503 project list of ``root/pypi``
    /pypi/simple/<project>/     links to that project's wheels
    /pypi/files/<file>          a wheel (and ``<file>.metadata``)

Links are absolute paths with the filename percent-encoded (``torch-2.8.0%2Bcu129-...``) and a
``#sha256=`` fragment. A project name that is not PEP 503 normalized, or a directory URL without
its trailing slash, gets a 301 to the canonical URL.

``real=True`` serves the ``/whl/`` indexes exactly as PyTorch's 2026 pages are written
(pytorch/test-infra ``s3_management/manage_v2.py``): no ``<head>``, ``<h1>Links for …</h1>``, a
``<!--TIMESTAMP …-->`` trailer after ``</html>``; torch, torchvision and torchaudio linked
absolutely to a second loopback origin (``files_url``, standing in for
https://download-r2.pytorch.org; it serves the same tree, and never asks for a login), every
other package root-relative (``/whl/cu129/nvidia_…whl``), and the index's own origin
answers 404 for a foundation file (``{index}/{file}`` is not where it lives); both metadata attributes
(``data-dist-info-metadata`` and ``data-core-metadata``) on the foundation packages' files only
(the others' ``.metadata`` is a 404), ``data-upload-time`` on every file, no
``data-requires-python``; no ``#sha256=`` on nightly pages; the test channel links every file
root-relative.

Faults, basic auth and the request log are set per server at run time and are thread-safe.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import re
import sys
import threading
import time
import zipfile

from dataclasses import dataclass
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Literal
from typing import TypeVar
from typing import cast
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit


if TYPE_CHECKING:
    from types import TracebackType

FaultMode = Literal["404", "500", "slow", "html", "tamper", "drop", "nohash", "badmeta"]
FAULT_MODES: tuple[FaultMode, ...] = (
    "404",
    "500",
    "slow",
    "html",
    "tamper",
    "drop",
    "nohash",
    "badmeta",
)

# What a hotel or airport network answers instead of the page asked for.
CAPTIVE_PORTAL_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>\n"
    b"<body><h1>Welcome!</h1><p>Please accept the terms of use to continue.</p>"
    b"<form method='post'><button>Accept</button></form></body></html>\n"
)
_HTML = "text/html; charset=utf-8"
_T = TypeVar("_T")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server answered it.

    ``path`` is percent-decoded, without the query string. ``status`` is 0 for a dropped
    connection. ``bytes_sent`` counts the response body only (0 for HEAD). A record is added
    just before its body is written, so a request held by a ``slow`` fault appears only when
    its delay is over, whether or not the client is still waiting.  ``agent`` is the
    User-Agent header (``pip/25.2 ...``, ``uv/0.13.9``, ``poetry/2.5.1``, ``Python-urllib/3.11``).
    ``authorization`` is the Authorization header as received ("" when none).
    """

    method: str
    path: str
    status: int
    bytes_sent: int
    agent: str = ""
    authorization: str = ""


@dataclass(frozen=True)
class _Fault:
    mode: FaultMode
    delay: float


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _longest_prefix(path: str, table: dict[str, _T]) -> _T | None:
    best = max((p for p in table if path.startswith(p)), key=len, default=None)
    return None if best is None else table[best]


@dataclass(frozen=True)
class _Index:
    """One directory of wheels and the URL prefixes its pages and files live under."""

    directory: Path
    pages: str
    files: str

    def projects(self) -> dict[str, list[Path]]:
        grouped: dict[str, list[Path]] = {}
        for wheel in sorted(self.directory.glob("*.whl")):
            grouped.setdefault(_normalize(wheel.name.split("-", 1)[0]), []).append(wheel)
        return grouped


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        *,
        metadata: bool,
        ranges: bool = True,
        cache: bool = False,
        real: bool = False,
        shares: _Server | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.root = root
        self.metadata = metadata
        self.ranges = ranges
        self.cache = cache
        self.real = real
        self.files_origin = ""  # real shape: where the foundation packages' links point
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.faults: dict[str, _Fault] = {}
        self.auth: dict[str, str] = {}  # prefix -> expected Authorization header
        self.redirects: dict[str, str] = {}  # prefix -> the server URL to send requests to
        self.aliases: dict[str, str] = {}  # /whl/<name>/ served from root/whl/<other>
        self.log: list[RequestRecord] = []
        self.arrivals: list[str] = []  # every request's path as it arrives (before any fault)
        self.generation = 0  # bumped by reset(): a request held from before it is dropped
        self._info: dict[tuple[Path, int, int], tuple[str, bytes, str | None]] = {}
        if shares is not None:
            # the second origin of the real shape: one log, one set of faults and aliases
            # with the index's own origin, but its own (empty) logins and redirects
            self.lock, self.stopping = shares.lock, shares.stopping
            self.faults, self.aliases = shares.faults, shares.aliases
            self.log, self.arrivals = shares.log, shares.arrivals
            self._info = shares._info

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hang up mid-response (timeouts, dropped faults); that is not worth a traceback.
        return

    def wheel_info(self, wheel: Path) -> tuple[str, bytes, str | None]:
        """(sha256 hex, METADATA bytes, Requires-Python) of ``wheel``, cached by mtime and size."""
        stat = wheel.stat()
        key = (wheel, stat.st_mtime_ns, stat.st_size)
        with self.lock:
            cached = self._info.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        with zipfile.ZipFile(wheel) as archive:
            name = next(
                n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)
            )
            metadata = archive.read(name)
        requires_python = HeaderParser().parsestr(metadata.decode("utf-8")).get("Requires-Python")
        info = (digest, metadata, requires_python)
        with self.lock:
            self._info[key] = info
        return info

    def index_for(self, parts: list[str]) -> tuple[_Index, list[str]] | None:
        """The index a request path (split on ``/``) points into, and the segments after it."""
        if len(parts) >= 3 and parts[0] == "whl" and parts[1] in ("test", "nightly") and parts[2]:
            # a channel's index (``/whl/nightly/cu130/``), from ``root/whl/nightly/cu130``
            directory = self.root / "whl" / parts[1] / parts[2]
            prefix = f"/whl/{parts[1]}/{parts[2]}/"
            if directory.is_dir():
                return _Index(directory, prefix, prefix), parts[3:]
        if len(parts) >= 2 and parts[0] == "whl" and parts[1]:
            with self.lock:
                served = self.aliases.get(parts[1], parts[1])
            directory = self.root / "whl" / served
            prefix = f"/whl/{parts[1]}/"
            if directory.is_dir():
                return _Index(directory, prefix, prefix), parts[2:]
        if len(parts) >= 2 and parts[0] == "pypi" and parts[1] in ("simple", "files"):
            index = _Index(self.root / "pypi", "/pypi/simple/", "/pypi/files/")
            if index.directory.is_dir():
                return index, parts[1:]
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as pip and Poetry use real indexes
    # The headers and the body go out in two writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK of the headers (40 ms on Linux) on every kept-alive response.
    disable_nagle_algorithm = True
    _path = ""

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    # -- plumbing --------------------------------------------------------------------------

    def _record(self, status: int, sent: int) -> None:
        with self.server.lock:
            agent = self.headers.get("User-Agent", "")
            login = self.headers.get("Authorization", "")
            record = RequestRecord(self.command, self._path, status, sent, agent, login)
            self.server.log.append(record)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = _HTML,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        # Logged before the body goes out: a client that has read the response can rely on
        # finding it in the log.
        self._record(status, 0 if self.command == "HEAD" else len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(
            status, f"<html><body><h1>{status} {html.escape(message)}</h1></body></html>\n".encode()
        )

    def _redirect(self, location: str) -> None:
        self._send(301, b"", headers={"Location": location})

    # -- the request -----------------------------------------------------------------------

    def _answer(self) -> None:
        self._path = unquote(urlsplit(self.path).path)
        with self.server.lock:
            self.server.arrivals.append(self._path)
            fault = _longest_prefix(self._path, self.server.faults)
            expected_auth = _longest_prefix(self._path, self.server.auth)
            elsewhere = _longest_prefix(self._path, self.server.redirects)
        if fault is not None:
            if fault.mode == "drop":
                self.close_connection = True
                self._record(0, 0)
                return
            if fault.mode == "slow":
                generation = self.server.generation
                until = time.monotonic() + fault.delay
                while time.monotonic() < until and not self.server.stopping.is_set():
                    with self.server.lock:  # one look at both (reset bumps generation first)
                        over = self.server.generation != generation
                        lifted = all(f is not fault for f in self.server.faults.values())
                    if over:
                        # the test that held it is over: never answer into the next one's log
                        self.close_connection = True
                        return
                    if lifted:  # clear_faults alone: the test is done holding it, answer now
                        break
                    self.server.stopping.wait(0.1)
            elif fault.mode == "404":
                self._error(404, "injected fault")
                return
            elif fault.mode == "500":
                # "Retry-After: 0": clients that honour it (Poetry's own HTTP client) retry as
                # often as they would, without sleeping between tries
                self._send(
                    500,
                    b"<html><body><h1>500 injected fault</h1></body></html>\n",
                    headers={"Retry-After": "0"},
                )
                return
            elif fault.mode == "html":
                self._send(200, CAPTIVE_PORTAL_PAGE)
                return
        given = self.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if expected_auth is not None and not hmac.compare_digest(given, expected_auth.encode()):
            self._send(
                401,
                b"401 Unauthorized\n",
                "text/plain",
                {"WWW-Authenticate": 'Basic realm="fake index"'},
            )
            return
        if elsewhere is not None:
            self._send(302, b"", headers={"Location": elsewhere + self.path})
            return
        mode = fault.mode if fault is not None else None
        self._route(tamper=mode == "tamper", nohash=mode == "nohash", badmeta=mode == "badmeta")

    def _route(self, *, tamper: bool, nohash: bool = False, badmeta: bool = False) -> None:
        path = self._path
        if path in ("/whl", "/pypi/simple"):
            self._redirect(path + "/")
            return
        whl = self.server.root / "whl"
        if path == "/whl/" and whl.is_dir():
            names = sorted(p.name for p in whl.iterdir() if p.is_dir())
            self._send(200, _page("PyTorch-style indexes", [(f"/whl/{n}/", n, {}) for n in names]))
            return
        found = self.server.index_for(path.lstrip("/").split("/"))
        if found is None:
            self._error(404, "no such index")
            return
        index, rest = found
        if index.pages == index.files and len(rest) == 0:
            self._redirect(index.pages)  # /whl/cu129 -> /whl/cu129/
            return
        if index.pages != index.files:
            section, rest = rest[0], rest[1:]  # "simple" or "files"
            if section == "files":
                self._file(index, rest, tamper=tamper, badmeta=badmeta)
                return
        if rest in ([], [""]):
            projects = sorted(index.projects())
            if self.server.real and index.pages == index.files:
                self._send(200, _real_projects(projects))
                return
            self._send(
                200, _page("Simple index", [(f"{index.pages}{p}/", p, {}) for p in projects])
            )
            return
        if (
            index.pages == index.files
            and len(rest) == 1
            and (index.directory / _strip_metadata(rest[0])).is_file()
        ):
            self._file(index, rest, tamper=tamper, badmeta=badmeta)
            return
        self._project(index, rest, nohash=nohash)

    def _project(self, index: _Index, rest: list[str], *, nohash: bool = False) -> None:
        name = rest[0]
        if len(rest) > 2 or rest[1:] not in ([], [""]):
            self._error(404, "no such page")
            return
        if name != _normalize(name) or len(rest) == 1:
            self._redirect(f"{index.pages}{_normalize(name)}/")
            return
        wheels = index.projects().get(name)
        if not wheels:
            self._error(404, f"no project named {name}")
            return
        if self.server.real and index.pages == index.files:
            self._send(200, _real_page(self.server, index, name, wheels))
            return
        links = []
        for wheel in wheels:
            digest, metadata, requires_python = self.server.wheel_info(wheel)
            attributes: dict[str, str] = {}
            if requires_python:
                attributes["data-requires-python"] = requires_python
            if self.server.metadata:
                metadata_hash = f"sha256={hashlib.sha256(metadata).hexdigest()}"
                attributes["data-dist-info-metadata"] = metadata_hash
                attributes["data-core-metadata"] = metadata_hash
            # nohash: no #sha256= fragment, as on PyTorch's nightly pages
            href = f"{index.files}{quote(wheel.name)}" + ("" if nohash else f"#sha256={digest}")
            links.append((href, wheel.name, attributes))
        self._send(200, _page(f"Links for {name}", links))

    def _file(self, index: _Index, rest: list[str], *, tamper: bool, badmeta: bool = False) -> None:
        if len(rest) != 1 or not rest[0]:
            self._error(404, "no such file")
            return
        wheel = index.directory / _strip_metadata(rest[0])
        if not wheel.is_file() or (
            self.server.files_origin
            and index.pages == index.files
            and _real_origin(index, wheel.name) == "R2"
        ):
            # the real shape's foundation files live on the second origin only
            self._error(404, "no such file")
            return
        real = self.server.real and index.pages == index.files  # a /whl/ index, not PyPI's
        if rest[0].endswith(".metadata"):
            if not self.server.metadata or (real and _real_origin(index, wheel.name) is None):
                self._error(404, "no such file")
                return
            metadata = self.server.wheel_info(wheel)[1]
            if badmeta:
                metadata = _corrupted(metadata, self.server.wheel_info(wheel)[0])
            self._send(200, metadata, "text/plain; charset=utf-8")
            return
        cached: dict[str, str] = {}
        if self.server.cache:
            cached = _cache_headers(f'"{self.server.wheel_info(wheel)[0]}"')
            if cached["ETag"] in self.headers.get("If-None-Match", ""):
                self._send(304, b"", "application/octet-stream", cached)
                return
        body = wheel.read_bytes()
        if tamper:
            changed = bytearray(body)
            changed[len(changed) // 2] ^= 0xFF
            body = bytes(changed)
        self._ranged(body, cached)

    def _ranged(self, body: bytes, cached: dict[str, str]) -> None:
        """Serve a file, honouring one ``Range: bytes=`` span the way lazy-wheel readers ask."""
        kind = "application/octet-stream"
        if not self.server.ranges:  # a server that ignores Range and says so
            self._send(200, body, kind, {"Accept-Ranges": "none", **cached})
            return
        headers = {"Accept-Ranges": "bytes", **cached}
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if match is None or match.groups() == ("", ""):
            self._send(200, body, kind, headers)
            return
        first, last = match.groups()
        size = len(body)
        start = max(size - int(last), 0) if first == "" else int(first)
        end = size - 1 if first == "" or last == "" else min(int(last), size - 1)
        if start >= size or start > end:
            self._send(416, b"", kind, {"Content-Range": f"bytes */{size}"})
            return
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(206, body[start : end + 1], kind, headers)


FOUNDATION = ("torch", "torchvision", "torchaudio")


def _real_origin(index: _Index, filename: str) -> str | None:
    """Where the real shape links a file from: "" for root-relative, the second origin's
    marker "R2" for an absolute link; None where the file has no PEP 658 metadata."""
    if _normalize(filename.split("-", 1)[0]) not in FOUNDATION:
        return None
    return "" if index.pages.startswith("/whl/test/") else "R2"


def _timestamp() -> str:
    return f"<!--TIMESTAMP {int(time.time())}-->"


def _real_projects(projects: list[str]) -> bytes:
    """``to_simple_packages_html``: relative project links, no head, the trailer."""
    lines = ["<!DOCTYPE html>", "<html>", "  <body>"]
    lines += [f'    <a href="{p}/">{p}</a><br/>' for p in projects]
    lines += ["  </body>", "</html>", _timestamp()]
    return "\n".join(lines).encode()


def _real_page(server: _Server, index: _Index, name: str, wheels: list[Path]) -> bytes:
    """``to_simple_package_html`` of manage_v2.py, with ``data-upload-time`` on every file."""
    nightly = index.pages.startswith("/whl/nightly/")
    lines = ["<!DOCTYPE html>", "<html>", "  <body>", f"    <h1>Links for {name}</h1>"]
    for wheel in wheels:
        digest, metadata, _ = server.wheel_info(wheel)
        origin = _real_origin(index, wheel.name)
        base = server.files_origin if origin == "R2" else ""
        fragment = "" if nightly else f"#sha256={digest}"
        attributes = ""
        if origin is not None and server.metadata:
            pep658 = f"sha256={hashlib.sha256(metadata).hexdigest()}"
            attributes = f' data-dist-info-metadata="{pep658}" data-core-metadata="{pep658}"'
        uploaded = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(1754000000))
        attributes += f' data-upload-time="{uploaded}"'
        href = f"{base}{index.files}{quote(wheel.name)}{fragment}"
        lines.append(f'    <a href="{href}"{attributes}>{wheel.name}</a><br/>')
    lines += ["  </body>", "</html>", _timestamp()]
    return "\n".join(lines).encode()


def _cache_headers(etag: str) -> dict[str, str]:
    """What PyPI sends with a file: it never changes, so any cache may keep it."""
    return {"Cache-Control": "max-age=365000000, immutable, public", "ETag": etag}


def _corrupted(metadata: bytes, digest: str) -> bytes:
    """What download-r2.pytorch.org served for some files (PyTorch issue 197552): the metadata
    with a ``Checksum-SHA256:`` line added, so it no longer matches the sha256 the page gives;
    here its ``Requires-Dist`` lines are dropped too, so a client that trusted it would see a
    package with no dependencies."""
    kept = [
        line
        for line in metadata.decode("utf-8").splitlines(keepends=True)
        if not line.lower().startswith("requires-dist:")
    ]
    return "".join(kept).encode("utf-8") + f"Checksum-SHA256: {digest}\n".encode()


def _strip_metadata(name: str) -> str:
    return name[: -len(".metadata")] if name.endswith(".metadata") else name


def _page(title: str, links: list[tuple[str, str, dict[str, str]]]) -> bytes:
    anchors = []
    for href, text, attributes in links:
        extra = "".join(f' {k}="{html.escape(v)}"' for k, v in attributes.items())
        anchors.append(f'    <a href="{html.escape(href)}"{extra}>{html.escape(text)}</a><br/>\n')
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{''.join(anchors)}  </body>\n</html>\n"
    ).encode()


class IndexServer:
    """PEP 503 indexes for a wheel tree, on 127.0.0.1, in a daemon thread.

    ``with IndexServer(root) as srv:`` starts it; ``srv.index_url("cu129")`` is
    ``http://127.0.0.1:PORT/whl/cu129/`` and ``srv.pypi_url`` the PyPI stand-in.
    ``metadata=False`` stops publishing PEP 658 ``.metadata`` files, so clients must read
    the wheels themselves; ``ranges=False`` ignores ``Range`` headers (whole files, 200), as
    many company mirrors and plain wheelhouses do, so they cannot read just the wheel's end.
    ``cache=True`` sends wheels the way PyPI does (``Cache-Control: max-age=…, immutable`` and
    an ``ETag``, answering ``If-None-Match`` with 304), so pip's and uv's caches keep them.
    ``real=True`` writes the ``/whl/`` pages as download.pytorch.org does in 2026 (see the
    module's docstring), with a second server on another port as :attr:`files_url`.
    """

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        metadata: bool = True,
        ranges: bool = True,
        cache: bool = False,
        real: bool = False,
    ) -> None:
        self.root = root
        self._server = _Server(
            (host, port), root, metadata=metadata, ranges=ranges, cache=cache, real=real
        )
        self._files: _Server | None = None
        if real:
            self._files = _Server(
                (host, 0), root, metadata=metadata, ranges=ranges, cache=cache, shares=self._server
            )
            self._server.files_origin = f"http://{host}:{self._files.server_address[1]}"
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------

    def _servers(self) -> list[_Server]:
        return [self._server] + ([self._files] if self._files is not None else [])

    def start(self) -> IndexServer:
        if not self._threads:
            for server in self._servers():
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._server.stopping.set()  # wakes requests sleeping in a "slow" fault
        if self._threads:
            for server in self._servers():
                server.shutdown()
            for thread in self._threads:
                thread.join()
            self._threads = []
        for server in self._servers():
            server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the command-line entry point)."""
        if self._files is not None:
            threading.Thread(
                target=self._files.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
            ).start()
        self._server.serve_forever(poll_interval=0.2)

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- URLs ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self.port}"

    @property
    def files_url(self) -> str:
        """The second origin of ``real=True`` (download-r2.pytorch.org's stand-in); "" without."""
        return self._server.files_origin

    @property
    def base(self) -> str:
        """Where the PyTorch-style indexes live: append ``/cu129`` for one of them."""
        return f"{self.url}/whl"

    @property
    def pypi_url(self) -> str:
        return f"{self.url}/pypi/simple/"

    def index_url(self, name: str) -> str:
        """``http://127.0.0.1:PORT/whl/<name>/``; ``"pypi"`` gives :attr:`pypi_url`."""
        return self.pypi_url if name == "pypi" else f"{self.base}/{name}/"

    # -- faults and auth -------------------------------------------------------------------

    def set_fault(self, prefix: str, mode: FaultMode, *, delay: float = 2.0) -> None:
        """Break every request whose decoded path starts with ``prefix`` (longest prefix wins).

        ``404``/``500``: that status (a 500 says ``Retry-After: 0``). ``slow``: wait ``delay`` seconds (or until
        ``clear_faults``), then answer normally.
        ``html``: 200 with a captive-portal page (no links). ``tamper``: wheel files come with
        one byte flipped, so their ``#sha256=`` no longer matches. ``drop``: close the
        connection without any response. ``nohash``: pages without ``#sha256=`` fragments.
        ``badmeta``: ``.metadata`` files come changed (PyTorch issue 197552), so they no
        longer match the sha256 their page gives.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {FAULT_MODES}")
        with self._server.lock:
            self._server.faults[prefix] = _Fault(mode, delay)

    def clear_faults(self) -> None:
        """No more faults; requests a ``slow`` fault holds are answered now."""
        with self._server.lock:
            self._server.faults.clear()

    def require_auth(self, prefix: str, user: str, password: str) -> None:
        """Answer 401 under ``prefix`` unless the request carries these basic-auth credentials."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        with self._server.lock:
            self._server.auth[prefix] = f"Basic {token}"

    def clear_auth(self) -> None:
        with self._server.lock:
            self._server.auth.clear()

    def redirect(self, prefix: str, server_url: str) -> None:
        """Answer 302 under ``prefix`` (after any auth check), to the same path on ``server_url``
        (``http://127.0.0.1:PORT``): an index that sends its pages and files to a CDN."""
        with self._server.lock:
            self._server.redirects[prefix] = server_url.rstrip("/")

    def serve_as(self, index: str, other: str) -> None:
        """Serve ``/whl/<index>/`` from ``other``'s wheels: an index (or a misconfigured mirror)
        that hands out another variant's builds (``+cu128`` files under ``/whl/cu129/``)."""
        with self._server.lock:
            self._server.aliases[index] = other

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request answered since the last :meth:`clear_log`."""
        with self._server.lock:
            return list(self._server.log)

    def requested(self, prefix: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def arrived(self, prefix: str) -> list[str]:
        """Paths starting with ``prefix`` asked for so far, including requests a ``slow``
        fault is still holding (``requested`` lists them only once answered)."""
        with self._server.lock:
            return [path for path in self._server.arrivals if path.startswith(prefix)]

    def bytes_for(self, prefix: str) -> int:
        """Response-body bytes sent for paths starting with ``prefix``."""
        return sum(r.bytes_sent for r in self.requested(prefix))

    def clear_log(self) -> None:
        with self._server.lock:
            self._server.log.clear()
            self._server.arrivals.clear()

    def reset(self) -> None:
        """No faults, no auth, an empty log: the state a fresh server starts in."""
        with self._server.lock:
            self._server.generation += 1  # first: a request a slow fault holds hangs up
            self._server.redirects.clear()
            self._server.aliases.clear()
        self.clear_faults()
        self.clear_auth()
        self.clear_log()


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.index_server --root DIR [--port N]``: serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, required=True, help="built into when empty")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--real", action="store_true", help="PyTorch's own 2026 page shape")
    args = parser.parse_args(argv)
    root = cast("Path", args.root)
    if not root.exists() or not any(root.iterdir()):
        from tests.support.wheels import build_torch_universe

        build_torch_universe(root)
    server = IndexServer(
        root, host=cast("str", args.host), port=cast("int", args.port), real=bool(args.real)
    )
    sys.stdout.write(f"{server.url}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
