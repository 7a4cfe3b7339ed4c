"""Red-team cases for the offline wheelhouse with the real poetry and the local index: a
``POETRY_TORCH_WHEELHOUSE`` that cannot serve stops the hook in one line without reading the
index, and Ctrl-C while filling leaves one line, exit 130 and no ``.part`` file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FILES = ("pyproject.toml", "poetry.lock", "poetry-torch.lock")


@pytest.mark.usefixtures("cu129_locked")
def test_a_wheelhouse_that_cannot_serve_stops_the_hook_without_the_index(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    project.uninstall("torch")
    before = {name: (project.root / name).read_bytes() for name in FILES}
    empty = tmp_path / "empty"
    empty.mkdir()
    index_server.clear_log()
    for folder in (empty, tmp_path / "missing"):
        result = project.run(
            "install", extra_env={"POETRY_TORCH_WHEELHOUSE": str(folder)}, check=False
        )
        assert result.returncode == 1, result.stdout + result.stderr
        ours = [line for line in result.stderr.splitlines() if "poetry-torch" in line]
        assert len(ours) == 1, result.stderr
        assert ours[0].startswith(f"poetry-torch: the wheelhouse {folder} holds no wheels")
        assert "no index was read" in ours[0]
        assert "Traceback" not in result.stdout + result.stderr
    assert not index_server.requested("/whl/"), index_server.requested("/whl/")
    assert project.version_of("torch") is None  # nothing installed from anywhere
    for name, data in before.items():
        assert (project.root / name).read_bytes() == data, name
    # an explicit but empty --wheelhouse is refused too, not read as "no wheelhouse"
    blank = project.run("torch", "install", "--wheelhouse", "", check=False)
    assert blank.returncode == 1
    assert "is empty; nothing was installed" in blank.stderr, blank.stderr
    assert not index_server.requested("/whl/")


@pytest.mark.usefixtures("cu129_locked")
def test_ctrl_c_while_filling_a_wheelhouse_is_one_line_and_leaves_no_part(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    folder = tmp_path / "wheels"
    index_server.set_fault("/whl/cu129/torch-", "slow", delay=60)
    index_server.clear_log()  # the install above fetched torch: wait for this command's request
    process = project.run_interrupted(
        "torch",
        "wheelhouse",
        str(folder),
        when=lambda: bool(index_server.arrived("/whl/cu129/torch-")),
    )
    stdout, stderr = process.stdout, process.stderr
    index_server.reset()
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 130, stdout + stderr
    assert errors == [
        "poetry-torch: interrupted (Ctrl-C); the files already in the wheelhouse were kept and"
        " no half-written file was left. Run the command again to finish."
    ], stderr
    assert not list(folder.glob("*.part"))
    # the next run finishes it, reusing what the first one kept
    again = project.run("torch", "wheelhouse", str(folder))
    assert "Wheelhouse ready:" in again.stdout, again.stdout
    assert not list(folder.glob("*.part"))


def test_a_project_not_opted_in_ignores_the_wheelhouse_variable(
    project: Project, tmp_path: Path
) -> None:
    """A cluster may export POETRY_TORCH_WHEELHOUSE for everyone: a project without
    [tool.poetry-torch] or a pytorch_* source behaves as with `poetry --no-plugins`."""
    assert "poetry-torch" not in project.pyproject.read_text()
    result = project.run(
        "install", extra_env={"POETRY_TORCH_WHEELHOUSE": str(tmp_path / "missing")}
    )
    assert result.returncode == 0
    assert "poetry-torch" not in result.stdout + result.stderr, result.stderr
