"""pyproject.toml on disk: load it for editing, and replace it atomically."""

from __future__ import annotations

import os
import tempfile

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument


@dataclass(frozen=True)
class PyProject:
    """pyproject.toml as read: its exact bytes (to detect concurrent edits) and its document."""

    path: Path
    original: bytes
    document: TOMLDocument


def load(path: Path) -> PyProject:
    import tomlkit

    from tomlkit.exceptions import ParseError

    try:
        original = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}; run the command from the project directory."
        ) from None
    try:
        document = tomlkit.parse(original.decode("utf-8"))
    except (ParseError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path.name} is not valid TOML ({reason}); nothing was changed."
            " Fix the file, then run `poetry torch install` again."
        ) from None
    return PyProject(path, original, document)


def write_atomic(pyproject: PyProject, text: str) -> None:
    """Replace the file with ``text`` unless someone else changed it since we read it."""
    path = pyproject.path
    try:
        current = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot re-read {path}: {exc.strerror}; nothing was written.") from None
    if current != pyproject.original:
        raise ConfigError(
            f"{path.name} changed while poetry torch was working; it was not overwritten."
            " Run the command again."
        )
    mode = path.stat().st_mode & 0o7777
    fd, tmp_name = tempfile.mkstemp(prefix=".pyproject.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
