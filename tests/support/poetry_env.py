"""A throwaway virtual environment holding the real ``poetry`` with this plugin installed."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import venv

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
# Every Poetry minor the plugin claims (pyproject's `poetry` range, the README), each at its
# newest patch on PyPI. `./dev matrix` runs the e2e suite once per entry; `./dev test` runs it
# on the newest and the `smoke` tests on the oldest too. tests/unit/test_supported_poetry.py
# keeps pyproject's range and this list in step.
SUPPORTED_POETRY = ("2.0.1", "2.1.4", "2.2.1", "2.3.4", "2.4.3", "2.5.1")
DEFAULT_POETRY = SUPPORTED_POETRY[-1]
OLDEST_POETRY = SUPPORTED_POETRY[0]
POETRY_VERSION_ENV = "POETRY_TORCH_TEST_POETRY"


def pip_environment() -> dict[str, str]:
    """The caller's environment minus pip settings that would leak into the throwaway venv.

    The machine's pip configuration (a global constraint, extra indexes, find-links) is kept
    only for installing Poetry itself, from the real registry; the tests' own pip runs are
    isolated separately.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith(("POETRY_", "VIRTUAL_ENV"))}


def run_versions() -> tuple[str, ...]:
    """The Poetry versions a test run uses (tests/conftest.py): POETRY_TORCH_TEST_POETRY's
    alone when set, else the newest (every e2e test) and the oldest (the ``smoke`` tests)."""
    pinned = os.environ.get(POETRY_VERSION_ENV)
    return (pinned,) if pinned else (DEFAULT_POETRY, OLDEST_POETRY)


def _stamp(poetry_version: str) -> str:
    """What a ready venv was built from: the Poetry version, this checkout (the plugin is
    installed editable from it) and its pyproject.toml (the plugin's dependencies and entry
    points), so a cached venv of another checkout or an older pyproject.toml is rebuilt."""
    pyproject = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    return f"{poetry_version}\n{REPO}\n{pyproject}\n"


def _ready(marker: Path, poetry: Path, stamp: str) -> bool:
    try:
        return poetry.exists() and marker.read_text() == stamp
    except OSError:
        return False


def build_poetry_venv(dest: Path, poetry_version: str) -> Path:
    """Create ``dest`` with Poetry ``poetry_version`` and the plugin; return the poetry binary.

    A venv already there is reused when it was built from the same version, checkout and
    pyproject.toml (``_stamp``); otherwise it is built again."""
    bin_dir = dest / ("Scripts" if os.name == "nt" else "bin")
    poetry = bin_dir / "poetry"
    marker = dest / f".ready-{poetry_version}"
    stamp = _stamp(poetry_version)
    if _ready(marker, poetry, stamp):
        return poetry
    dest.parent.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share the folder: one builds, the others wait for it
    with (dest.parent / f".building-{dest.name}").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if _ready(marker, poetry, stamp):
            return poetry
        return _build(dest, poetry_version, poetry, marker, stamp)


def prebuild(root: Path, versions: tuple[str, ...]) -> list[Path]:
    """``build_poetry_venv(root / f"poetry-{version}", version)`` for each version, at once
    (pip spends most of it waiting on the registry and on one core)."""
    with ThreadPoolExecutor(max_workers=max(1, len(versions))) as pool:
        return list(pool.map(lambda v: build_poetry_venv(root / f"poetry-{v}", v), versions))


def _build(dest: Path, poetry_version: str, poetry: Path, marker: Path, stamp: str) -> Path:
    bin_dir = poetry.parent
    venv.EnvBuilder(with_pip=True, clear=True).create(dest)
    python = bin_dir / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"poetry=={poetry_version}",
            "-e",
            str(REPO),
        ],
        check=True,
        env=pip_environment(),
    )
    marker.write_text(stamp)
    return poetry


def main() -> None:
    """``python -m tests.support.poetry_env DEST [VERSION]``: prebuild for CI and the demo.

    ``python -m tests.support.poetry_env --supported`` prints SUPPORTED_POETRY, one a line.
    ``python -m tests.support.poetry_env --prebuild ROOT`` builds ``ROOT/poetry-X`` for every
    version of ``run_versions()`` at once (``./dev test``, before its pytest workers start).
    """
    if sys.argv[1:2] == ["--supported"]:
        sys.stdout.write("".join(f"{version}\n" for version in SUPPORTED_POETRY))
        return
    if sys.argv[1:2] == ["--prebuild"]:
        for poetry in prebuild(Path(sys.argv[2]), run_versions()):
            sys.stdout.write(f"{poetry}\n")
        return
    dest = Path(sys.argv[1])
    version = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_POETRY
    sys.stdout.write(f"{build_poetry_venv(dest, version)}\n")


if __name__ == "__main__":
    main()
