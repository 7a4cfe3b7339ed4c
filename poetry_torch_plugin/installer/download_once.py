"""Downloading once into a temporary wheelhouse, for indexes whose wheels would otherwise
cross the network twice: no PEP 658 metadata, so the installer reads whole wheels to resolve."""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import InvalidSdistFilename
from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import parse_sdist_filename
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion

from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.installer.backend import environment_markers
from poetry_torch_plugin.installer.pip import PipBackend


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.installer.backend import Request


def wheelhouse_needed(listing: Listing | None) -> bool:
    """Whether resolving against this index would download whole wheels only to read their
    metadata: its pages offer no PEP 658 ``.metadata`` and it is not a local ``file://`` one.
    Then the closure is downloaded once into a wheelhouse and installed from there."""
    return listing is not None and not listing.metadata and not listing.local


def hashes_missing(listing: Listing | None) -> bool:
    """Whether the index lists files with no sha256 (PyTorch's nightly pages carry no
    ``#sha256=``): then only the bytes downloaded can be hashed for the lock.  A ``file://``
    index is read by the installer itself, which hashes its files."""
    return listing is not None and not listing.local and any(not d for _, d in listing.files)


def download_report(target: TargetEnv, request: Request, wheelhouse: Path) -> dict[str, Any] | None:
    """``pip download`` the closure into ``wheelhouse`` (each file once, checked against the
    index's ``#sha256=``), and describe it in the shape of pip's ``--report``.  None when no
    pip can run for ``target`` (the caller resolves the usual way)."""
    try:
        PipBackend().download(target, request, wheelhouse)
    except TargetEnvError:
        return None
    requested = set()
    for line in request.requirements:
        try:
            requested.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    install = []
    for path in sorted(wheelhouse.iterdir()):
        try:
            if path.name.endswith(".whl"):
                name, version, _, _ = parse_wheel_filename(path.name)
            else:
                name, version = parse_sdist_filename(path.name)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        install.append(
            {
                "metadata": {"name": name, "version": str(version)},
                "requested": name in requested,
                "download_info": {
                    "url": path.as_uri(),
                    "archive_info": {"hashes": {"sha256": digest.hexdigest()}},
                },
            }
        )
    return {"install": install, "environment": environment_markers(target.python)}


def fetch_locked(target: TargetEnv, request: Request, wheelhouse: Path) -> tuple[int, str]:
    """``pip download`` a hashed requirements ``request`` into ``wheelhouse``, every file
    checked against the lock; the exit code and pip's error output.  ``(0, "")`` with nothing
    downloaded when no pip can run for ``target`` (the installer then reads the index)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    try:
        return PipBackend().fetch(target, request, wheelhouse)
    except TargetEnvError:
        return 0, ""
