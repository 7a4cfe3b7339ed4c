"""``./dev serve`` (scripts/serve.py): the demo's indexes on 127.0.0.1 and the two lines to
paste, until Ctrl-C (issue 23, item 9)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request

from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from tests.support.wheels import Universe


REPO = Path(__file__).resolve().parents[2]


def test_dev_runs_the_serve_script() -> None:
    dev = (REPO / "dev").read_text()
    assert "  serve)\n" in dev
    assert "scripts/serve.py" in dev


def test_serve_prints_the_lines_to_paste_and_stops_on_ctrl_c(index_universe: Universe) -> None:
    process = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--root", str(index_universe.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not any(line.strip().startswith("poetry source add") for line in lines):
            line = process.stdout.readline()
            assert line, f"serve.py ended early: {''.join(lines)}"
            lines.append(line)
        pasted = [line.strip() for line in lines if line.startswith("    ")]
        export, source = pasted
        base = re.fullmatch(r"export POETRY_TORCH_INDEX_BASE=(http://127\.0\.0\.1:\d+/whl)", export)
        assert base is not None, export
        pypi = re.fullmatch(
            r"poetry source add --priority=primary fakepypi (http://127\.0\.0\.1:\d+/pypi/simple/)",
            source,
        )
        assert pypi is not None, source
        with urllib.request.urlopen(f"{base.group(1)}/cu129/torch/", timeout=10) as page:
            assert b"torch-2.9.0%2Bcu129" in page.read()
        with urllib.request.urlopen(f"{pypi.group(1)}torchmetrics/", timeout=10) as page:
            assert b"torchmetrics-1.0.0" in page.read()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Stopped." in out
