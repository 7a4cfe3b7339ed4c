"""Bytes of wheels served per ``poetry torch install``, by kind of index (goal: 1.00x).

Each install starts from empty caches in a fresh project and counts, from the local index
server's log, the bytes of wheel files it sent, per byte of the wheels installed: for the torch
wheel alone and for the whole closure.  Three kinds of index: one serving PEP 658 metadata (as
download.pytorch.org does), one honouring HTTP range requests only, and one with neither (a
plain wheelhouse, many company mirrors).  Then the cache: a second project on the same machine
installs the same build from an index whose files say they never change (as PyPI's do) and
that pip trusts (``certificates.<source>.cert = false``: pip caches only from https or a
trusted host), and should get no wheel at all.  A ``file://`` index sends nothing over a
network, so the server counts nothing there (tests/e2e/test_downloads.py checks that no wheel
is copied first).  The projects name torch alone (``poetry torch install --cpu torch``).

The wheels: the real torch CPU wheel and its dependencies when pip's configuration finds them
on this machine's disk, else a torch wheel padded with ``--padded-mb`` MB.

    .venv/bin/python bench/bytes_per_install.py [--cache DIR] [--padded-mb 64] [--no-real]
        [--hook]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

from pathlib import Path
from typing import TYPE_CHECKING


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import isolated_env
from _common import make_project
from _common import out
from _common import poetry
from _common import uv_alone_on_path
from _cpu_index import cpu_index_arguments
from _cpu_index import start_bench
from _cpu_index import torch_wheel

from tests.support.index_server import IndexServer


if TYPE_CHECKING:
    from collections.abc import Mapping

KINDS = {"metadata": (True, True), "ranges-only": (False, True), "neither": (False, False)}


def _served(server: IndexServer, root: Path) -> tuple[float, float]:
    """(torch wheel bytes served / its size, all wheel bytes served / the closure's size)."""
    wheels = [r for r in server.requests if r.path.endswith(".whl")]
    torch = torch_wheel(root)
    closure = sum(w.stat().st_size for w in (root / "whl" / "cpu").glob("*.whl"))
    torch_bytes = sum(r.bytes_sent for r in wheels if r.path.endswith("/" + torch.name))
    return torch_bytes / torch.stat().st_size, sum(r.bytes_sent for r in wheels) / closure


def _env(work: Path, server: IndexServer, cache: Path, uv: str | None) -> dict[str, str]:
    env = isolated_env(work / "home", index_base=server.base, pycache=cache / "pycache")
    if uv is not None:
        uv_alone_on_path(env, work, uv)
    return env


def _project(root: Path, pypi_url: str, installer: str) -> Path:
    """A project whose installer is ``installer`` (so the hook's reinstall uses it too)."""
    project = make_project(root, pypi_url, ())
    with (project / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(f'\n[tool.poetry-torch]\ninstaller = "{installer}"\n')
    return project


def _install(binary: Path, project: Path, env: Mapping[str, str]) -> None:
    poetry(binary, project, env, "torch", "install", "--cpu", "torch")


def per_kind(
    binary: Path, root: Path, cache: Path, uv: str | None, installer: str, kind: str, hook: bool
) -> list[tuple[str, float, float]]:
    metadata, ranges = KINDS[kind]
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-bytes-") as tmp,
        IndexServer(root, metadata=metadata, ranges=ranges) as server,
    ):
        work = Path(tmp)
        env = _env(work, server, cache, uv)
        project = _project(work / "project", server.pypi_url, installer)
        _install(binary, project, env)
        rows.append((f"{installer:<4} {kind:<12} poetry torch install", *_served(server, root)))
        if hook:
            python = project / ".venv" / "bin" / "python"
            subprocess.run(
                [str(python), "-m", "pip", "uninstall", "-y", "-q", "torch"],
                env=env,
                check=True,
                capture_output=True,
            )
            server.clear_log()
            poetry(binary, project, env, "install")
            rows.append(
                (f"{installer:<4} {kind:<12} hook reinstall (lock)", *_served(server, root))
            )
    return rows


def second_install(
    binary: Path, root: Path, cache: Path, uv: str | None, installer: str
) -> tuple[str, float, float]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-bytes-") as tmp,
        IndexServer(root, cache=True) as server,
    ):
        work = Path(tmp)
        env = _env(work, server, cache, uv)
        first = _project(work / "first", server.pypi_url, installer)
        poetry(binary, first, env, "config", "certificates.pytorch_cpu.cert", "false")
        _install(binary, first, env)
        second = _project(work / "second", server.pypi_url, installer)
        server.clear_log()
        _install(binary, second, env)
        return (f"{installer:<4} metadata     second project, warm cache", *_served(server, root))


def main(argv: list[str] | None = None) -> int:
    parser = cpu_index_arguments(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hook", action="store_true", help="also the hook's lock replay")
    args = parser.parse_args(argv)
    cache, binary, root, _, uv = start_bench(args)
    installers = ["pip", "uv"] if uv else ["pip"]
    rows = []
    out(f"\n  {'installer, index, command':<52} {'torch wheel':>12} {'all wheels':>11}")
    for installer in installers:
        for kind in KINDS:
            found = per_kind(binary, root, cache, uv, installer, kind, args.hook)
            if kind == "neither":  # the last kind: then the warm cache
                found.append(second_install(binary, root, cache, uv, installer))
            for label, torch, closure in found:
                out(f"  {label:<52} {torch:>11.2f}x {closure:>10.2f}x")
            rows += found
    worst = max(torch for label, torch, _ in rows if "second" not in label)
    out(f"\nmost bytes of the torch wheel served per install: {worst:.2f}x (goal 1.00x)")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
