"""Every wheel crosses the network once (issue 15, item 1): bytes of the torch wheel served
per ``poetry torch install`` and per hook reinstall, counted by the local server, on an index
with PEP 658 metadata, with range requests only, and with neither."""

from __future__ import annotations

import os

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.installer.uv import find_uv
from tests.support.index_server import IndexServer


if TYPE_CHECKING:
    from collections.abc import Iterator

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
    # the project's installer, so that the hook's reinstalls below use it too (pip is the default)
    with project.pyproject.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[tool.poetry-torch]\ninstaller = "{name}"\n')
    result = project.run("torch", "install", "--cpu", extra_env=env)
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

    # uv keeps what it downloaded from an index in its cache, whatever the server says, and
    # installs it from there; pip caches nothing from a plain-http index (see below).
    cached = name == "uv" and kind_has_metadata(kind)

    # the hook's reinstall, replaying poetry-torch.lock
    project.uninstall("torch")
    kind.clear_log()
    project.run("install", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cpu"
    assert ratio(kind, index_universe) == (0.0 if cached else 1.0)

    # the hook's reinstall, without a lock to replay (it pins through the installer first)
    (project.root / "poetry-torch.lock").unlink()
    project.uninstall("torch")
    kind.clear_log()
    project.run("lock", extra_env=env)
    project.run("install", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cpu"
    assert ratio(kind, index_universe) == (0.0 if cached else 1.0)


def test_phases_are_one_line_each_quiet_silences_verbose_shows_commands(
    project: Project, installer: tuple[str, dict[str, str]], index_server: IndexServer
) -> None:
    """Item 2: ``-q`` silences the phase lines and the installer's own output; ``-v`` shows
    every installer command exactly as it runs (its executable, its index)."""
    import shlex

    name, extra = installer
    quiet = project.run("torch", "install", "--cpu", "--installer", name, "-q", extra_env=extra)
    assert project.version_of("torch") == "2.8.0+cpu"
    assert quiet.stdout + quiet.stderr == ""

    loud = project.run(
        "torch", "install", "--cpu", "--installer", name, "--upgrade", "-v", extra_env=extra
    )
    out = loud.stdout + loud.stderr
    assert "Resolving torch, torchvision, torchaudio for CPU only (cpu) against" in out
    old_pip = name == "pip" and project.pip_version() < (25, 3)
    if old_pip:
        # that pip downloads every wheel to resolve: once, into the wheelhouse, then no index
        assert "downloads every wheel while resolving" in out, out
        assert "downloaded once, with no index" in out, out
        assert "poetry-torch: running " in out and " download --dest " in out
        return
    assert f"Downloading and installing 3 packages from {index_server.base}/cpu" in out
    resolving, installing = installer_commands(out)
    for command in (resolving, installing):
        argv = shlex.split(command)
        assert Path(argv[0]).is_file(), command
        assert argv[argv.index("--index-url") + 1] == f"{index_server.base}/cpu", command
    if name == "pip":
        assert argv[0] == str(project.venv / "bin" / "python"), command
        assert " -m pip install --dry-run " in resolving
    else:
        assert " pip compile " in resolving
    assert " pip install " in installing and "--require-hashes" in installing


def installer_commands(output: str) -> list[str]:
    """The installer command lines ``-v`` printed."""
    prefix = "poetry-torch: running "
    return [line[len(prefix) :] for line in output.splitlines() if line.startswith(prefix)]


def test_a_file_index_is_read_in_place(
    project: Project,
    installer: tuple[str, dict[str, str]],
    index_universe: Universe,
    tmp_path: Path,
) -> None:
    """A ``file://`` PEP 503 folder: the installer reads each wheel where it lies, with no
    ``download`` into a temporary wheelhouse first (item 1), in the install and the hook."""
    from tests.support.wheels import write_static_index

    name, extra = installer
    house = tmp_path / "house"
    write_static_index(index_universe.root / "whl" / "cpu", house / "cpu")
    result = project.run(
        "torch",
        "install",
        "--cpu",
        "--installer",
        name,
        "--index-base",
        house.as_uri(),
        "-v",
        extra_env=extra,
    )
    out = result.stdout + result.stderr
    assert project.version_of("torch") == "2.8.0+cpu"
    assert f"Downloading and installing 3 packages from {house.as_uri()}/cpu" in out, out
    assert "downloaded once, with no index" not in out
    commands = installer_commands(out)
    assert len(commands) == 2, commands  # resolve, then install: nothing else
    assert not [c for c in commands if " download " in c or "--find-links" in c], commands

    # the hook, without a lock to replay, installs from the folder too
    (project.root / "poetry-torch.lock").unlink()
    project.uninstall("torch")
    hook = project.run("install", "-v", extra_env=extra)
    out = hook.stdout + hook.stderr
    assert project.version_of("torch") == "2.8.0+cpu"
    commands = installer_commands(out)
    assert commands, out
    assert not [c for c in commands if " download " in c or "--find-links" in c], commands


@pytest.mark.parametrize("cached_kind", ["metadata", "neither"])
def test_a_second_install_of_the_same_build_downloads_nothing(
    project: Project,
    installer: tuple[str, dict[str, str]],
    index_universe: Universe,
    index_server: IndexServer,
    tmp_path: Path,
    cached_kind: str,
) -> None:
    """The installer's own cache is reused (item 1): another project on the same machine
    installing the same build gets no wheel from the index, whose files say, as PyPI's do,
    that they never change.  pip caches only what came over https or from a trusted host:
    the local server is plain http, so its source is marked trusted (``cert = false``)."""
    from tests.support.project import Project as AnotherProject
    from tests.support.project import pyproject_text

    name, extra = installer
    metadata, ranges = KINDS[cached_kind]
    with IndexServer(index_universe.root, metadata=metadata, ranges=ranges, cache=True) as server:
        env = {"POETRY_TORCH_INDEX_BASE": server.base, **extra}
        project.run("config", "certificates.pytorch_cpu.cert", "false")  # this machine's config
        project.run("torch", "install", "--cpu", "--installer", name, extra_env=env)
        assert ratio(server, index_universe) == 1.0
        other = AnotherProject(tmp_path / "other", project.poetry, project.env)
        other.root.mkdir()
        other.pyproject.write_text(pyproject_text(index_server.pypi_url))
        server.clear_log()
        again = other.run("torch", "install", "--cpu", "--installer", name, "-v", extra_env=env)
        assert other.version_of("torch") == "2.8.0+cpu"
        wheels = [r for r in server.requests if r.path.endswith(".whl")]
    assert sum(r.bytes_sent for r in wheels) == 0, again.stdout + again.stderr


def test_without_a_terminal_one_line_per_download_and_no_redraws(
    project: Project,
    installer: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    """In CI (output to a pipe): no progress-bar redraws (no carriage returns) even for a
    wheel big enough for a bar; the installer's own lines only at -v (issue 23, item 5), where
    pip says one ``Downloading`` line per file, uv one ``+ name==version`` line per package it
    installed (issue 15, item 2); without -v, the plugin's one line says what moved."""
    import subprocess

    from tests.support.wheels import build_padded_cpu_index

    name, extra = installer
    root = tmp_path / "padded"
    build_padded_cpu_index(root / "whl" / "cpu", 2_000_000)
    with IndexServer(root) as server:
        env = {**project.env, "POETRY_TORCH_INDEX_BASE": server.base, **extra}

        def install(*loud: str) -> tuple[bytes, str]:
            finished = subprocess.run(
                [str(project.poetry), "torch", "install", "--cpu", "--installer", name, *loud],
                cwd=project.root,
                env=env,
                capture_output=True,
                timeout=300,
                check=False,
            )
            raw = finished.stdout + finished.stderr
            text = raw.decode("utf-8", "replace")
            assert finished.returncode == 0, text
            assert project.version_of("torch") == "2.8.0+cpu"
            assert b"\r" not in raw, text
            assert b"\x1b[" not in raw, text
            return raw, text

        _, text = install()
        assert "torch 2.8.0+cpu (new)" in text, text
        assert ".whl (" not in text and "+ torch==" not in text, text  # no installer log
        project.uninstall("torch", "torchvision", "torchaudio")
        _, text = install("-v")
    if name == "pip":
        downloads = [line.strip() for line in text.splitlines() if ".whl (" in line]
        # one line per file from the index (pip before 25.3 downloads them into the temporary
        # wheelhouse, then installs each from there: "Processing <local file>")
        downloads = [line for line in downloads if line.startswith("Downloading ")]
        assert len(downloads) == 3, text
        assert len([line for line in downloads if "torch-2.8.0" in line]) == 1, text
        assert "\u2501" not in text, text  # no bar drawn once at the end either
    else:
        installed = [line.strip() for line in text.splitlines() if line.strip().startswith("+ ")]
        assert sorted(installed) == [
            "+ torch==2.8.0+cpu",
            "+ torchaudio==2.8.0+cpu",
            "+ torchvision==0.23.0+cpu",
        ], text
