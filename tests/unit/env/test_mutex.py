"""``exclusive``: one reinstall at a time per environment (issue 12, item 15)."""

from __future__ import annotations

import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.env.mutex import exclusive


def target(root: Path) -> TargetEnv:
    return TargetEnv(root, Path(sys.executable), ())


@pytest.mark.parametrize(
    "error",
    [OSError(28, "No space left on device"), PermissionError(13, "Permission denied")],
)
def test_an_os_error_inside_the_block_comes_out_unchanged(tmp_path: Path, error: OSError) -> None:
    """It used to be caught by the lock's own guard, which then yielded a second time:
    ``RuntimeError: generator didn't stop after throw()``."""
    with pytest.raises(type(error)) as info, exclusive(target(tmp_path)):
        raise error
    assert info.value is error


def test_the_lock_is_released_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="boom"), exclusive(target(tmp_path)):
        raise OSError("boom")
    with exclusive(target(tmp_path)):  # not held any more: no 900 s wait
        pass


def test_an_environment_that_cannot_hold_the_lock_file_still_runs_the_block(
    tmp_path: Path,
) -> None:
    ran = []
    with exclusive(target(tmp_path / "missing" / "venv")):
        ran.append(True)
    assert ran == [True]
    with pytest.raises(ValueError, match="inside"), exclusive(target(tmp_path / "missing")):
        raise ValueError("inside")
