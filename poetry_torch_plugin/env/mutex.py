"""One torch install at a time per environment, across concurrent Poetry processes.

The lock file lives in the environment (``<venv>/.poetry-torch-install.mutex``), so two projects
never wait for each other while two commands on one project always do.  Beside it,
``.poetry-torch-install.pid`` names the process that holds it, for the message of one that
gives up waiting (issue 12, item 19)."""

from __future__ import annotations

import contextlib
import os

from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from poetry_torch_plugin.env.installed import TargetEnv

MUTEX_NAME = ".poetry-torch-install.mutex"
OWNER_NAME = ".poetry-torch-install.pid"
# How long the hook waits for another reinstall (it then re-checks, and mostly has nothing to do)
HOOK_WAIT = 900.0
# How long `poetry torch install` waits before it says which command holds the environment
COMMAND_WAIT = 10.0

# Environments this process holds already: a nested exclusive() does not wait for itself.
_HELD: set[str] = set()


class BusyError(TorchPluginError):
    """Another poetry torch command holds the environment's install lock."""


def _owner(root: Path) -> str:
    try:
        text = (root / OWNER_NAME).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


@contextlib.contextmanager
def exclusive(target: TargetEnv, *, wait: float = HOOK_WAIT) -> Iterator[None]:
    """Serialize torch installs into one environment across concurrent Poetry processes.

    Gives up after ``wait`` seconds with one line naming the process that holds the lock."""
    from filelock import FileLock
    from filelock import Timeout

    key = str(target.root.resolve())
    if key in _HELD:
        yield
        return
    lock = FileLock(str(target.root / MUTEX_NAME), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"another poetry torch command is running in {target.root} ({_owner(target.root)});"
            f" this one waited {wait:g} s and changed nothing. Let it finish, then run the"
            " command again."
        ) from None
    except OSError:
        # A read-only environment cannot hold a lock file; the install will say why it failed.
        # Only the acquiring is guarded: an error inside the block is the caller's, unchanged
        # (yielding again after it was the "generator didn't stop after throw()").
        yield
        return
    _HELD.add(key)
    try:
        with contextlib.suppress(OSError):
            (target.root / OWNER_NAME).write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield
    finally:
        _HELD.discard(key)
        lock.release()
