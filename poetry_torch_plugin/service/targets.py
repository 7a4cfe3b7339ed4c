"""``poetry torch install --for KIND``: manage one ``[tool.poetry-torch.targets]`` entry
without touching the others, and install it only where this machine is of that kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from pathlib import Path


def set_target(pyproject: Path, kind: str, value: str) -> bool:
    """Write ``<kind> = "<value>"`` into the targets table; whether the file changed.

    ConfigError (one line, nothing written) for an unknown kind or an unwritable file."""
    from poetry_torch_plugin.core.choice import parse_variant
    from poetry_torch_plugin.core.targets import KEYS
    from poetry_torch_plugin.project.edits import apply_target_edit
    from poetry_torch_plugin.project.files import refuse_read_only
    from poetry_torch_plugin.project.pyproject import load
    from poetry_torch_plugin.project.pyproject import write_atomic

    name = kind.strip().lower()
    if name not in KEYS:
        raise ConfigError(
            f"--for {kind!r} is not a kind of machine (known: {', '.join(KEYS)});"
            " nothing was changed. Run `poetry torch install --cuda X.Y --for linux-x86_64`,"
            " for example."
        )
    parse_variant(value, where=f"--for {name}", fix="Pass --cuda X.Y, --cpu, --rocm X.Y or --xpu")
    pyproject_file = load(pyproject)
    edit = apply_target_edit(
        pyproject_file.document, name, value, pyproject_file.original.decode("utf-8")
    )
    if not edit.changed:
        return False
    refuse_read_only(pyproject)
    write_atomic(pyproject_file, edit.text)
    return True


def this_machine_is(pyproject: Path, kind: str) -> bool:
    """Whether the targets entry ``kind`` is the one that applies to this machine."""
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.project.pyproject import load
    from poetry_torch_plugin.service.settings import _target

    matched = _target(read_config(load(pyproject).document))
    return matched is not None and matched[0] == kind.strip().lower()
