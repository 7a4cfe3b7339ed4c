"""The family follows what each index publishes (issue 22 item 6).

``tests.support.wheels.build_family_universe``: the cu132 index has torch 2.14.0 and
torchvision 0.29.0 but only a legacy torchaudio 2.2.0 pinned to torch 2.2.0, as PyTorch's cu132
page does; the PyPI stand-in has torchaudio 2.11.1, which declares no torch requirement.  With
no packages named, ``poetry torch install --cuda 13.2`` installs what PyTorch's own command
installs: torch and torchvision from cu132, and torchaudio from PyPI (said in one line), never
the legacy torchaudio and never pip's ResolutionImpossible.  Poetry's own commands, check,
export and the wheelhouse agree with the lock.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

import pytest

from tests.support.index_server import IndexServer
from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.toml import loads
from tests.support.wheels import build_family_universe
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def family_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("family")
    build_family_universe(root)
    # a primary index with no torchaudio at all (a company mirror of a few projects)
    build_wheel(root / "whl" / "plain", "tinydep", "1.0.0")
    with IndexServer(root, real=True) as server:
        yield server


def _project(tmp_path: Path, poetry_bin: Path, server: IndexServer, primary: str) -> Project:
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject_text(primary, dependencies=("tinydep",)))
    env = dict(os.environ)
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    return Project(root, poetry_bin, env)


def _torch_lock(project: Project) -> dict[str, dict[str, object]]:
    data = loads((project.root / "poetry-torch.lock").read_text())
    return {str(p["name"]): p for p in data["package"]}


def _poetry_lock_names(project: Project) -> set[str]:
    return {str(p["name"]) for p in loads(project.lock.read_text()).get("package", [])}


def test_cu132_takes_torchaudio_from_pypi(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer, uv_path: dict[str, str]
) -> None:
    project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
    project = Project(project.root, project.poetry, {**project.env, **uv_path})
    dry = project.run("torch", "install", "--cuda", "13.2", "--dry-run").stdout
    assert "Would resolve: torchaudio 2.11.1 comes from" in dry, dry
    result = project.run("torch", "install", "--cuda", "13.2")
    out = result.stdout + result.stderr
    assert "ResolutionImpossible" not in out
    assert "torchaudio 2.11.1 comes from" in out, out
    # the install line names where each file comes from, not the index for all of them
    pypi = family_server.pypi_url.rstrip("/")
    assert f"packages from {family_server.base}/cu132 and torchaudio from {pypi}," in out, out
    assert project.version_of("torch") == "2.14.0+cu132"
    assert project.version_of("torchvision") == "0.29.0+cu132"
    assert project.version_of("torchaudio") == "2.11.1"
    locked = _torch_lock(project)
    assert locked["torchaudio"]["version"] == "2.11.1"
    assert str(locked["torchaudio"]["index"]).rstrip("/") == family_server.pypi_url.rstrip("/")
    assert "index" not in locked["torch"]
    # pyproject.toml says the default family, as PyTorch's command names it
    assert loads(project.pyproject.read_text())["tool"]["poetry-torch"]["packages"] == [
        "torch",
        "torchvision",
        "torchaudio",
    ]

    # `poetry torch lock` decides the family as the install did
    before = (project.root / "poetry-torch.lock").read_text()
    project.run("torch", "lock", "--regenerate")
    assert (project.root / "poetry-torch.lock").read_text() == before
    # and so does an entry for another variant (resolved by uv for this platform)
    project.run("torch", "lock", "--add-variant", "cu130")
    entries = loads((project.root / "poetry-torch.lock").read_text())["entry"]
    added = [entry for entry in entries if entry["variant"] == "cu130"]
    assert added
    for entry in added:  # one per Python the index publishes for
        audio = {str(p["name"]): p for p in entry["package"]}["torchaudio"]
        assert (audio["version"], str(audio["index"]).rstrip("/")) == (
            "2.11.1",
            family_server.pypi_url.rstrip("/"),
        )
    project.run("lock")
    assert _poetry_lock_names(project) == {"tinydep"}
    project.run("install")
    project.run("sync")
    assert project.version_of("torchaudio") == "2.11.1"
    assert project.version_of("torch") == "2.14.0+cu132"
    project.pip("check")
    check = project.run("torch", "check")
    assert "torchaudio 2.11.1 comes from" in check.stdout, check.stdout
    assert "did not come from" not in check.stdout, check.stdout
    indexed = project.run("torch", "check", "--index", check=False)
    assert "torchaudio 2.11.1 comes from" in indexed.stdout, indexed.stdout

    exported = project.run("torch", "export").stdout
    assert f"--extra-index-url {family_server.pypi_url.rstrip('/')}" in exported, exported
    assert "torchaudio==2.11.1" in exported
    pylock = project.run("torch", "export", "--format", "pylock").stdout
    assert "torchaudio-2.11.1-py3-none-any.whl" in pylock

    folder = tmp_path / "wheels"
    project.run("torch", "wheelhouse", str(folder))
    assert (folder / "torchaudio-2.11.1-py3-none-any.whl").is_file()
    project.uninstall("torchaudio")
    project.run("torch", "install", "--wheelhouse", str(folder))
    assert project.version_of("torchaudio") == "2.11.1"
    project.pip("check")

    # with no lock to replay, the hook's repair decides the family the same way
    (project.root / "poetry-torch.lock").unlink()
    project.uninstall("torchaudio")
    repaired = project.run("install")
    assert "torchaudio 2.11.1 (new)" in repaired.stderr, repaired.stderr
    assert project.version_of("torchaudio") == "2.11.1"
    project.pip("check")


def test_torchaudio_left_out_where_no_index_has_one_that_pairs(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    project = _project(tmp_path, poetry_bin, family_server, f"{family_server.base}/plain")
    result = project.run("torch", "install", "--cuda", "13.2")
    out = result.stdout + result.stderr
    assert "torchaudio is not part of this build" in out, out
    assert project.version_of("torch") == "2.14.0+cu132"
    assert project.version_of("torchaudio") is None  # never the legacy 2.2.0
    assert "torchaudio" not in _torch_lock(project)
    project.run("lock")
    project.run("sync")
    assert project.version_of("torchaudio") is None
    project.pip("check")
    check = project.run("torch", "check")
    assert "torchaudio is not part of this build" in check.stdout, check.stdout
    assert "torchaudio is not installed" not in check.stdout


def test_metadata_that_does_not_match_its_hash_is_read_from_the_wheel(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    """PyTorch issue 197552 (issue 22 item 4): the cu132 torchaudio's ``.metadata`` comes
    changed (without its ``torch==2.2.0``), so it no longer matches the sha256 the page gives.
    Trusting it would pair the legacy torchaudio with torch 2.14; the plugin reads the wheel
    instead, says so at -v only, and the install takes PyPI's torchaudio as before."""
    family_server.set_fault("/whl/cu132/torchaudio-", "badmeta")
    try:
        project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
        line = "the index's metadata for torchaudio-2.2.0-py3-none-any.whl did not match"
        plain = project.run("torch", "install", "--cuda", "13.2", "--dry-run").stdout
        assert line not in plain, plain
        dry = project.run("torch", "install", "--cuda", "13.2", "--dry-run", "-v").stdout
        assert line in dry, dry
        assert "Would resolve: torchaudio 2.11.1 comes from" in dry, dry
        result = project.run("torch", "install", "--cuda", "13.2", "-v")
        out = result.stdout + result.stderr
        assert line in out, out
        assert project.version_of("torch") == "2.14.0+cu132"
        assert project.version_of("torchaudio") == "2.11.1"  # never the legacy 2.2.0
        project.pip("check")
    finally:
        family_server.clear_faults()


def test_named_torchaudio_is_never_swapped(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    """Packages named on the command line are what the user asked for: no PyPI exception."""
    project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
    result = project.run("torch", "install", "--cuda", "13.2", "torch", "torchaudio", check=False)
    assert result.returncode != 0
    assert project.version_of("torchaudio") is None


ROCM_SDK = {
    "rocm",
    "rocm-sdk-core",
    "rocm-sdk-libraries-gfx94x-dcgpu",
    "rocm-sdk-devices-gfx94x",
    "rocm-sdk-devices-gfx110x",
}


def test_rocm_714_packages_are_the_builds_runtime(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    """ROCm 7.14 and later (issue 22 item 5): torch requires ``rocm[libraries,device-all]``
    from its own index.  Poetry's solver never looks for rocm on PyPI, poetry.lock holds none
    of it, ``poetry sync`` keeps it, check reads the ROCm version from it, and the lock, export
    and wheelhouse carry it (extras included)."""
    root = tmp_path / "demo"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        pyproject_text(family_server.pypi_url, dependencies=("torchmetrics",))
    )
    env = {**os.environ, "POETRY_TORCH_INDEX_BASE": family_server.base}
    project = Project(root, poetry_bin, env)
    project.run("torch", "install", "--rocm", "7.14")
    assert project.version_of("torch") == "2.14.0+rocm7.14"
    installed = project.installed()
    assert set(installed) >= ROCM_SDK, sorted(installed)
    assert set(_torch_lock(project)) >= ROCM_SDK

    project.run("lock")
    assert _poetry_lock_names(project) == {"torchmetrics"}
    project.run("install")
    project.run("sync")
    assert set(project.installed()) >= ROCM_SDK
    assert project.version_of("torch") == "2.14.0+rocm7.14"
    project.pip("check")
    check = project.run("torch", "check")
    assert "ROCm 7.14.0 comes from the rocm package" in check.stdout, check.stdout
    assert "built for" not in check.stdout, check.stdout

    exported = project.run("torch", "export").stdout
    for name in ROCM_SDK:
        assert f"{name}==7.14.0" in exported, exported
    folder = tmp_path / "wheels"
    project.run("torch", "wheelhouse", str(folder))
    assert {p.name.split("-7.14.0")[0].replace("_", "-") for p in folder.glob("rocm*.whl")} == (
        ROCM_SDK
    )


def test_auto_and_check_index_agree_on_the_default_family(
    tmp_path: Path, poetry_bin: Path, family_server: IndexServer
) -> None:
    """On a machine that runs cu132, ``--cuda auto`` takes cu132 (torchaudio is not required
    of a candidate: it comes from PyPI), and ``check --index`` says the same."""
    import json

    machine = tmp_path / "h100.json"
    machine.write_text(
        json.dumps(
            {
                "platform": "linux-x86_64",
                "nvidia": {
                    "driver_version": "595.45.04",
                    "cuda_driver_version": [13, 2],
                    "gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}],
                },
            }
        )
    )
    project = _project(tmp_path, poetry_bin, family_server, family_server.pypi_url)
    env = {**project.env, "POETRY_TORCH_FAKE_MACHINE": str(machine)}
    project = Project(project.root, project.poetry, env)
    result = project.run("torch", "install", "--cuda", "auto")
    out = result.stdout + result.stderr
    assert "--cuda auto: cu132" in out, out
    assert "torchaudio 2.11.1 comes from" in out, out
    assert project.version_of("torchaudio") == "2.11.1"
    check = project.run("torch", "check", "--index", check=False)
    assert "--cuda auto picks cu132" in check.stdout, check.stdout
    assert "torchaudio 2.11.1 comes from" in check.stdout, check.stdout
    assert "index-missing" not in check.stdout
