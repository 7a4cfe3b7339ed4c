"""pyproject.toml on disk: load it for editing, and replace it (``project.files``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project import files


if TYPE_CHECKING:
    from pathlib import Path

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
    files.write_atomic(pyproject.path, text.encode("utf-8"), expected=pyproject.original)
