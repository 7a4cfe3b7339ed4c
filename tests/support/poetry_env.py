"""A throwaway virtual environment holding the real ``poetry`` with this plugin installed."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv

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


def build_poetry_venv(dest: Path, poetry_version: str) -> Path:
    """Create ``dest`` with Poetry ``poetry_version`` and the plugin; return the poetry binary."""
    bin_dir = dest / ("Scripts" if os.name == "nt" else "bin")
    poetry = bin_dir / "poetry"
    marker = dest / f".ready-{poetry_version}"
    if marker.exists() and poetry.exists():
        return poetry
    dest.parent.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share the folder: one builds, the others wait for it
    with (dest.parent / f".building-{dest.name}").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and poetry.exists():
            return poetry
        return _build(dest, poetry_version, poetry, marker)


def _build(dest: Path, poetry_version: str, poetry: Path, marker: Path) -> Path:
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
    marker.write_text(poetry_version)
    return poetry


def main() -> None:
    """``python -m tests.support.poetry_env DEST [VERSION]``: prebuild for CI and the demo.

    ``python -m tests.support.poetry_env --supported`` prints SUPPORTED_POETRY, one a line.
    """
    if sys.argv[1:2] == ["--supported"]:
        sys.stdout.write("".join(f"{version}\n" for version in SUPPORTED_POETRY))
        return
    dest = Path(sys.argv[1])
    version = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_POETRY
    sys.stdout.write(f"{build_poetry_venv(dest, version)}\n")


if __name__ == "__main__":
    main()
