"""``seam.locate_project_env``: Poetry's choice of environment, found without creating Poetry."""

from __future__ import annotations

import sys
import venv

from pathlib import Path

import pytest

from poetry.utils.env.env_manager import EnvManager

from poetry_torch_plugin.seam.locate import locate_existing_venv
from poetry_torch_plugin.seam.locate import locate_project_env


RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "Demo_App"\nversion = "0.1.0"\n\n[tool.poetry]\npackage-mode = false\n'
    )
    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(tmp_path / "venvs"))
    return root


def base_name(project: Path, name: str = "demo-app") -> str:
    return EnvManager.generate_env_name(name, str(project))


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(path)
    return path


def test_in_project_venv(project: Path) -> None:
    (project / ".venv").mkdir()
    assert locate_project_env(project, "Demo_App") == project / ".venv"


def test_active_virtualenv_wins_without_an_envs_toml_entry(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".venv").mkdir()
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    assert locate_project_env(project, "demo-app") == tmp_path / "active"


def test_conda_base_is_not_an_active_env(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".venv").mkdir()
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "conda"))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "base")
    assert locate_project_env(project, "demo-app") == project / ".venv"
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "ml")
    assert locate_project_env(project, "demo-app") == tmp_path / "conda"


def test_envs_toml_names_the_minor_and_beats_virtual_env(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "active"))
    venvs = tmp_path / "venvs"
    base = base_name(project)
    for minor in ("3.11", "3.12"):
        (venvs / f"{base}-py{minor}").mkdir(parents=True)
    (venvs / "envs.toml").write_text(f'[{base}]\nminor = "3.11"\npatch = "3.11.9"\n')
    assert locate_project_env(project, "Demo_App") == venvs / f"{base}-py3.11"
    (venvs / f"{base}-py3.11").rmdir()  # recorded but gone: Poetry would create it anew
    assert locate_project_env(project, "Demo_App") is None


def test_virtualenvs_folder_prefers_the_running_minor_then_the_newest(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
    venvs = tmp_path / "venvs"
    base = base_name(project)
    (venvs / f"{base}-py3.9").mkdir(parents=True)
    (venvs / f"{base}-py3.13").mkdir()
    (venvs / f"{base_name(project, 'other')}-py{RUNNING}").mkdir()
    assert locate_project_env(project, "demo-app") == venvs / f"{base}-py3.13"
    (venvs / f"{base}-py{RUNNING}").mkdir(exist_ok=True)
    assert locate_project_env(project, "demo-app") == venvs / f"{base}-py{RUNNING}"


def test_poetry_toml_turns_the_in_project_venv_off(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POETRY_VIRTUALENVS_IN_PROJECT")
    (project / ".venv").mkdir()
    (project / "poetry.toml").write_text("[virtualenvs]\nin-project = false\n")
    assert locate_project_env(project, "demo-app") is None
    (project / "poetry.toml").write_text("[virtualenvs\n")  # broken: ignored, as missing
    assert locate_project_env(project, "demo-app") == project / ".venv"


def test_no_virtualenvs_means_the_system_env(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POETRY_VIRTUALENVS_CREATE", "false")
    assert locate_project_env(project, "demo-app") == Path(sys.base_prefix)


def test_nothing_yet(project: Path) -> None:
    assert locate_project_env(project, "demo-app") is None
    assert locate_project_env(project, None) is None


def test_unnamed_projects_use_poetrys_placeholder_name(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
    env = tmp_path / "venvs" / f"{base_name(project, 'non-package-mode')}-py{RUNNING}"
    env.mkdir(parents=True)
    assert locate_project_env(project, None) == env


@pytest.mark.parametrize("where", ["in-project", "virtualenvs", "active"])
def test_agrees_with_poetrys_env_manager(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The seam test: fails loudly when Poetry changes how it picks the environment."""
    from poetry.factory import Factory

    monkeypatch.setenv("POETRY_VIRTUALENVS_USE_POETRY_PYTHON", "true")
    if where == "in-project":
        expected = make_venv(project / ".venv")
    elif where == "virtualenvs":
        monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
        expected = make_venv(tmp_path / "venvs" / f"{base_name(project)}-py{RUNNING}")
    else:
        make_venv(project / ".venv")
        expected = make_venv(tmp_path / "active")
        monkeypatch.setenv("VIRTUAL_ENV", str(expected))
    poetry = Factory().create_poetry(project)
    assert Path(EnvManager(poetry).get().path) == expected
    assert locate_project_env(project, "Demo_App") == expected


def test_existing_venv_only_where_poetry_needs_no_interpreter_search(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torch install` skips Poetry's EnvManager only for these unambiguous cases."""
    (project / ".venv").mkdir()
    assert locate_existing_venv(project, "demo-app") is None  # a folder, not a venv
    make_venv(project / ".venv")
    assert locate_existing_venv(project, "demo-app") == project / ".venv"
    active = make_venv(tmp_path / "active")
    monkeypatch.setenv("VIRTUAL_ENV", str(active))
    assert locate_existing_venv(project, "demo-app") == active

    monkeypatch.delenv("VIRTUAL_ENV")
    monkeypatch.setenv("POETRY_VIRTUALENVS_IN_PROJECT", "false")
    venvs = tmp_path / "venvs"
    guessed = make_venv(venvs / f"{base_name(project)}-py{RUNNING}")
    assert locate_project_env(project, "demo-app") == guessed
    assert locate_existing_venv(project, "demo-app") is None  # Poetry might pick another Python
    (venvs / "envs.toml").write_text(f'[{base_name(project)}]\nminor = "{RUNNING}"\n')
    assert locate_existing_venv(project, "demo-app") == guessed

    monkeypatch.setenv("POETRY_VIRTUALENVS_CREATE", "false")
    (venvs / "envs.toml").unlink()
    assert locate_existing_venv(project, "demo-app") is None  # the system environment


def test_pyproject_data_reads_the_file_poetry_has_not_loaded_and_keeps_what_it_has(
    tmp_path: Path,
) -> None:
    """The hook's pyproject.toml after a command (issue 24, item 2): Poetry's own document while
    Poetry has loaded it (a command may have changed it in memory), else the file read with
    tomllib, to the same values tomlkit gives, without tomlkit's cost."""
    from poetry.pyproject.toml import PyProjectTOML

    from poetry_torch_plugin.seam.locate import pyproject_data

    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.poetry-torch]\npackages = ["torch"]\n\n[project]\nname = "demo"\n')

    class Poetry:
        def __init__(self) -> None:
            self.pyproject = PyProjectTOML(path)

    fresh = Poetry()
    assert pyproject_data(fresh) == fresh.pyproject.data.unwrap()
    assert type(pyproject_data(Poetry())) is dict  # tomllib's, not tomlkit's document
    loaded = Poetry()
    loaded.pyproject.data["tool"]["poetry-torch"]["packages"] = ["torch", "torchvision"]
    assert pyproject_data(loaded) is loaded.pyproject.data  # what Poetry holds, changed or not
    path.unlink()
    assert pyproject_data(Poetry()) == {}  # no file: Poetry's own empty document


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"directory": None, "project": None}, "{cwd}"),
        ({"directory": "/", "project": None}, "/"),
        ({"directory": None, "project": "{tmp}/demo"}, "{tmp}/demo"),
        ({"directory": "{tmp}", "project": "demo"}, "{tmp}/demo"),
    ],
)
def test_the_project_directory_follows_the_command_line_where_poetry_cached_it_early(
    options: dict[str, str | None], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Poetry 2.0 keeps its project directory in a cached property that its plugin loading
    computes before a two-word command's line (``torch check --directory /``) is bound, so it
    holds the current directory; the plugin reads the bound options as that property would
    (seen on Poetry 2.0.1: ``poetry torch check --directory /`` checked the current project).
    The application here has Poetry 2.0's shape: no ``project_directory``, a stale cached
    ``_project_directory`` and the command's bound input under ``_io``."""
    from types import SimpleNamespace

    from poetry_torch_plugin.seam.locate import project_directory

    monkeypatch.chdir(tmp_path)
    bound = {key: value.format(tmp=tmp_path) if value else value for key, value in options.items()}
    application = SimpleNamespace(
        _project_directory=tmp_path / "stale",
        _io=SimpleNamespace(input=SimpleNamespace(options=bound)),
    )
    assert project_directory(application) == Path(expected.format(cwd=tmp_path, tmp=tmp_path))  # type: ignore[arg-type]
    # Poetry 2.5's public property is taken as it is
    assert project_directory(SimpleNamespace(project_directory=tmp_path / "p")) == tmp_path / "p"  # type: ignore[arg-type]
