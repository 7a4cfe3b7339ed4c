"""Every benchmark runs once, at its smallest settings: it must run and print its result line,
not meet a number (the numbers live in docs/benchmarks.md, from full runs on an idle machine).

Benchmarks that exit 1 when their goal is missed may do so here: one round on a shared machine
says nothing about a goal. A crash is told apart by the result line, which a bench prints only
after every measurement, and by the absence of a traceback.

Not run: ``switch_real.py``, which needs the real torch CUDA 13.0 closure (~3 GB of wheels) and
takes minutes even with one round.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import REPO
from tests.support.poetry_env import build_poetry_venv


pytestmark = [pytest.mark.slow, pytest.mark.bench]

# padded stand-ins of 1 MB instead of the real torch wheels some machines hold
SMALL = ("--no-real", "--padded-mb", "1")


class Bench(NamedTuple):
    script: str
    args: tuple[str, ...]
    result: str  # a regular expression for the line the bench prints at its end
    goal_gated: bool = False  # exits 1 when its goal is missed


BENCHES = (
    Bench(
        "check_speed.py", ("-n", "1"), r"^ratio check/--version: \d+\.\d+ wall, \d+\.\d+ CPU \(n=1"
    ),
    Bench("hook_overhead.py", ("-n", "1"), r"^  universal\s+\d+\.\d+ ms of .*CPU .*x\)\s*\Z"),
    Bench("import_profile.py", ("-n", "1"), r"^  total(\s+\d+)+$"),
    Bench("wasted_downloads.py", (), r"^torch-family traffic to /pypi/ .*: \d+ requests", True),
    Bench("lock_targets.py", ("-n", "1"), r"^  targets / plain: \d+\.\d+x", True),
    Bench(
        "switch.py",
        ("-n", "1", "--torch-mb", "1", "--nvidia-mb", "1", "--scheme", "http"),
        r"^  pip/uv -> .*: \d+\.\d+x",
    ),
    Bench("bytes_per_install.py", SMALL, r"^most bytes of the torch wheel .*: \d+\.\d+x", True),
    Bench("install_vs_raw.py", ("-n", "1", *SMALL), r"^  plugin / raw: \d+\.\d+x", True),
    Bench("wheelhouse_vs_index.py", ("-n", "1", *SMALL), r"^  wheelhouse / index: \d+\.\d+x"),
    Bench("instructions.py", (), r"^  check / --version: \d+\.\d+x\s+\(\+\d+\.\d M\)$"),
)


@pytest.fixture(scope="session")
def bench_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benches' ``--cache``: the folder of the test Poetry venvs (the benches build theirs
    as ``poetry-<version>`` there, like conftest's poetry_bin), with the newest Poetry built
    before any test changes the environment."""
    cache = os.environ.get("POETRY_TORCH_TEST_VENVS")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = Path(cache) if cache else base / "poetry-venvs"
    build_poetry_venv(root / f"poetry-{DEFAULT_POETRY}", DEFAULT_POETRY)
    return root


def test_every_bench_is_smoked() -> None:
    scripts = {path.name for path in (REPO / "bench").glob("*.py")}
    helpers = {name for name in scripts if name.startswith("_")}
    # switch_real.py needs 3 GB of real CUDA wheels, gpu_flow.py a machine's installed torch
    # stack and a folder of Poetry wheels (recorded under tests/fixtures/device-gpu-flow/)
    unsmoked = {"switch_real.py", "gpu_flow.py"}
    assert scripts - helpers - unsmoked == {bench.script for bench in BENCHES}


@pytest.mark.parametrize("bench", BENCHES, ids=lambda bench: bench.script)
def test_bench_runs(bench: Bench, bench_cache: Path) -> None:
    if bench.script == "instructions.py" and shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    args = list(bench.args)
    if bench.script == "check_speed.py":
        args += ["--poetry", str(bench_cache / f"poetry-{DEFAULT_POETRY}" / "bin" / "poetry")]
    else:
        args += ["--cache", str(bench_cache)]
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / bench.script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in result.stderr, output
    assert result.returncode in ((0, 1) if bench.goal_gated else (0,)), output
    assert re.search(bench.result, result.stdout, re.M), output
