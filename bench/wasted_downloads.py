"""What Poetry sends to the PyPI-role index for torch-family projects (target: 0 requests, 0 bytes).

A project depending on torchmetrics (which requires torch) is configured with
``poetry torch install --cuda 12.9``; then ``poetry lock``, ``install``, ``update``,
``lock --regenerate`` and ``install`` into a fresh venv run one after the other, each with an
empty Poetry cache (the worst case) and again with the cache warm.  The local index server's
request log says, per command, how many requests and response-body bytes went to ``/pypi/``
for torch-family pages and files (torch, torchvision, torchaudio, nvidia-*, triton, ...), to
``/pypi/`` in all, and to the PyTorch index ``/whl/``.  The same project without any torch
configuration is the baseline: what Poetry fetches from PyPI when nothing holds torch out.

    .venv/bin/python bench/wasted_downloads.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys

from pathlib import Path
from typing import TYPE_CHECKING


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import isolated_env
from _common import local_index
from _common import machine
from _common import make_project
from _common import out
from _common import poetry
from _common import poetry_bin
from _common import poetry_version
from _common import torch_family_path


if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.support.index_server import IndexServer

STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lock", ("lock",)),
    ("install", ("install",)),
    ("update", ("update",)),
    ("lock --regenerate", ("lock", "--regenerate")),
    ("install (fresh venv)", ("install",)),
)


def _row(server: IndexServer, label: str) -> tuple[str, int, int, int, int, int, int]:
    pypi = server.requested("/pypi/")
    torch = [r for r in pypi if torch_family_path(r.path)]
    whl = server.requested("/whl/")
    return (
        label,
        len(torch),
        sum(r.bytes_sent for r in torch),
        len(pypi),
        sum(r.bytes_sent for r in pypi),
        len(whl),
        sum(r.bytes_sent for r in whl),
    )


def _run_steps(
    binary: Path, project: Path, env: Mapping[str, str], server: IndexServer, *, cold: bool
) -> list[tuple[str, int, int, int, int, int, int]]:
    rows = []
    cache = Path(env["POETRY_CACHE_DIR"])
    for label, args in STEPS:
        if label.endswith("(fresh venv)"):
            shutil.rmtree(project / ".venv", ignore_errors=True)
        if cold:
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir()
        server.clear_log()
        poetry(binary, project, env, *args)
        rows.append(_row(server, label))
    return rows


def _table(title: str, rows: list[tuple[str, int, int, int, int, int, int]]) -> None:
    out(f"\n{title}")
    out(
        f"  {'command':<22} {'torch-family /pypi/':>22} {'all /pypi/':>18} {'PyTorch index /whl/':>22}"
    )
    for label, t_req, t_bytes, p_req, p_bytes, w_req, w_bytes in rows:
        out(
            f"  {label:<22} {t_req:>5} req {t_bytes:>10} B {p_req:>4} req {p_bytes:>8} B"
            f" {w_req:>5} req {w_bytes:>10} B"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, bytecode")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    binary = poetry_bin(cache)
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}")

    with local_index("bench-downloads-", cache) as (work, server, env):
        configured = make_project(work / "configured", server.pypi_url)
        poetry(binary, configured, env, "torch", "install", "--cuda", "12.9")
        cold = _run_steps(binary, configured, env, server, cold=True)
        warm = _run_steps(binary, configured, env, server, cold=False)

        baseline_env = isolated_env(
            work / "home-baseline", index_base=server.base, pycache=cache / "pycache"
        )
        baseline = make_project(work / "unconfigured", server.pypi_url)
        plain = _run_steps(binary, baseline, baseline_env, server, cold=True)

    _table("configured project (poetry torch install --cuda 12.9), empty Poetry cache:", cold)
    _table("configured project, warm Poetry cache:", warm)
    _table("baseline: the same project without torch configuration, empty cache:", plain)
    wasted = sum(row[1] for row in cold + warm)
    wasted_bytes = sum(row[2] for row in cold + warm)
    out(
        f"\ntorch-family traffic to /pypi/ from the configured project: {wasted} requests,"
        f" {wasted_bytes} bytes (target 0)"
    )
    return 0 if wasted == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
