"""``poetry torch install --for KIND``: manage one ``[tool.poetry-torch.targets]`` entry
without touching the others, and install it only where this machine is of that kind."""

from __future__ import annotations

from contextlib import contextmanager
from contextlib import suppress
from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def check_target(kind: str, value: str) -> str:
    """The ``--for`` kind as the keys spell it, once ``<kind> = "<value>"`` is known to be an
    entry ``[tool.poetry-torch.targets]`` accepts; ConfigError (one line) otherwise.  Checked
    before anything is written or planned (``--dry-run`` included)."""
    from poetry_torch_plugin.core.targets import KEYS
    from poetry_torch_plugin.core.targets import parse_targets

    name = kind.strip().lower()
    if name not in KEYS:
        raise ConfigError(
            f"--for {kind!r} is not a kind of machine (known: {', '.join(KEYS)});"
            " nothing was changed. Run `poetry torch install --cuda X.Y --for linux-x86_64`,"
            " for example."
        )
    parse_targets({name: value})
    return name


def set_target(pyproject: Path, kind: str, value: str) -> bytes | None:
    """Write ``<kind> = "<value>"`` into the targets table; the file's earlier bytes when it
    changed (for ``undone_on_failure``), else None.

    ConfigError (one line, nothing written) for an unknown kind or an unwritable file."""
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.project.edits import apply_target_edit
    from poetry_torch_plugin.project.edits import load
    from poetry_torch_plugin.project.edits import write_atomic
    from poetry_torch_plugin.project.files import refuse_read_only

    name = check_target(kind, value)
    pyproject_file = load(pyproject)
    read_config(pyproject_file.document)  # a [tool.poetry-torch] already wrong: said first
    edit = apply_target_edit(
        pyproject_file.document, name, value, pyproject_file.original.decode("utf-8")
    )
    if not edit.changed:
        return None
    from poetry_torch_plugin.core.config import parse_toml

    # an entry that disagrees with Poetry's multiple-constraints entries: refused unwritten
    read_config(parse_toml(edit.text))
    refuse_read_only(pyproject)
    write_atomic(pyproject_file, edit.text)
    return pyproject_file.original


@contextmanager
def undone_on_failure(pyproject: Path, before: bytes | None) -> Iterator[None]:
    """``--for`` writes its entry, then installs: when the install fails (or Ctrl-C), put
    pyproject.toml back byte for byte, unless someone changed it meanwhile, so a failed
    command leaves the file as it was (and its "pyproject.toml was not changed" holds)."""
    if before is None:
        yield
        return
    from poetry_torch_plugin.project.files import write_atomic

    written = pyproject.read_bytes()
    try:
        yield
    except BaseException:
        with suppress(OSError, ConfigError):  # changed meanwhile, or unwritable: left so
            write_atomic(pyproject, before, expected=written)
        raise


@contextmanager
def lock_put_back(path: Path, before: bytes | None) -> Iterator[None]:
    """poetry-torch.lock as it was (``before``), should the rest of ``--for`` fail."""
    if before is None:
        yield
        return
    from poetry_torch_plugin.project.files import write_atomic

    try:
        yield
    except BaseException:
        with suppress(OSError, ConfigError):
            write_atomic(path, before)
        raise


def applying_target(pyproject: Path) -> str | None:
    """The ``[tool.poetry-torch.targets]`` key that applies to this machine, if any."""
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.project.edits import load
    from poetry_torch_plugin.service.settings import _target

    matched = _target(read_config(load(pyproject).document))
    return matched[0] if matched is not None else None
