"""What the plugin adds to a Poetry command, in instructions (valgrind's callgrind): a count that
does not move with the machine's load, where wall-clock medians of a few ms on a ~0.5 s command
move by more than the difference (issue 24, items 1 and 2).

Each side runs once under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0`` (the same
command gives the same count to within ~0.001 %), two at a time:

- hook: a no-op ``poetry install`` in a configured project (cu129 installed, torchmetrics
  locked) with the plugin, and with ``--no-plugins``; the same in a project with no torch
  configuration (Poetry loading its plugins at all: the entry-point scan every plugin costs,
  our entry point, our listeners' first test);
- check: ``poetry torch check`` in the configured project, and ``poetry --version``.

The plugin comes from this checkout, or from ``--tree DIR`` (another checkout of the
repository, put first on ``PYTHONPATH`` for every side; this checkout is put there otherwise,
so two trees are measured alike).  Instructions are not time: importing and the first run of
code miss caches more than Poetry's average, so a ratio here is lower than the CPU-time ratio
``hook_overhead.py`` and ``check_speed.py`` print.  Exits 2, with one line, where valgrind is
not installed.

    .venv/bin/python bench/instructions.py [--tree DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import REPO
from _common import configured_project
from _common import local_index
from _common import machine
from _common import make_project
from _common import out
from _common import poetry
from _common import poetry_bin
from _common import poetry_version


def instructions(python: Path, project: Path, env: dict[str, str], args: tuple[str, ...]) -> int:
    """Instructions of one ``poetry <args>`` run in ``project`` (callgrind's total)."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={os.devnull}",
            str(python),
            "-m",
            "poetry",
            "--no-ansi",
            *args,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"poetry {' '.join(args)} under valgrind failed:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose plugin runs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, bytecode")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        out("instructions.py: valgrind is not installed (apt install valgrind); nothing measured")
        return 2
    tree: Path = args.tree.resolve()
    binary = poetry_bin(args.cache)
    python = binary.parent / "python"
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}, plugin from {tree}")

    with local_index("bench-instructions-", args.cache) as (work, server, env):
        configured = configured_project(binary, work / "configured", server.pypi_url, env)
        unconfigured = make_project(work / "unconfigured", server.pypi_url)
        poetry(binary, unconfigured, env, "lock")
        poetry(binary, unconfigured, env, "install")
        measured = {**env, "PYTHONHASHSEED": "0", "PYTHONPATH": str(tree)}
        sides = {
            "A configured, plugins": (configured, ("install",)),
            "B configured, --no-plugins": (configured, ("install", "--no-plugins")),
            "C unconfigured, plugins": (unconfigured, ("install",)),
            "D unconfigured, --no-plugins": (unconfigured, ("install", "--no-plugins")),
            "E poetry torch check": (configured, ("torch", "check")),
            "F poetry --version": (configured, ("--version",)),
        }
        # every side once, uncounted: the bytecode of whatever it imports is written (under
        # PYTHONPYCACHEPREFIX) before anything is counted
        for project, command in sides.values():
            poetry(binary, project, measured, *command)
        with ThreadPoolExecutor(2) as pool:
            counts = dict(
                zip(
                    sides,
                    pool.map(
                        lambda side: instructions(python, side[0], measured, side[1]),
                        sides.values(),
                    ),
                )
            )

    out("\ninstructions, one run each (PYTHONHASHSEED=0):")
    for name, count in counts.items():
        out(f"  {name:<30} {count:>15,}")
    a, b, c, d, e, f = counts.values()
    out("\nratios:")
    out(f"  A/B hook, no-op install vs --no-plugins   {a / b:.4f}x  (+{(a - b) / 1e6:.1f} M)")
    out(f"  C/D plugin loading, unconfigured project  {c / d:.4f}x  (+{(c - d) / 1e6:.1f} M)")
    out(
        f"  A/C the plugin's own, configured project  {a / c:.4f}x  (+{(a - c) / 1e6:.1f} M;"
        " its imports and listeners beyond the first test)"
    )
    out(f"  check / --version: {e / f:.4f}x  (+{(e - f) / 1e6:.1f} M)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
