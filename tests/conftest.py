from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.fixtures import _index_server_session  # noqa: F401
from tests.support.fixtures import _platform_server_session  # noqa: F401
from tests.support.fixtures import _real_index_session  # noqa: F401
from tests.support.fixtures import _real_platform_session  # noqa: F401
from tests.support.fixtures import fresh_platform_index  # noqa: F401
from tests.support.fixtures import index_server  # noqa: F401
from tests.support.fixtures import index_universe  # noqa: F401
from tests.support.fixtures import platform_index  # noqa: F401
from tests.support.fixtures import platform_universe  # noqa: F401
from tests.support.fixtures import real_index_server  # noqa: F401
from tests.support.fixtures import real_platform_index  # noqa: F401
from tests.support.fixtures import uv_path  # noqa: F401
from tests.support.isolation import ISOLATED_PREFIXES
from tests.support.isolation import isolated_env
from tests.support.isolation import isolated_settings
from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import OLDEST_POETRY
from tests.support.poetry_env import POETRY_VERSION_ENV
from tests.support.poetry_env import build_poetry_venv
from tests.support.project import Project
from tests.support.project import platform_pyproject_text
from tests.support.project import pyproject_text


# the first step of many e2e tests, shared through ``cu129_installed`` / ``cu129_locked``
INSTALL_CU129 = ("torch", "install", "--cuda", "12.9")

# A suite started in the background by a non-interactive shell (``nohup ./dev test &``, some CI
# runners) inherits SIGINT ignored, and so would every process it starts: the Ctrl-C tests'
# poetry and serve.py would never see their SIGINT.  Each pytest process (xdist's workers too)
# takes Python's own handler back, so that what it starts gets SIGINT's default at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.fixtures import PlatformIndex
    from tests.support.index_server import IndexServer


def _python_on_path(base: Path) -> Path:
    """A folder holding only ``python`` and ``python3``, links to the interpreter running the
    tests (its base, outside any venv), for the front of PATH: the Python every project venv
    Poetry creates is built from (the e2e tests compare it with ``sys.version_info``), found
    without running a version manager's shim (pyenv's costs ~40 processes, 0.15 CPU-s and up
    to a second, twice a venv)."""
    folder = base / "python-on-path"
    folder.mkdir(exist_ok=True)
    interpreter = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    for name in ("python", "python3"):
        link = folder / name
        with contextlib.suppress(FileExistsError):  # another worker made it
            link.symlink_to(interpreter)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _suite_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What every real poetry/pip run of the session shares, set before any fixture builds a
    project (module-scoped ones included), so the suite costs what it costs on CI:

    - bytecode is written, as Python does by default (CI, users): under a developer's
      ``PYTHONDONTWRITEBYTECODE=1`` every run would compile the plugin, and every pip run in a
      fresh project venv would compile pip, from source again (~0.1 s a poetry run, ~0.6 s a
      pip run); the benches drop it for the same reason (bench/_common.py);
    - one virtualenv app-data folder (the seed pip's unpacked image) for every venv Poetry
      creates, as on any machine after its first venv, instead of one per test's isolated home;
      linked into each venv (``VIRTUALENV_SYMLINK_APP_DATA``), not copied: the image is
      compiled once, where each copy (without bytecode) had its first pip run compile pip
      again (~0.5 CPU-s a project venv), and a venv is made in ~0.2 CPU-s instead of ~0.35;
    - ``python`` and ``python3`` first on PATH are this interpreter (``_python_on_path``).
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # one folder for every worker of this run (virtualenv locks it)
    saved = {
        name: os.environ.get(name)
        for name in (
            "PYTHONDONTWRITEBYTECODE",
            "VIRTUALENV_OVERRIDE_APP_DATA",
            "VIRTUALENV_SYMLINK_APP_DATA",
            "PATH",
        )
    }
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["VIRTUALENV_OVERRIDE_APP_DATA"] = str(base / "virtualenv-app-data")
    os.environ["VIRTUALENV_SYMLINK_APP_DATA"] = "1"
    os.environ["PATH"] = f"{_python_on_path(base)}{os.pathsep}{os.environ.get('PATH', '')}"
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's Poetry, pip or uv configuration, caches or active venv."""
    for key in list(os.environ):
        if key.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    for name, value in isolated_settings(tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    yield


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--dist loadgroup`` as pytest-xdist means it on every pytest: a test marked
    ``xdist_group(NAME)`` ends its node id in ``@NAME``, which sends it to the worker of its
    group (the one that builds the module-scoped project it shares).  xdist 3.8 sets that id
    through ``Item._nodeid``, which newer pytest no longer reads (9.2: node ids are structured
    ``_id`` values): the suffix was lost silently and every group was spread over the workers,
    each building its own copy of the shared project.  Here the id is set again where xdist's
    did not take; where it did, nothing changes."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if not names or item.nodeid.rfind("@") > item.nodeid.rfind("]"):
            continue
        grouped = f"{item.nodeid}@{'_'.join(sorted(names))}"
        if hasattr(item, "_id"):
            from _pytest.nodeid import NodeId  # (pytest 9.2: where ``nodeid`` is read from)

            item._id = NodeId.parse(grouped)
        else:
            setattr(item, "_nodeid", grouped)  # noqa: B010 (older pytest: where xdist sets it)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``smoke`` run on the newest and on the oldest supported Poetry.

    Only when POETRY_TORCH_TEST_POETRY is unset: setting it (as ``./dev matrix`` does) pins
    every e2e test to that one Poetry.
    """
    if (
        "poetry_bin" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("smoke") is not None
        and POETRY_VERSION_ENV not in os.environ
    ):
        metafunc.parametrize(
            "poetry_bin",
            [DEFAULT_POETRY, OLDEST_POETRY],
            indirect=True,
            ids=lambda version: f"poetry{version}",
            scope="session",
        )


@pytest.fixture(scope="session")
def poetry_bin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real poetry executable, in a throwaway venv, with this plugin installed.

    Its version: the smoke parametrization's, else POETRY_TORCH_TEST_POETRY, else the newest
    supported. Venvs live under POETRY_TORCH_TEST_VENVS when set, else in this session's
    temporary folder; either way one per version, so switching versions rebuilds nothing.
    """
    version: str = getattr(request, "param", None) or os.environ.get(
        POETRY_VERSION_ENV, DEFAULT_POETRY
    )
    cache = os.environ.get("POETRY_TORCH_TEST_VENVS")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # one folder for every worker of this run: each version built once
    root = Path(cache) if cache else base / "poetry-venvs"
    return build_poetry_venv(root / f"poetry-{version}", version)


@pytest.fixture
def project(
    tmp_path: Path,
    poetry_bin: Path,
    index_server: IndexServer,  # noqa: F811
) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(index_server.pypi_url))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = index_server.base
    return Project(root, poetry_bin, env)


def _template(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    server: IndexServer,
    steps: tuple[tuple[str, ...], ...],
) -> Project:
    """A ``project`` (same pyproject.toml, same kind of isolated home, same index) after
    ``steps``, built once for the session (per worker and Poetry) to be copied by
    ``_start_from``."""
    root = tmp_path_factory.mktemp("template") / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(server.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    template = Project(root, poetry_bin, env)
    for step in steps:
        template.run(*step)
    return template


@pytest.fixture(scope="session")
def _cu129_installed_template(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,  # noqa: F811
) -> Project:
    return _template(tmp_path_factory, poetry_bin, _index_server_session, (INSTALL_CU129,))


@pytest.fixture(scope="session")
def _cu129_locked_template(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,  # noqa: F811
) -> Project:
    return _template(
        tmp_path_factory, poetry_bin, _index_server_session, (INSTALL_CU129, ("lock",))
    )


def _start_from(template: Project, project: Project) -> Project:
    """Make ``project`` (a fresh ``project`` fixture) what ``template`` is: its folder (the
    venv included) and its isolated home (Poetry's and pip's caches) copied, modification
    times kept, and the template's paths in the venv's scripts and pyvenv.cfg rewritten."""
    home = Path(project.env["POETRY_CONFIG_DIR"]).parent
    shutil.copytree(template.root.parent / "home", home, symlinks=True, dirs_exist_ok=True)
    shutil.copytree(template.root, project.root, symlinks=True, dirs_exist_ok=True)
    old, new = str(template.root).encode(), str(project.root).encode()
    venv = project.venv
    for path in [venv / "pyvenv.cfg", *(venv / "bin").iterdir()]:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if old in data:
                stat = path.stat()
                path.write_bytes(data.replace(old, new))
                os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return project


@pytest.fixture
def cu129_installed(project: Project, _cu129_installed_template: Project) -> Project:
    """``project`` as ``poetry torch install --cuda 12.9`` leaves it, copied from one run per
    session instead of run again: for a test whose first step that is and whose subject comes
    after it (``@pytest.mark.usefixtures("cu129_installed")``, or take it as the project)."""
    return _start_from(_cu129_installed_template, project)


@pytest.fixture
def cu129_locked(project: Project, _cu129_locked_template: Project) -> Project:
    """``cu129_installed`` followed by ``poetry lock``, the same way."""
    return _start_from(_cu129_locked_template, project)


@pytest.fixture(scope="module")
def module_project(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,  # noqa: F811
) -> Project:
    """``project``, once for a whole test module: for tests that only read what one setup
    left (e.g. a refused command, an export), so it is built once instead of once a test.
    Its own isolated home; the server's faults are not reset for it (use ``index_server``)."""
    root = tmp_path_factory.mktemp("module-project") / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(_index_server_session.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = _index_server_session.base
    return Project(root, poetry_bin, env)


@pytest.fixture(scope="module")
def real_module_project(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _real_index_session: IndexServer,  # noqa: F811
) -> Project:
    """``module_project`` on the real-shape index (``real_index_server``)."""
    root = tmp_path_factory.mktemp("module-project") / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(_real_index_session.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = _real_index_session.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def real_project(
    tmp_path: Path,
    poetry_bin: Path,
    real_index_server: IndexServer,  # noqa: F811
) -> Project:
    """``project`` on ``real_index_server``: PyTorch's own 2026 page shape."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(real_index_server.pypi_url))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = real_index_server.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def real_platform_project(
    tmp_path: Path,
    poetry_bin: Path,
    real_platform_index: PlatformIndex,  # noqa: F811
) -> Project:
    """``platform_project`` on ``real_platform_index`` (PyTorch's own 2026 page shape)."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(platform_pyproject_text(real_platform_index.url("cu129")))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = real_platform_index.base
    return Project(root, poetry_bin, env)


@pytest.fixture
def platform_project(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,  # noqa: F811
) -> Project:
    """A project on ``platform_index``'s cu129 (``platform_pyproject_text``: Pythons 3.10-3.13,
    no targets, no other source), ``POETRY_TORCH_INDEX_BASE`` set to ``platform_index.base``."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(platform_pyproject_text(platform_index.url("cu129")))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = platform_index.base
    return Project(root, poetry_bin, env)
