"""Download one file from an index into a folder, checked against a sha256 while it streams.

The file lands under its final name only once its hash matched (a ``.part`` file is written
first and renamed), so a folder never holds a half-written or tampered wheel."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import urllib.error
import urllib.parse
import urllib.request

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.listing import open_url


if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO

    from poetry_torch_plugin.index.access import IndexAccess

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
    digest = hashlib.sha256()
    size = 0
    try:
        with _source(url, access) as stream, part.open("xb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise IndexAccessError(
            f"cannot download {dest.name} from {_shown(url)} ({reason}); the files already in"
            f" {dest.parent} were kept. Check the network, then run the command again."
        ) from None
    except BaseException:  # Ctrl-C: no half-written .part is left behind
        part.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise IndexAccessError(
            f"{dest.name} from {_shown(url)} does not match its sha256 in poetry-torch.lock"
            f" (got {digest.hexdigest()[:16]}…, locked {sha256[:16]}…); it was not kept. The index"
            " or a proxy serves another file: check it, or run `poetry torch lock` if the"
            " index really changed."
        )
    try:
        part.replace(dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise IndexAccessError(
            f"cannot write {dest} ({exc.strerror or exc}); the files already in {dest.parent}"
            " were kept. Make the folder and its files writable, then run the command again."
        ) from None
    return size


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
