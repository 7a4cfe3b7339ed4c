"""``poetry torch export``'s requirements text: the index, then every pin with its hashes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.core.urls import without_login


if TYPE_CHECKING:
    from poetry_torch_plugin.core.lockfile import TorchLock


def export_text(lock: TorchLock) -> str:
    """A requirements file for plain pip: the index, then every locked pin with its hashes."""
    lines = [
        f"# The PyTorch builds pinned in {LOCK_NAME}, written by `poetry torch export`.",
        f"# Source {lock.inputs.source_name}; resolved for {lock.resolved_for or 'unknown'}.",
        "# Install them before the rest of the project: pip install -r THIS_FILE",
        f"--index-url {without_login(lock.inputs.source_url)}",
        "",
        *requirement_lines(lock, continuation=True),
    ]
    return "\n".join(lines) + "\n"
