"""Every wheel crosses the network once (issue 15, item 1): bytes of the torch wheel served
per ``poetry torch install`` and per hook reinstall, counted by the local server, on an index
with PEP 658 metadata, with range requests only, and with neither."""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.install.uv import find_uv
from tests.support.index_server import IndexServer


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.project import Project
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KINDS = {"metadata": (True, True), "ranges-only": (False, True), "neither": (False, False)}
TORCH = "torch-2.8.0+cpu-py3-none-any.whl"


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest, index_universe: Universe) -> Iterator[IndexServer]:
    metadata, ranges = KINDS[request.param]
    with IndexServer(index_universe.root, metadata=metadata, ranges=ranges) as server:
        yield server


@pytest.fixture(params=["pip", "uv"])
def installer(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    if request.param == "pip":
        return "pip", {}
    binary = find_uv()
    if binary is None:
        pytest.skip("uv is not installed")
    directory = tmp_path / "uv-bin"
    directory.mkdir()
    (directory / "uv").symlink_to(binary)
    return "uv", {"PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"}


def kind_has_metadata(server: IndexServer) -> bool:
    return bool(server._server.metadata)


def ratio(server: IndexServer, universe: Universe) -> float:
    """Bytes of the torch wheel served since the log was cleared, per byte of the wheel."""
    path = f"/whl/cpu/{TORCH}"
    served = sum(r.bytes_sent for r in server.requests if r.path == path)
    return served / (universe.root / "whl" / "cpu" / TORCH).stat().st_size


def test_each_wheel_is_downloaded_once(
    project: Project,
    kind: IndexServer,
    installer: tuple[str, dict[str, str]],
    index_universe: Universe,
) -> None:
    name, extra = installer
    env = {"POETRY_TORCH_INDEX_BASE": kind.base}
    env.update(extra)
    result = project.run("torch", "install", "--cpu", "--installer", name, extra_env=env)
    assert project.version_of("torch") == "2.8.0+cpu"
    # one line per long phase, naming the index
    assert (
        f"Resolving torch, torchvision, torchaudio for CPU only (cpu) against {kind.base}/cpu"
        in (result.stdout)
    ), result.stdout
    once = "downloaded once, with no index" in result.stdout
    # pip before 25.3 (Poetry 2.1's venvs get 25.1.1) downloads whole wheels even to resolve
    # on an index with metadata: then the wheelhouse too, and the line says why
    old_pip = name == "pip" and project.pip_version() < (25, 3)
    assert once is (not kind_has_metadata(kind) or old_pip), result.stdout
    if old_pip and kind_has_metadata(kind):
        assert "downloads every wheel while resolving" in result.stdout, result.stdout
    assert ratio(kind, index_universe) == 1.0

    # the hook's reinstall, without a lock to replay (it pins through the installer first)
    (project.root / "poetry-torch.lock").unlink()
    project.pip("uninstall", "-y", "torch")
    kind.clear_log()
    project.run("lock", extra_env=env)
    project.run("install", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cpu"
    assert ratio(kind, index_universe) <= 1.0


def test_phases_are_one_line_each_quiet_silences_verbose_shows_commands(
    project: Project,
) -> None:
    loud = project.run("torch", "install", "--cpu", "-v")
    out = loud.stdout + loud.stderr
    assert "Resolving torch, torchvision, torchaudio for CPU only (cpu) against" in out
    if project.pip_version() < (25, 3):
        # that pip downloads every wheel to resolve: once, into the wheelhouse, then no index
        assert "downloads every wheel while resolving" in out, out
        assert "downloaded once, with no index" in out, out
        assert "poetry-torch: running " in out and " download --dest " in out
    else:
        assert "Downloading and installing " in out
        assert "poetry-torch: running " in out and " install --dry-run " in out
    project.run("torch", "install", "--cpu", "torch")
    quiet = project.run("torch", "install", "--cpu", "--upgrade", "-q")
    assert "Resolving" not in quiet.stdout + quiet.stderr
    assert "Installing" not in quiet.stdout + quiet.stderr
