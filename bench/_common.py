"""What the benchmarks share: a throwaway Poetry, a local index, isolated projects, timing.

Nothing here touches the developer's Poetry, pip or uv configuration and caches: every command
runs with ``POETRY_*``/``PIP_*``/``UV_*``/``XDG_*`` replaced by directories under the bench's
work directory, like the test suite's autouse fixture.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path
from typing import TYPE_CHECKING


# Run as `python bench/x.py`: the repository root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.index_server import IndexServer
from tests.support.isolation import isolated_env as shared_isolated_env
from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import build_poetry_venv
from tests.support.project import pyproject_text
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from collections.abc import Mapping
    from collections.abc import Sequence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "poetry-torch-bench"


def poetry_bin(cache: Path, version: str = DEFAULT_POETRY) -> Path:
    """The real poetry in a throwaway venv (built once under ``cache``) with this plugin."""
    return build_poetry_venv(cache / f"poetry-{version}", version)


@contextlib.contextmanager
def local_index(prefix: str, cache: Path) -> Iterator[tuple[Path, IndexServer, dict[str, str]]]:
    """A temporary work folder, the test universe served on 127.0.0.1, and the measured
    commands' environment (home under the work folder, bytecode under ``cache``)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        universe = build_torch_universe(work / "index")
        with IndexServer(universe.root) as server:
            env = isolated_env(work / "home", index_base=server.base, pycache=cache / "pycache")
            yield work, server, env


def isolated_env(home: Path, *, index_base: str, pycache: Path) -> dict[str, str]:
    """The environment every measured command runs with.

    Bytecode is written and read under ``pycache`` (shared by all runs, so it is warm after the
    first one): the plugin is installed editable and a machine with PYTHONDONTWRITEBYTECODE=1
    would otherwise compile it from source on every start, which users never pay.
    """
    env = shared_isolated_env(home)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["POETRY_TORCH_INDEX_BASE"] = index_base
    return env


def uv_alone_on_path(env: dict[str, str], work: Path, uv: str) -> None:
    """Put ``uv`` first on ``env``'s PATH as a link in its own folder (``work/uv-bin``), so
    Poetry picks up nothing else from there."""
    folder = work / "uv-bin"
    folder.mkdir(exist_ok=True)
    (folder / "uv").symlink_to(uv)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"


def make_project(
    root: Path, pypi_url: str, dependencies: tuple[str, ...] = ("torchmetrics>=1.0",)
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject_text(pypi_url, dependencies))
    return root


def poetry(
    binary: Path,
    project: Path,
    env: Mapping[str, str],
    *args: str,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(binary), "--no-ansi", *args],
        cwd=project,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if check and result.returncode != 0:
        raise SystemExit(
            f"poetry {' '.join(args)} failed ({result.returncode}) in {project}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def alternate(
    sides: Mapping[str, Callable[[], object]], rounds: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Time every side once per round, rotating which side goes first; return the samples."""
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup + rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = timed(sides[name])
            if index >= warmup:
                samples[name].append(seconds)
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """One line: CPU model, cores, Python, OS."""
    model = "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )


def poetry_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "--version", "--no-plugins"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def torch_family_path(path: str) -> bool:
    """Whether a request path names a torch-family project page or file."""
    from poetry_torch_plugin.core.config import is_torch_family

    last = path.rstrip("/").rsplit("/", 1)[-1]
    name = last.split("-", 1)[0] if last.endswith((".whl", ".metadata", ".tar.gz")) else last
    return is_torch_family(name)


def configured_project(
    binary: Path, root: Path, pypi_url: str, env: Mapping[str, str], *, cuda: str = "12.9"
) -> Path:
    """A project depending on torchmetrics after ``torch install``, ``lock`` and ``install``."""
    project = make_project(root, pypi_url)
    poetry(binary, project, env, "torch", "install", "--cuda", cuda)
    poetry(binary, project, env, "lock")
    poetry(binary, project, env, "install")
    return project
