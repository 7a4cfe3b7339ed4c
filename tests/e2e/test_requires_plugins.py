"""Teams: a teammate's Poetry gets the plugin from ``[tool.poetry.requires-plugins]`` (issue 16,
item 13), with the real poetry, no plugin installed in it, and the plugin's own wheel served by
the PyPI stand-in.

What Poetry does on a fresh clone (2.0 … 2.5, ``poetry/console/commands/install.py``): only
``poetry install`` (and ``sync``) installs missing project plugins, into ``.poetry/plugins``,
and then carries on WITHOUT them, since plugins are loaded when the command starts.  poetry.lock
holds no torch (the plugin holds it out), so that first install leaves torch out; the next
command loads the plugin and its hook installs the configured build.  Every other command on a
fresh clone runs without the plugin (``poetry torch …`` does not exist yet).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.index_server import IndexServer
from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import REPO
from tests.support.poetry_env import pip_environment
from tests.support.project import Project
from tests.support.project import seeded_venv
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUIET = ("--quiet", "--disable-pip-version-check")
DOWNLOAD = (sys.executable, "-m", "pip", "download", *QUIET, "--only-binary=:all:")
REQUIRES_PLUGINS = '\n[tool.poetry.requires-plugins]\npoetry-torch-plugin = ">=0.1"\n'


@pytest.fixture(scope="module")
def pypi_with_plugin(
    index_universe: Universe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IndexServer, Path]]:
    """A teammate's machine and the registry it installs from.

    The registry: the session's PyTorch-style indexes, and a PyPI stand-in serving the
    session's wheels, this plugin's wheel, and the real wheels of Poetry and everything it
    depends on (Poetry pins what its own environment holds when it installs a project plugin,
    so the registry must publish those).  The machine: a venv with that real Poetry, installed
    from those same wheels, and no plugin.
    """
    version = os.environ.get("POETRY_TORCH_TEST_POETRY", DEFAULT_POETRY)
    root = tmp_path_factory.mktemp("pypi-with-plugin")
    pypi = root / "pypi"
    fetched = subprocess.run(
        [*DOWNLOAD, "-d", str(pypi), f"poetry=={version}"],
        check=False,
        capture_output=True,
        text=True,
        env=pip_environment(),
    )
    if fetched.returncode != 0:  # a machine with no registry (the GPU machine): nothing to serve
        pytest.skip(f"cannot download Poetry {version}'s wheels: {fetched.stderr.strip()[-200:]}")
    for wheel in (index_universe.root / "pypi").iterdir():
        if not (pypi / wheel.name).exists():
            (pypi / wheel.name).symlink_to(wheel)
    (root / "whl").symlink_to(index_universe.root / "whl")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from poetry.core.masonry.api import build_wheel; build_wheel(sys.argv[1])",
            str(pypi),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert list(pypi.glob("poetry_torch_plugin-*.whl"))
    machine = seeded_venv(root / "poetry-bare")  # as a venv for Poetry is made: pip seeded
    offline = ("--no-index", "--find-links", str(pypi), f"poetry=={version}")
    subprocess.run(
        # no bytecode up front (Python writes it on first import): ~3 CPU-s of compiling less
        [str(machine / "bin" / "python"), "-m", "pip", "install", *QUIET, "--no-compile", *offline],
        check=True,
        env={**pip_environment(), "PIP_CONFIG_FILE": os.devnull},
    )
    # the venv's own pip (and setuptools, where seeded) are in Poetry's environment too
    frozen = subprocess.run(
        [str(machine / "bin" / "python"), "-m", "pip", "freeze", "--all"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    bundled = [line for line in frozen if line.split("==")[0] in ("pip", "setuptools")]
    subprocess.run(
        [*DOWNLOAD, "--no-deps", "-d", str(pypi), *bundled],
        check=True,
        env=pip_environment(),
    )
    _stub_other_platforms(machine / "bin" / "python", pypi)
    with IndexServer(root) as server:
        yield server, machine / "bin" / "poetry"


def _stub_other_platforms(python: Path, pypi: Path) -> None:
    """Poetry solves the plugin's install for every platform, so it asks for dependencies that
    only another platform installs (Poetry's ``xattr`` on macOS, keyring's ``pywin32-ctypes``
    on Windows).  The registry publishes a small wheel (name, a version in range, no code) for
    each: this machine never installs them, the solve only has to find them."""
    dump = subprocess.run(
        [
            str(python),
            "-c",
            "import json, importlib.metadata as m;"
            " print(json.dumps([d.requires or [] for d in m.distributions()]))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    present = {canonicalize_name(wheel.name.split("-")[0]) for wheel in pypi.glob("*.whl")}
    for requires in json.loads(dump):
        for line in requires:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            marker = requirement.marker
            if name in present or marker is None or "extra" in str(marker):
                continue
            if marker.evaluate():
                continue
            spec = requirement.specifier
            bounds = [s.version for s in spec if s.operator in (">=", "==", "~=", "===")]
            version = next(v for v in [*bounds, "1.0.0"] if spec.contains(v, prereleases=True))
            build_wheel(pypi, requirement.name, version)
            present.add(name)


def test_a_teammate_gets_the_plugin_and_the_configured_build(
    project: Project, pypi_with_plugin: tuple[IndexServer, Path], tmp_path: Path
) -> None:
    server, bare_poetry = pypi_with_plugin
    env = dict(project.env)
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    author = Project(project.root, project.poetry, env)
    text = author.pyproject.read_text().replace(
        project.env["POETRY_TORCH_INDEX_BASE"].removesuffix("/whl") + "/pypi/simple/",
        server.pypi_url,
    )
    author.pyproject.write_text(text + REQUIRES_PLUGINS)
    # the author, who has the plugin, configures the project and commits it
    author.run("torch", "install", "--cpu")
    author.run("lock")
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "poetry.lock", "poetry-torch.lock"):
        shutil.copy2(project.root / name, clone / name)
    mate = Project(clone, bare_poetry, env)

    # without the plugin loaded, `poetry torch` does not exist yet (only install fetches it)
    missing = mate.run("torch", "check", check=False)
    assert missing.returncode != 0
    # 2.5: 'The requested command torch does not exist.'; 2.0: 'The command "torch" does not exist.'
    assert re.search(r'command "?torch"? does not exist', missing.stderr), missing.stderr

    # first `poetry install`: Poetry installs the plugin for this project, then runs without it;
    # a Poetry that re-resolves the lock before installing (installer.re-resolve, true by default
    # in 2.0) stops there with its solver's message: poetry.lock holds no torch
    reresolve = mate.run("config", "installer.re-resolve").stdout.strip() == "true"
    first = mate.run("install", check=not reresolve)
    assert "Installing Poetry plugins only for the current project" in first.stdout
    assert list((clone / ".poetry" / "plugins").glob("poetry_torch_plugin-*.dist-info"))
    if reresolve:
        assert first.returncode == 1
        assert "no versions of torch match" in first.stderr, first.stderr
    else:
        assert mate.version_of("torchmetrics") is not None
    assert mate.version_of("torch") is None  # poetry.lock holds no torch: nothing put it in

    # from the next command on the plugin is loaded: its hook installs the configured build
    mate.run("install")
    assert mate.version_of("torch") == "2.8.0+cpu"
    check = mate.run("torch", "check")
    assert "ok:" in check.stdout, check.stdout
    mate.run("check", "--lock")
    assert "2.8.0+cpu" in mate.run("show", "torch").stdout
    # nothing the teammate ran edited the committed files
    for name in ("pyproject.toml", "poetry.lock", "poetry-torch.lock"):
        assert (clone / name).read_bytes() == (project.root / name).read_bytes(), name
