"""The one child-process runner: output, timeout, Ctrl-C, terminate then kill, no shell."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from poetry_torch_plugin import process
from poetry_torch_plugin.process import child
from poetry_torch_plugin.process import run


PY = sys.executable


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "GRACE_S", 0.3)


def test_output_and_exit_code_are_captured() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    finished = run([PY, "-c", code])
    assert (finished.code, finished.stdout, finished.stderr) == (3, "out\n", "err\n")
    assert not finished.timed_out


def test_undecodable_output_is_replaced_not_fatal() -> None:
    finished = run([PY, "-c", "import sys; sys.stdout.buffer.write(b'\\xff ok')"])
    assert finished.stdout == "\ufffd ok"


def test_echoed_stderr_is_scrubbed_but_kept_whole(capsys: pytest.CaptureFixture[str]) -> None:
    code = "import sys; print('GET https://u:s3cret@[::1]:8443/simple', file=sys.stderr)"
    finished = run([PY, "-c", code], echo_stderr=True)
    assert "s3cret" not in capsys.readouterr().err
    assert "s3cret" in finished.stderr  # the caller scrubs what it shows (explain_failure)


def test_arguments_never_go_through_a_shell() -> None:
    finished = run([PY, "-c", "import sys; print(sys.argv[1])", "a; echo b $HOME"])
    assert finished.stdout == "a; echo b $HOME\n"


def test_a_missing_program_raises_oserror() -> None:
    with pytest.raises(OSError):
        run(["/nonexistent/poetry-torch-tool"])


def test_a_hung_child_is_stopped_at_the_timeout() -> None:
    started = time.monotonic()
    finished = run([PY, "-c", "import time; print('begun', flush=True); time.sleep(60)"], timeout=1)
    assert finished.timed_out
    assert finished.code < 0  # the signal that stopped it
    assert finished.stdout == "begun\n"
    assert time.monotonic() - started < 10


def test_a_child_ignoring_sigterm_is_killed() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ready', flush=True); time.sleep(60)"
    )
    finished = run([PY, "-c", code], timeout=1)
    assert finished.timed_out
    assert finished.code == -9


def test_ctrl_c_stops_the_child_and_goes_on() -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        child([PY, "-c", "import time; time.sleep(60)"], stdout=subprocess.DEVNULL) as started,
    ):
        raise KeyboardInterrupt
    assert started.returncode is not None  # reaped, not left behind


def test_a_child_that_ends_on_ctrl_c_by_itself_is_not_signalled() -> None:
    with pytest.raises(KeyboardInterrupt), child([PY, "-c", "pass"]) as started:
        started.wait()
        raise KeyboardInterrupt
    assert started.returncode == 0
