"""``poetry torch lock`` with four ``[tool.poetry-torch.targets]`` vs with none, warm caches
(goal: <= 3x; issue 14).

The platform-tagged test indexes (``tests/support/platform_wheels.py``: cu129, cu128 and cpu, each
torch 2.9.0 family for CPython 3.10-3.13 on Linux x86_64/aarch64, Windows, and macOS on cpu) are
served on 127.0.0.1.  Two projects, both on the cu129 source with ``requires-python =
">=3.10,<3.14"``:

    plain:    no targets
    targets:  linux-x86_64 = "cu129", linux-aarch64 = "cu128", macos = "cpu", no-gpu = "cpu"

Each project is locked once untimed (creates its venv, fills the installers' caches); then each
round deletes poetry-torch.lock (untimed) and times ``poetry torch lock`` in each project, the
sides alternating; one warm-up round; medians and the ratio printed, with what each lock holds
(its arrays of tables other than ``[[package]]`` are counted as entries, 1 when there are none,
as in a lock written before targets were locked).  A plugin that ignores targets when locking
gives ~1x.  uv is put on PATH when found; ``--installer`` is passed to both sides when given.

    .venv/bin/python bench/lock_targets.py [-n 5] [--cache DIR] [--installer pip|uv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import isolated_env
from _common import machine
from _common import median
from _common import out
from _common import poetry
from _common import poetry_bin
from _common import poetry_version
from _common import timed
from _common import uv_alone_on_path

from poetry_torch_plugin.installer.uv import find_uv
from tests.support.index_server import IndexServer
from tests.support.platform_wheels import build_platform_universe
from tests.support.project import platform_pyproject_text


GOAL = 3.0
TARGETS = {"linux-x86_64": "cu129", "linux-aarch64": "cu128", "macos": "cpu", "no-gpu": "cpu"}
LOCK = "poetry-torch.lock"


def _tables(node: Any, path: str = "", inside: bool = False) -> list[tuple[str, int, bool]]:
    """(dotted key, length, whether inside another array) of every array of tables (``[[x]]``,
    not an array of inline tables) in a tomlkit document."""
    from tomlkit.items import AoT

    found: list[tuple[str, int, bool]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, AoT):
                found.append((where, len(value), inside))
                for table in value:
                    found.extend(_tables(table, where, True))
            else:
                found.extend(_tables(value, where, inside))
    return found


def _hashes(node: Any) -> int:
    """Tables and inline tables anywhere in ``node`` with a ``hash`` key: the locked files."""
    if isinstance(node, dict):
        return int("hash" in node) + sum(_hashes(value) for value in node.values())
    if isinstance(node, list):
        return sum(_hashes(value) for value in node)
    return 0


def describe_lock(path: Path) -> str:
    """What a lock holds, read generically: entries (arrays of tables other than
    ``[[package]]``, outermost ones; 1 if none), ``[[package]]`` tables, locked files, bytes."""
    import tomlkit

    text = path.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    arrays = _tables(document)
    outer = [(name, n) for name, n, inside in arrays if not inside and not name.endswith("package")]
    entries = sum(n for _, n in outer) or 1
    names = ", ".join(f"[[{name}]] x{n}" for name, n in outer) or "no [[entry]]-like tables"
    packages = sum(n for name, n, _ in arrays if name.rsplit(".", 1)[-1] == "package")
    return (
        f"{entries} entr{'y' if entries == 1 else 'ies'} ({names}),"
        f" {packages} [[package]], {_hashes(document.unwrap())} files, {len(text)} bytes"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, pycache")
    parser.add_argument("-n", "--rounds", type=int, default=5)
    parser.add_argument("--installer", choices=("pip", "uv"), help="default: the project's")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    binary = poetry_bin(cache)
    uv = find_uv()
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}; uv: {uv or 'not found'}")
    lock_args = ["torch", "lock"]
    if args.installer:
        lock_args += ["--installer", args.installer]
    with tempfile.TemporaryDirectory(prefix="bench-lock-targets-") as tmp:
        work = Path(tmp)
        universe = build_platform_universe(work / "index")
        with IndexServer(universe.root, cache=True) as server:
            env = isolated_env(work / "home", index_base=server.base, pycache=cache / "pycache")
            if uv is not None:
                uv_alone_on_path(env, work, uv)
            projects: dict[str, Path] = {}
            for name, targets in (("plain", {}), ("targets", TARGETS)):
                project = work / name
                project.mkdir()
                (project / "pyproject.toml").write_text(
                    platform_pyproject_text(f"{server.base}/cu129", targets=targets)
                )
                # pip caches only from https or a trusted host
                poetry(
                    binary, project, env, "config", "certificates.pytorch_cuda_cu129.cert", "false"
                )
                poetry(binary, project, env, *lock_args)  # untimed: venv, caches
                projects[name] = project
            samples: dict[str, list[float]] = {name: [] for name in projects}
            names = list(projects)
            for number in range(1 + args.rounds):  # round 0 warms up
                shift = number % len(names)
                for name in names[shift:] + names[:shift]:
                    project = projects[name]
                    (project / LOCK).unlink(missing_ok=True)  # not timed
                    seconds = timed(
                        lambda project=project: poetry(binary, project, env, *lock_args)
                    )
                    if number > 0:
                        samples[name].append(seconds)
            installer = args.installer or "the project's (pip)"
            out(
                f"\n`poetry torch {' '.join(lock_args[1:])}`, installer {installer}, warm caches,"
                f" median of {args.rounds} rounds:"
            )
            out(f"  {'side':<8} {'median':>8}  {'range':<13} lock")
            for name, values in samples.items():
                spread = f"{min(values):.2f}-{max(values):.2f}"
                out(
                    f"  {name:<8} {median(values):7.2f}s  {spread:<13} {describe_lock(projects[name] / LOCK)}"
                )
            ratio = median(samples["targets"]) / median(samples["plain"])
            out(f"  targets / plain: {ratio:.2f}x (goal <= {GOAL:g}x)")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
