"""Whether a parsed ``poetry-torch.lock`` can be trusted: schema, versions, hashes, names."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from poetry_torch_plugin.core.lockfile import LockedPackage
    from poetry_torch_plugin.core.lockfile import TorchLock


_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")  # a PEP 503 normalized name


def _package_problem(package: LockedPackage) -> str | None:
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import canonicalize_name
    from packaging.utils import parse_wheel_filename
    from packaging.version import InvalidVersion
    from packaging.version import Version

    if canonicalize_name(package.name) != package.name or not _NAME.fullmatch(package.name):
        # simple/<name>/ in a wheelhouse: a name is never a path
        return f"{package.name!r} is not a normalized package name"
    try:
        version = Version(package.version)
    except InvalidVersion:
        return f"{package.name} has version {package.version!r}, not a valid version"
    if not package.files:
        return f"{package.name} {package.version} lists no files"
    for filename, digest in package.files:
        if not _SHA256.fullmatch(digest):
            return f"{filename} has no well-formed sha256 hash"
        if "/" in filename or "\\" in filename or filename.startswith("."):
            # a wheelhouse writes each file under this name: never outside its folder
            return f"{filename!r} is not a plain file name"
        if not filename.endswith(".whl"):
            continue
        try:
            name, file_version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return f"{filename!r} is not a wheel file name"
        if name != package.name or file_version != version:
            return f"{filename} is not a file of {package.name} {package.version}"
    return None


def lock_problem(lock: TorchLock) -> str | None:
    """Why a parsed lock cannot be trusted (a hand edit, a bad merge); None when it is whole:
    the schema, every version and every hash is checked on every read."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    if not _SHA256.fullmatch(lock.content_hash):
        return f"content-hash {lock.content_hash!r} is not a sha256"
    if not lock.inputs.source_name or not lock.inputs.source_url:
        return "the source has no name or no url"
    for text in lock.inputs.packages:
        try:
            Requirement(text)
        except InvalidRequirement:
            return f"packages entry {text!r} is not a valid requirement"
    if not lock.packages:
        return "it pins no package"
    seen: set[str] = set()
    for package in lock.packages:
        if package.name in seen:
            return f"{package.name} is pinned twice"
        seen.add(package.name)
        problem = _package_problem(package)
        if problem is not None:
            return problem
    if lock.inputs.content_hash() != lock.content_hash:
        # the hash is what freshness compares: a source or packages edited beside it (an
        # entry's index moved to another host) would otherwise pass for fresh
        return "its source, packages or requires-python do not match its content-hash"
    return None
