"""The offline wheelhouse (issue 14, item 5), with the real poetry and the local index: filled
once where the index answers, then installs and hook reinstalls with the index down."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.toml import loads


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def locked_files(project: Project) -> dict[str, str]:
    lock = loads((project.root / "poetry-torch.lock").read_text())
    return {
        entry["file"]: entry["hash"].removeprefix("sha256:")
        for package in lock["package"]
        for entry in package["files"]
    }


def test_fill_once_then_install_with_the_index_down(
    real_project: Project, real_index_server: IndexServer
) -> None:
    """On PyTorch's own page shape: each file comes from the URL the lock kept (torch from
    the second origin), with no index page read."""
    project, index_server = real_project, real_index_server
    project.run("torch", "install", "--cuda", "12.9")
    project.run("lock")
    before = {
        name: (project.root / name).read_bytes()
        for name in ("pyproject.toml", "poetry.lock", "poetry-torch.lock")
    }
    folder = project.root.parent / "wheels"
    index_server.clear_log()
    filled = project.run("torch", "wheelhouse", str(folder))
    assert "Wheelhouse ready:" in filled.stdout, filled.stdout
    wheels = {path.name for path in folder.glob("*.whl")}
    assert "torch-2.9.0+cu129-py3-none-any.whl" in wheels
    assert wheels <= set(locked_files(project))
    assert {"torch", "torchvision", "torchaudio", "nvidia-fakeblas-cu12"} <= {
        path.parent.name for path in (folder / "simple").glob("*/index.html")
    }
    served = [r.path for r in index_server.requested("/whl/") if r.path.endswith(".whl")]
    assert sorted(served) == sorted(f"/whl/cu129/{name}" for name in wheels)  # each once
    assert not [r.path for r in index_server.requested("/whl/") if r.path.endswith("/")]

    # a second fill downloads nothing: the files are there, with the locked hashes
    index_server.clear_log()
    again = project.run("torch", "wheelhouse", str(folder))
    assert "0 downloaded" in again.stdout, again.stdout
    assert not [r for r in index_server.requested("/whl/") if r.path.endswith(".whl")]

    # the index is gone: `torch install --wheelhouse` and the hook still install the build
    index_server.set_fault("/whl/", "500")
    index_server.clear_log()
    project.uninstall("torch", "torchvision")
    replayed = project.run("torch", "install", "--wheelhouse", str(folder))
    # the last line says what moved (issue 23, item 5)
    assert replayed.stdout.strip().splitlines()[-1] == (
        "torch ready from the wheelhouse: torch 2.9.0+cu129 (new), torchvision 0.24.0+cu129"
        " (new); unchanged: torchaudio 2.9.0+cu129"
    ), replayed.stdout
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchvision") == "0.24.0+cu129"
    project.uninstall("torch")
    project.run("install", extra_env={"POETRY_TORCH_WHEELHOUSE": str(folder)})
    assert project.version_of("torch") == "2.9.0+cu129"
    assert not index_server.requested("/whl/"), index_server.requested("/whl/")
    for name, data in before.items():
        assert (project.root / name).read_bytes() == data, name

    # a tampered file stops the install in one line and keeps the working build
    [audio] = folder.glob("torchaudio-*.whl")
    audio.write_bytes(audio.read_bytes()[:-10] + b"0123456789")
    project.uninstall("torchaudio")
    bad = project.run("torch", "install", "--wheelhouse", str(folder), check=False)
    assert bad.returncode == 1
    [line] = [x for x in bad.stderr.splitlines() if x.strip()]
    assert line.startswith("poetry-torch:"), bad.stderr
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchaudio") is None  # pip checked the hash before installing
    # ... and the next fill replaces it (the index is back)
    index_server.clear_faults()
    project.run("torch", "wheelhouse", str(folder))
    project.run("torch", "install", "--wheelhouse", str(folder))
    assert project.version_of("torchaudio") == "2.9.0+cu129"


def test_a_wheelhouse_only_replays_the_lock(project: Project) -> None:
    project.run("torch", "install", "--cpu")
    folder = project.root.parent / "wheels"
    project.run("torch", "wheelhouse", str(folder))
    refused = project.run(
        "torch", "install", "--cuda", "12.8", "--wheelhouse", str(folder), check=False
    )
    assert refused.returncode == 1
    assert "--cuda cannot apply" in refused.stderr, refused.stderr
    empty = project.root.parent / "empty"
    empty.mkdir()
    nothing = project.run("torch", "install", "--wheelhouse", str(empty), check=False)
    assert nothing.returncode == 1
    assert "holds no wheels" in nothing.stderr
    # no lock, no wheelhouse
    (project.root / "poetry-torch.lock").unlink()
    missing = project.run("torch", "wheelhouse", str(folder), check=False)
    assert missing.returncode == 1
    assert "poetry torch lock" in missing.stderr, missing.stderr


@pytest.mark.usefixtures("cu129_installed")
def test_a_download_that_does_not_match_the_lock_is_not_kept(
    project: Project, index_server: IndexServer
) -> None:
    """The index answers 200 for torch's wheel, but with bytes whose sha256 differs from its
    page's ``#sha256=`` (as locked): `poetry torch wheelhouse` fails in one line, the file is
    not left in the wheelhouse, no simple/ page offers it, and nothing says ready; once the
    index serves the right bytes, the fill completes (issue 22, item 4)."""
    torch_wheels = {name for name in locked_files(project) if name.startswith("torch-")}
    folder = project.root.parent / "wheels"
    index_server.set_fault("/whl/cu129/torch-", "tamper")
    index_server.clear_log()
    bad = project.run("torch", "wheelhouse", str(folder), check=False)
    served = [r for r in index_server.requested("/whl/cu129/torch-") if r.path.endswith(".whl")]
    assert served and all(r.status == 200 and r.bytes_sent > 0 for r in served), served
    assert bad.returncode == 1, bad.stdout + bad.stderr
    [line] = [x for x in bad.stderr.splitlines() if x.strip()]
    assert line.startswith("poetry-torch: torch-2.9.0+cu129-"), line
    assert "does not match its sha256 in poetry-torch.lock" in line
    assert "it was not kept" in line
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "ready" not in (bad.stdout + bad.stderr).lower()
    assert not {path.name for path in folder.glob("*.whl")} & torch_wheels
    assert not list(folder.glob("*.part"))
    assert not (folder / "simple").exists()

    index_server.clear_faults()
    good = project.run("torch", "wheelhouse", str(folder))
    assert "Wheelhouse ready:" in good.stdout, good.stdout
    assert {path.name for path in folder.glob("*.whl")} & torch_wheels
