"""``exclusive``: one reinstall at a time per environment (issue 12, item 15)."""

from __future__ import annotations

import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.env.installed import exclusive


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


def test_a_busy_environment_names_the_holder_after_the_wait(tmp_path: Path) -> None:
    """Another process holds the lock: after ``wait`` seconds, one line naming its pid
    (issue 12, item 19)."""
    import subprocess

    from poetry_torch_plugin.env.installed import BusyError

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from poetry_torch_plugin.env.installed import TargetEnv\n"
            "from poetry_torch_plugin.env.installed import exclusive\n"
            "with exclusive(TargetEnv(Path(sys.argv[1]), Path(sys.executable), ())):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BusyError) as info, exclusive(target(tmp_path), wait=0.3):
            raise AssertionError("the block must not run")
    finally:
        holder.kill()
        holder.wait()
    line = str(info.value)
    assert line == (
        f"another poetry torch command is running in {tmp_path} (pid {holder.pid}); this one"
        " waited 0.3 s and changed nothing. Let it finish, then run the command again."
    )
    with exclusive(target(tmp_path), wait=5):  # released when the holder died
        pass


def test_nested_use_in_one_process_does_not_wait_for_itself(tmp_path: Path) -> None:
    with exclusive(target(tmp_path)), exclusive(target(tmp_path), wait=0.1):
        pass
