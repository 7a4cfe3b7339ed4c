"""Child processes for the installers: stream their output, keep a scrubbed copy for errors."""

from __future__ import annotations

import subprocess
import sys
import threading

from typing import IO
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.urls import redact_text


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence


def _tee(stream: IO[str], sink: list[str], echo: IO[str] | None) -> None:
    for line in stream:
        sink.append(line)
        if echo is not None:
            echo.write(redact_text(line))
            echo.flush()


def run_streaming(
    command: Sequence[str], env: Mapping[str, str], *, echo_stdout: bool, echo_stderr: bool
) -> tuple[int, str, str]:
    """Run ``command``; stdout goes straight to the terminal (pip's progress bars stay
    visible) unless it must be captured, and stderr is collected to explain a failure."""
    stdout_target = None if echo_stdout else subprocess.PIPE
    process = subprocess.Popen(
        list(command),
        stdout=stdout_target,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=dict(env),
    )
    err_lines: list[str] = []
    out_lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(
        target=_tee, args=(process.stderr, err_lines, sys.stderr if echo_stderr else None)
    )
    reader.start()
    if process.stdout is not None:
        _tee(process.stdout, out_lines, None)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    finally:
        reader.join()
    return code, "".join(out_lines), "".join(err_lines)
