"""Poetry's own promises around the hold-out (issue 16), with the real poetry on local indexes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.record import replace
from tests.support.toml import loads


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def locked_names(project: Project) -> set[str]:
    return {p["name"] for p in loads(project.lock.read_text()).get("package", [])}


def walk_switch_then_poetry(project: Project) -> None:
    """From ``cu129_locked`` (``poetry torch install --cuda 12.9``, then ``poetry lock``)."""
    # switching variants edits the source table (part of poetry.lock's content-hash) ...
    project.run("torch", "install", "--cuda", "12.8")
    assert project.version_of("torch") == "2.8.0+cu128"
    # ... and poetry.lock is refreshed with it: no extra step before install or check --lock
    project.run("check", "--lock")
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"
    assert not locked_names(project) & {"torch", "torchvision", "torchaudio"}

    # show: the configured build, never the PyPI-role index's newest torch
    shown = project.run("show").stdout
    assert "2.8.0+cu128" in shown, shown
    assert "2.9.0" not in shown, shown
    assert "2.8.0+cu128" in project.run("show", "torch").stdout
    tree = project.run("show", "--tree").stdout
    assert "torchmetrics" in tree and "torch" in tree
    outdated = project.run("show", "--outdated").stdout
    assert "torch " not in outdated, outdated
    project.run("debug", "resolve")

    # dry runs change nothing and say what the hook would do, from where
    project.uninstall("torch")
    dry = project.run("install", "--dry-run")
    assert project.version_of("torch") is None
    assert "would reinstall" in dry.stdout + dry.stderr
    assert "pytorch_cuda_cu128" in dry.stdout + dry.stderr
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.smoke
@pytest.mark.usefixtures("cu129_locked")
def test_switch_show_and_dry_run_keep_poetry_working(project: Project) -> None:
    walk_switch_then_poetry(project)


@pytest.mark.usefixtures("cu129_locked")
def test_lock_only_commands_install_nothing_into_an_empty_environment(project: Project) -> None:
    for name in ("torch", "torchvision", "torchaudio", "nvidia-fakeblas-cu12"):
        project.uninstall(name)
    project.run("lock")
    project.run("update", "--lock")
    assert project.version_of("torch") is None
    # a wrong build in an existing environment is still repaired after a lock
    project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"


@pytest.mark.usefixtures("cu129_locked")
def test_invalid_configuration_stops_every_command_before_it_runs(project: Project) -> None:
    lock_before = project.lock.read_bytes()
    text = project.pyproject.read_text()
    project.pyproject.write_text(
        text.replace("[tool.poetry-torch]", "[tool.poetry-torch]\npakages = []")
    )
    for command in (("install",), ("lock",), ("show",), ("check",)):
        result = project.run(*command, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "Traceback" not in output
        errors = [line for line in output.splitlines() if "poetry-torch:" in line]
        assert len(errors) == 1 and "pakages" in errors[0], output
    assert project.lock.read_bytes() == lock_before
    assert project.version_of("torch") == "2.9.0+cu129"


def test_migration_from_a_lock_that_holds_torch(project: Project) -> None:
    """Locked by plain Poetry from a `pytorch` source, then managed by the plugin."""
    text = project.pyproject.read_text()
    base = project.env["POETRY_TORCH_INDEX_BASE"]
    project.pyproject.write_text(
        text.replace('    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch>=2.8",\n')
        + f'\n[[tool.poetry.source]]\nname = "pytorch"\nurl = "{base}/cu129"\npriority = "explicit"\n'
        + '\n[tool.poetry.dependencies]\ntorch = {source = "pytorch"}\n'
    )
    project.run("lock")  # plain Poetry semantics: this project has not opted in yet
    assert "torch" in locked_names(project)
    project.run("torch", "install", "--cuda", "12.9")
    project.run("install")
    project.run("add", "tinydep")
    assert "torch" not in locked_names(project)
    assert project.version_of("torch") == "2.9.0+cu129"
    # the user's declaration and source are still there
    data = loads(project.pyproject.read_text())
    assert "torch>=2.8" in data["project"]["dependencies"]
    assert any(s["name"] == "pytorch" for s in data["tool"]["poetry"]["source"])


def test_a_project_that_has_not_opted_in_locks_as_without_the_plugin(
    project: Project, tmp_path: Path
) -> None:
    import shutil

    text = project.pyproject.read_text()
    base = project.env["POETRY_TORCH_INDEX_BASE"]
    project.pyproject.write_text(
        text
        + f'\n[[tool.poetry.source]]\nname = "pytorch-gpu-src"\nurl = "{base}/cu129"\n'
        + 'priority = "explicit"\n\n[tool.poetry.dependencies]\n'
        + 'torch = {version = "^2.8.0", source = "pytorch-gpu-src"}\n'
    )
    project.pyproject.write_text(
        project.pyproject.read_text().replace(
            '    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch",\n'
        )
    )
    twin = replace(project, root=tmp_path / "twin")
    shutil.copytree(project.root, twin.root)
    project.run("lock")
    twin.run("--no-plugins", "lock")
    assert project.lock.read_bytes() == twin.lock.read_bytes()
    assert "torch" in locked_names(project)


@pytest.mark.usefixtures("cu129_installed")
def test_nvidia_projects_torch_does_not_pull_in_can_be_added(project: Project) -> None:
    """Held: the configured packages and the runtime the configured build requires, no more."""
    project.run("add", "nvidia-ml-py")
    project.run("add", "cuda-python")
    project.run("add", "cuda-bindings")  # a runtime-like name the configured build does not need
    locked = locked_names(project)
    assert {"nvidia-ml-py", "cuda-python", "cuda-bindings"} <= locked, locked
    # torch's own CUDA runtime stays held out of poetry.lock, and installed at the torch pin
    assert not locked & {"torch", "torchvision", "torchaudio", "nvidia-fakeblas-cu12"}, locked
    assert project.version_of("nvidia-ml-py") == "12.575.51"
    assert project.version_of("cuda-python") == "12.9.0"
    assert project.version_of("cuda-bindings") == "12.9.0"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.9.1"
    assert project.version_of("torch") == "2.9.0+cu129"
    project.run("install")
    project.run("check", "--lock")
    assert project.version_of("torch") == "2.9.0+cu129"


# A PEP 517 backend in the package's own tree (backend-path), so the build needs nothing but
# torch, which the fake PyPI has: it writes the torch version its build environment imported
# into the wheel it builds.
BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "thepkg", "0.1.0"
INFO = f"{NAME}-{VERSION}.dist-info"


def _torch():
    import torch

    return torch.__version__


def _meta():
    return {
        "METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n"
        f"Summary: built with torch {_torch()}\\n\\n",
        "WHEEL": "Wheel-Version: 1.0\\nGenerator: inline\\nRoot-Is-Purelib: true\\n"
        "Tag: py3-none-any\\n",
    }


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, INFO))
    for name, text in _meta().items():
        with open(os.path.join(metadata_directory, INFO, name), "w") as handle:
            handle.write(text)
    return INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {f"{NAME}/__init__.py": f"BUILT_WITH_TORCH = {_torch()!r}\\n"}
    files.update({f"{INFO}/{name}": text for name, text in _meta().items()})
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record += f"{path},sha256={digest.rstrip(b'=').decode()},{len(text.encode())}\\n"
    files[f"{INFO}/RECORD"] = record + f"{INFO}/RECORD,,\\n"
    wheel = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
"""

THEPKG = """[project]
name = "thepkg"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = []

[build-system]
requires = ["torch"]
build-backend = "inline_backend"
backend-path = ["."]
"""


@pytest.mark.usefixtures("cu129_installed")
def test_an_isolated_build_that_needs_torch_gets_a_real_torch(project: Project) -> None:
    """The hold-out is bound to the project's own command, not to the isolated build's."""
    package = project.root / "thepkg"
    package.mkdir()
    (package / "pyproject.toml").write_text(THEPKG)
    (package / "inline_backend.py").write_text(BACKEND)
    project.run("add", "./thepkg")
    assert "thepkg" in locked_names(project)
    # the build environment installed PyPI's torch, as without the plugin (the configured
    # source is explicit); a leaked hold-out would have left it without torch
    built_with = project.python("import thepkg; print(thepkg.BUILT_WITH_TORCH)")
    assert built_with == "2.9.0+cu128", built_with
    assert project.version_of("torch") == "2.9.0+cu129"
    assert not locked_names(project) & {"torch", "nvidia-fakeblas-cu12"}
    project.run("install")
    assert project.version_of("torch") == "2.9.0+cu129"


@pytest.mark.usefixtures("cu129_locked")
def test_a_failed_lock_refresh_puts_everything_back(
    project: Project, index_server: IndexServer
) -> None:
    """Fail closed: when Poetry cannot refresh poetry.lock after a switch, pyproject.toml and
    poetry-torch.lock are put back byte for byte and the earlier build is reinstalled."""
    # a dependency added by hand and not locked yet: the refresh has to resolve it, and the
    # PyPI stand-in is down
    text = project.pyproject.read_text()
    project.pyproject.write_text(
        text.replace('"torchmetrics>=1.0",', '"torchmetrics>=1.0",\n    "tinydep>=1.0",')
    )
    names = ("pyproject.toml", "poetry.lock", "poetry-torch.lock")
    before = {name: (project.root / name).read_bytes() for name in names}
    index_server.set_fault("/pypi/", "500")
    result = project.run("torch", "install", "--cuda", "12.8", check=False)
    index_server.clear_faults()
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("poetry-torch: poetry.lock could not be refreshed"), errors[0]
    assert "were put back as they were, and the configured build was put back" in errors[0]
    for name in names:
        assert (project.root / name).read_bytes() == before[name], name
    assert project.version_of("torch") == "2.9.0+cu129"


def _compiled(project: Project, package: str) -> list[Path]:
    """The bytecode files of ``package`` in the project's environment."""
    return [path for site in project.site_packages() for path in (site / package).rglob("*.pyc")]


def test_the_build_is_compiled_to_bytecode_only_with_compile_as_poetry_does(
    project: Project,
) -> None:
    """Poetry compiles what it installs only with ``poetry install --compile``; the torch
    family, which the plugin installs, follows the same rule (pip's own default compiles every
    file: for the real torch wheel ~2,300 of them, 40 % of its install's CPU)."""
    project.run("torch", "install", "--cuda", "12.9")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert _compiled(project, "torch") == []
    # the option is there and reaches the installer's command line
    plan = project.run("torch", "install", "--compile", "--dry-run", "-v")
    assert "--no-compile" not in plan.stdout + plan.stderr
    assert "pip install" in plan.stdout + plan.stderr and "--compile" in plan.stdout + plan.stderr
    # the hook's reinstall after `poetry install --compile` compiles the build as well
    project.uninstall("torch")
    project.run("install", "--compile")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert _compiled(project, "torch") != []
