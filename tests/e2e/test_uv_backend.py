"""The uv backend with the real poetry executable, real uv and the local index."""

from __future__ import annotations

import os

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.config import is_torch_family


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def torch_family_requests(server: IndexServer, prefix: str) -> list[str]:
    return [
        r.path
        for r in server.requested(prefix)
        if is_torch_family(r.path.rstrip("/").rsplit("/", 1)[-1].split("-", 1)[0])
    ]


def test_uv_installs_survives_and_switches(
    real_project: Project, uv_path: dict[str, str], real_index_server: IndexServer
) -> None:
    """On PyTorch's own page shape (torch on another host, the rest root-relative)."""
    project, index_server = real_project, real_index_server
    result = project.run(
        "torch", "install", "--cuda", "12.9", "--installer", "uv", extra_env=uv_path
    )
    # uv's own lines only at -v (issue 23, item 5): the plugin's one line says what moved
    assert " + torch==2.9.0+cu129" not in result.stderr
    assert "torch 2.9.0+cu129 (new)" in result.stdout, result.stdout
    assert "Successfully installed" not in result.stdout  # not pip
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.9.1"

    project.run("lock", extra_env=uv_path)
    project.run("install", extra_env=uv_path)
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchmetrics") == "1.0.0"

    # the hook repairs with uv too, when the project says so (installer = "auto", uv on PATH)
    text = project.pyproject.read_text()
    project.pyproject.write_text(
        text.replace("[tool.poetry-torch]\n", '[tool.poetry-torch]\ninstaller = "auto"\n')
    )
    assert 'installer = "auto"' in project.pyproject.read_text()
    project.uninstall("torch")
    result = project.run("install", extra_env=uv_path)
    assert "reinstalling" in result.stderr
    assert "poetry-torch: torch 2.9.0+cu129 (new)" in result.stderr, result.stderr
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.installed()["torch"].installer() == "uv"

    # without poetry-torch.lock the hook pins through `uv pip compile` (uv alone would keep
    # any build that satisfies the range, such as PyPI's)
    (project.root / "poetry-torch.lock").unlink()
    pypi = project.env["POETRY_TORCH_INDEX_BASE"].rsplit("/whl", 1)[0] + "/pypi/simple/"
    project.pip("install", "--force-reinstall", "--no-deps", "--index-url", pypi, "torch==2.9.0")
    assert project.version_of("torch") == "2.9.0+cu128"  # PyPI's build, from version.py
    result = project.run("install", extra_env=uv_path)
    assert "poetry-torch: torch 2.9.0+cu128 \u2192 2.9.0+cu129" in result.stderr, result.stderr
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.installed()["torch"].installer() == "uv"

    # switch
    index_server.clear_log()
    project.run("torch", "install", "--cuda", "12.8", "--installer", "uv", extra_env=uv_path)
    assert project.version_of("torch") == "2.8.0+cu128"
    assert project.version_of("torchvision") == "0.23.0+cu128"
    assert project.version_of("torchaudio") == "2.8.0+cu128"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.8.4"
    assert project.python("import torch; print(torch.version.cuda)") == "12.8"
    assert torch_family_requests(index_server, "/pypi/") == []
    # uv resolved the new lock too (`uv pip compile`): pip never asked the index for anything
    agents = {r.agent.split("/", 1)[0] for r in index_server.requested("/whl/")}
    assert "uv" in agents
    assert "pip" not in agents, agents
    lock = (project.root / "poetry-torch.lock").read_text()
    assert 'version = "2.8.0+cu128"' in lock
    assert 'resolved-for = "cpython ' in lock


def test_failing_uv_install_leaves_the_earlier_build(
    project: Project, uv_path: dict[str, str]
) -> None:
    project.run("torch", "install", "--cuda", "12.9", "--installer", "uv", extra_env=uv_path)
    before = project.pyproject.read_bytes()

    # cu126 publishes only Windows/CPython 3.9 wheels: the index check refuses it before uv
    # runs (issue 13 item 2), naming this Python and platform
    result = project.run(
        "torch", "install", "--cuda", "12.6", "--installer", "uv", check=False, extra_env=uv_path
    )
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(error) == 1, result.stderr
    assert "cu126: torch has no wheel for cp3" in error[0], result.stderr
    assert "the installed build were left untouched" in error[0]
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("torchvision") == "0.24.0+cu129"


def test_corrupted_download_fails_uv_and_leaves_the_earlier_build(
    project: Project, uv_path: dict[str, str], index_server: IndexServer
) -> None:
    project.run("torch", "install", "--cuda", "12.9", "--installer", "uv", extra_env=uv_path)
    before = project.pyproject.read_bytes()
    # metadata (PEP 658) is intact, so the resolution succeeds; the wheels uv downloads are not
    index_server.set_fault("/whl/cu128/torch-", "tamper")
    result = project.run(
        "torch", "install", "--cuda", "12.8", "--installer", "uv", check=False, extra_env=uv_path
    )
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if "earlier build" in line]
    assert len(error) == 1, result.stderr
    assert "does not match its sha256 in poetry-torch.lock" in error[0], result.stderr
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.9.1"


def test_failing_first_uv_install_changes_nothing(
    project: Project, uv_path: dict[str, str]
) -> None:
    before = project.pyproject.read_bytes()
    result = project.run(
        "torch", "install", "--cuda", "12.6", "--installer", "uv", check=False, extra_env=uv_path
    )
    assert result.returncode == 1
    assert "cu126: torch has no wheel for cp3" in result.stderr, result.stderr
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") is None


def test_hostile_uv_settings_do_not_change_what_gets_installed(
    project: Project,
    uv_path: dict[str, str],
    index_server: IndexServer,
    index_universe: Universe,
) -> None:
    # Each of these would let the fake PyPI's untagged torch 2.9.0 (cu128 inside) win.
    hostile = {
        **uv_path,
        "UV_EXTRA_INDEX_URL": index_server.pypi_url,
        "UV_INDEX": f"evil={index_server.pypi_url}",
        "UV_FIND_LINKS": str(index_universe.root / "pypi"),
        "UV_INDEX_STRATEGY": "unsafe-best-match",
    }
    (project.root / "uv.toml").write_text(f'extra-index-url = ["{index_server.pypi_url}"]\n')
    project.run("torch", "install", "--cuda", "12.8", "--installer", "uv", extra_env=hostile)
    assert project.version_of("torch") == "2.8.0+cu128"

    index_server.clear_log()
    project.run("torch", "install", "--cuda", "12.9", "--installer", "uv", extra_env=hostile)
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.python("import torch; print(torch.version.cuda)") == "12.9"
    assert torch_family_requests(index_server, "/pypi/") == []


def test_pip_is_the_default_even_with_uv_on_path(
    project: Project, uv_path: dict[str, str], index_server: IndexServer
) -> None:
    """Issue 15 item 5: a machine that happens to have uv does not silently get uv."""
    project.run("torch", "install", "--cuda", "12.9", extra_env=uv_path)
    agents = {r.agent.split("/", 1)[0] for r in index_server.requested("/whl/")}
    assert "pip" in agents and "uv" not in agents, agents  # (and the plugin's own probe)
    assert "Installer      pip" in project.run("torch", "check", extra_env=uv_path).stdout
    index_server.clear_log()
    project.uninstall("torch")
    project.run("install", extra_env=uv_path)  # the hook's reinstall: pip too
    assert project.version_of("torch") == "2.9.0+cu129"
    agents = {r.agent.split("/", 1)[0] for r in index_server.requested("/whl/")}
    assert "pip" in agents and "uv" not in agents, agents


def test_uv_configured_but_missing_changes_nothing(project: Project) -> None:
    project.pyproject.write_text(
        project.pyproject.read_text() + '\n[tool.poetry-torch]\ninstaller = "uv"\n'
    )
    before = project.pyproject.read_bytes()
    entries = os.environ.get("PATH", "").split(os.pathsep)
    path = os.pathsep.join(e for e in entries if e and not (Path(e) / "uv").is_file())
    result = project.run(
        "torch", "install", "--cuda", "12.9", check=False, extra_env={"PATH": path}
    )
    assert result.returncode == 1
    assert "no uv executable was found" in result.stderr
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") is None


def test_uv_dry_run_names_the_variable_uv_reads_the_login_from(
    project: Project, uv_path: dict[str, str], index_server: IndexServer
) -> None:
    secret = "uv-s3cret-value"
    index_server.require_auth("/whl/cu128", "alice", secret)
    env = {
        **uv_path,
        "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME": "alice",
        "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_PASSWORD": secret,
    }
    dry = project.run(
        "torch", "install", "--cuda", "12.8", "--installer", "uv", "--dry-run", extra_env=env
    )
    resolve, command = [line for line in dry.stdout.splitlines() if line.startswith("Would run:")]
    # uv resolves (`uv pip compile`), then installs the hashed requirements it wrote
    shown = index_server.base.replace("://", "://alice:***@")
    assert resolve.startswith(f"Would run: UV_INDEX_URL={shown}/cu128 ")
    assert " pip compile /" in resolve
    assert "/poetry-torch-XXXXXXXX/requirements.in --output-file " in resolve
    assert command.endswith("--require-hashes -r /tmp/poetry-torch-XXXXXXXX/torch-requirements.txt")
    # no environment yet: the install would create it, so no interpreter is named
    assert "Would create the project's virtual environment first." in dry.stdout
    assert " pip install --python '<new virtualenv>/bin/python' " in command
    assert not project.venv.exists()
    assert secret not in dry.stdout + dry.stderr


def test_uv_and_pip_write_the_same_lock(
    project: Project, uv_path: dict[str, str], index_server: IndexServer
) -> None:
    """`poetry torch lock` resolved by uv (`uv pip compile --generate-hashes`) and by pip
    (`pip install --dry-run --report`) records the same closure, files and hashes."""
    project.run("torch", "install", "--cuda", "12.9", "--installer", "pip", extra_env=uv_path)
    lock = project.root / "poetry-torch.lock"
    by_install = lock.read_text()
    index_server.clear_log()
    project.run("torch", "lock", "--installer", "uv", extra_env=uv_path)
    by_uv = lock.read_text()
    agents = {r.agent.split("/", 1)[0] for r in index_server.requested("/whl/")}
    assert "uv" in agents
    assert "pip" not in agents, agents
    project.run("torch", "lock", "--installer", "pip", extra_env=uv_path)
    by_pip = lock.read_text()
    assert by_uv == by_pip == by_install
    assert 'name = "nvidia-fakeblas-cu12"' in by_uv  # the closure, not only the requested three
    assert "sha256:" in by_uv
