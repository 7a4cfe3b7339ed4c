"""One reinstall at a time per environment, across concurrent Poetry processes."""

from __future__ import annotations

import contextlib

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Iterator

    from poetry_torch_plugin.env.installed import TargetEnv


@contextlib.contextmanager
def exclusive(target: TargetEnv) -> Iterator[None]:
    """Serialize reinstalls of one environment across concurrent Poetry processes."""
    from filelock import FileLock
    from filelock import Timeout

    mutex_path = target.root / ".poetry-torch-install.mutex"
    lock = FileLock(str(mutex_path), timeout=900)
    try:
        lock.acquire()
    except Timeout:
        raise
    except OSError:
        # A read-only environment cannot hold a lock file; the install will say why it failed.
        # Only the acquiring is guarded: an error inside the block is the caller's, unchanged
        # (yielding again after it was the "generator didn't stop after throw()").
        yield
        return
    try:
        yield
    finally:
        lock.release()
