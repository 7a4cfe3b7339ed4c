"""The one way the plugin runs a child process: pip, uv, the detection probes, the torch probe.

Every child is stopped the same way when the plugin stops waiting for it (a timeout, Ctrl-C, an
error): terminated, then killed, each after a short grace, and always reaped.  Output read from a child is decoded as UTF-8 (undecodable bytes replaced);
what is echoed to the terminal has every URL login masked.  Never through a shell.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading

from typing import IO
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import redact_text


if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Mapping
    from collections.abc import Sequence


# How long a child gets to end on its own after Ctrl-C, and after SIGTERM, before the next step.
GRACE_S = 3.0


@record
class Finished:
    """How a child ended: its exit code (minus the signal that stopped it), whether it was
    stopped at the timeout, and its output as read (stdout is "" when it went straight to the
    terminal)."""

    code: int
    stdout: str
    stderr: str
    timed_out: bool = False


def stop(process: subprocess.Popen[Any], *, interrupted: bool = False) -> None:
    """Terminate, then kill ``process``, until it is gone; always reaps it.

    After Ctrl-C the child got the same SIGINT from the terminal (it runs in our process
    group), so it first gets GRACE_S to clean up on its own (pip rolls back a half-done
    uninstall).  A second Ctrl-C while waiting kills it at once.
    """
    try:
        if interrupted:
            _wait(process, GRACE_S)
        for signal_it in (process.terminate, process.kill):
            if process.poll() is not None:
                return
            signal_it()
            _wait(process, GRACE_S)
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.wait()


def _wait(process: subprocess.Popen[Any], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(seconds)


@contextlib.contextmanager
def child(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """Start ``argv`` (Popen's own keywords pass through); if the block is left by an exception
    (Ctrl-C included) while the child runs, stop it before the exception goes on."""
    process = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, **popen)
    try:
        yield process
    except KeyboardInterrupt:
        stop(process, interrupted=True)
        raise
    except BaseException:
        stop(process)
        raise


def _tee(stream: IO[str], sink: list[str], echo: IO[str] | None) -> None:
    for line in stream:
        sink.append(line)
        if echo is not None:
            echo.write(redact_text(line))
            echo.flush()


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    echo_stdout: bool = False,
    echo_stderr: bool = False,
) -> Finished:
    """Run ``argv`` to its end, or until ``timeout`` seconds have passed (then it is stopped).

    ``echo_stdout``: stdout goes straight to the terminal (pip's progress bars stay visible)
    instead of being captured.  stderr is always captured, to explain a failure, and with
    ``echo_stderr`` also copied to ours, line by line, scrubbed.  OSError when it cannot start.
    """
    out_lines: list[str] = []
    err_lines: list[str] = []
    with child(
        argv,
        env=env,
        stdout=None if echo_stdout else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        readers = [
            threading.Thread(
                target=_tee,
                args=(stream, sink, echo),
                name="poetry-torch-output",
                daemon=True,
            )
            for stream, sink, echo in (
                (process.stdout, out_lines, None),
                (process.stderr, err_lines, sys.stderr if echo_stderr else None),
            )
            if stream is not None
        ]
        for reader in readers:
            reader.start()
        try:
            process.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            stop(process)
            timed_out = True
        for reader in readers:
            # a grandchild that inherited the pipe may hold it open after the child is gone
            reader.join(GRACE_S if timed_out else None)
    return Finished(process.returncode, "".join(out_lines), "".join(err_lines), timed_out)
