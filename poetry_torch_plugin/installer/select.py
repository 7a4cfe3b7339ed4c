"""The one module that knows both installer backends: pick pip or uv for ``installer = ...``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.installer import uv
from poetry_torch_plugin.installer.download_once import hashes_missing
from poetry_torch_plugin.installer.download_once import wheelhouse_needed
from poetry_torch_plugin.installer.pip import PipBackend


if TYPE_CHECKING:
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.installer.backend import Backend


def get_backend(name: str, compile_bytecode: bool = False) -> Backend:
    """``pip``, ``uv``, or ``auto``: uv when it can be found, else pip.  ``compile_bytecode``:
    the installed files are compiled to bytecode (``--compile``); else, as with Poetry and uv,
    Python compiles each when it is first imported."""
    if name == "pip":
        return PipBackend(compile_bytecode=compile_bytecode)
    if name not in ("uv", "auto"):
        raise TargetEnvError(
            f"unknown installer {name!r}",
            kept="nothing was changed",
            next="Use --installer pip, uv or auto.",
        )
    binary = uv.find_uv()
    version = uv.uv_version(binary) if binary is not None else None
    if binary is not None and version is not None and version >= uv.MIN_UV:
        return uv.UvBackend(binary, compile_bytecode=compile_bytecode)
    if name == "auto":
        # no uv, or one too old to pin the index the way pip is pinned
        return PipBackend(compile_bytecode=compile_bytecode)
    if binary is not None:
        found = f"uv {'.'.join(map(str, version))}" if version else "not a working uv"
        raise TargetEnvError(
            f"the installer is uv, but {binary} is {found}, and poetry-torch-plugin needs uv"
            f" {'.'.join(map(str, uv.MIN_UV))} or newer",
            kept="nothing was changed",
            next="Upgrade it (`uv self update`, or `poetry self add 'uv>=0.5'`), or run"
            " `poetry torch install --installer pip`.",
        )
    raise TargetEnvError(
        "the installer is uv, but no uv executable was found (not on PATH, and no uv package in"
        " Poetry's environment)",
        kept="nothing was changed",
        next="Install it (`poetry self add uv`), or run `poetry torch install --installer pip`.",
    )


def wheelhouse_reason(listing: Listing | None, backend: Backend, target: TargetEnv) -> str | None:
    """Why resolving against this index would download whole wheels (so the closure is
    downloaded once, into a wheelhouse, and installed from there), or None when it would not:
    the index offers no PEP 658 metadata (``wheelhouse_needed``), or the installer is a pip
    whose dry run downloads every wheel anyway (before 25.3; Poetry 2.1 seeds 25.1.1)."""
    if wheelhouse_needed(listing):
        return "it offers no PEP 658 metadata"
    if hashes_missing(listing):
        return "it publishes no sha256, so the lock holds that of the files downloaded"
    if listing is None or listing.local or not isinstance(backend, PipBackend):
        return None
    if not backend.resolving_downloads(target):
        return None
    version = backend.version(target)
    shown = f"pip {'.'.join(map(str, version))}" if version else "this pip"
    return f"{shown} downloads every wheel while resolving"
