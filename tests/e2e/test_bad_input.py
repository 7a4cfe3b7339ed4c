"""Every bad input ends in one line that says what to do, and loses nothing.

The refusals that must change nothing share one installed project (``refusing``): each checks
that pyproject.toml and the installed build are as they were, so a refusal that did change
something fails its own test. The tests that edit the project get their own (``installed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from tests.support.index_server import IndexServer
    from tests.support.project import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def installed(cu129_installed: Project) -> Project:
    """A project where cu129 is installed and configured (its own copy: ``cu129_installed``)."""
    assert cu129_installed.version_of("torch") == "2.9.0+cu129"
    return cu129_installed


@pytest.fixture(scope="module")
def _shared_installed(module_project: Project) -> Project:
    """``installed``, built once for the module's refusals."""
    module_project.run("torch", "install", "--cuda", "12.9")
    assert module_project.version_of("torch") == "2.9.0+cu129"
    return module_project


@pytest.fixture
def refusing(_shared_installed: Project, index_server: IndexServer) -> Project:
    """The module's shared cu129 project, for a command that must refuse and change nothing;
    the index has no faults and an empty log (``index_server``)."""
    return _shared_installed


def assert_refused(
    project: Project, args: tuple[str, ...], expected: str, extra_env: dict[str, str] | None = None
) -> str:
    before = project.pyproject.read_bytes()
    torch_before = project.version_of("torch")
    result = project.run(*args, check=False, extra_env=extra_env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, output
    assert expected in errors[0], output
    assert "poetry torch" in errors[0] or "Run" in errors[0] or "run" in errors[0], errors[0]
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == torch_before
    if torch_before:
        assert project.python("import torch; print(torch.__version__)") == torch_before
    return errors[0]


@pytest.mark.xdist_group("bad_input_refusing")  # shares a module-scoped project
@pytest.mark.parametrize("value", ["12.x", "cu12", "banana", "12.9;rm -rf /", ""])
def test_invalid_cuda_value(refusing: Project, value: str) -> None:
    assert_refused(refusing, ("torch", "install", "--cuda", value), "invalid --cuda value")


@pytest.mark.xdist_group("bad_input_refusing")  # shares a module-scoped project
def test_unpublished_variant_404(refusing: Project) -> None:
    assert_refused(refusing, ("torch", "install", "--cuda", "11.7"), "HTTP 404")


@pytest.mark.xdist_group("bad_input_refusing")  # shares a module-scoped project
def test_unreachable_index(refusing: Project) -> None:
    assert_refused(
        refusing,
        ("torch", "install", "--cuda", "12.8", "--index-base", "http://127.0.0.1:9/whl"),
        "cannot reach the index",
    )


@pytest.mark.xdist_group("bad_input_refusing")  # shares a module-scoped project
def test_no_wheel_for_this_python(refusing: Project) -> None:
    # the live index check refuses it before any download, naming this Python and platform
    line = assert_refused(refusing, ("torch", "install", "--cuda", "12.6"), "has no wheel for cp3")
    assert "linux_x86_64" in line or "linux_aarch64" in line
    assert "nothing was downloaded" in line


@pytest.mark.xdist_group("bad_input_refusing")  # shares a module-scoped project
def test_requirement_nothing_satisfies(refusing: Project) -> None:
    line = assert_refused(refusing, ("torch", "install", "torch==3.0"), "matches no version on")
    assert "newest: 2.8.0+cu129, 2.9.0+cu129" in line


def test_malformed_pyproject(installed: Project) -> None:
    installed.pyproject.write_text(installed.pyproject.read_text() + "\n[tool.poetry-torch\n")
    assert_refused(installed, ("torch", "install", "--cuda", "12.8"), "not valid TOML")


def test_two_pytorch_sources(installed: Project, index_server: IndexServer) -> None:
    installed.pyproject.write_text(
        installed.pyproject.read_text()
        + f'\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu128"\nurl = "{index_server.base}/cu128"\npriority = "explicit"\n'
    )
    line = assert_refused(installed, ("torch", "install"), "2 pytorch sources")
    assert "--cuda" in line
    # naming the variant resolves it, and exactly one source remains
    installed.run("torch", "install", "--cuda", "12.8")
    assert installed.pyproject.read_text().count('name = "pytorch_') == 1
    assert installed.version_of("torch") == "2.8.0+cu128"


@pytest.mark.smoke
def test_failed_hook_is_reported_not_hidden(
    cu129_locked: Project, index_server: IndexServer
) -> None:
    installed = cu129_locked
    installed.uninstall("torch")
    index_server.set_fault("/whl/cu129", "500")
    # one retry, not pip's five with backoff (~8 s): the failure is what is tested
    result = installed.run("install", check=False, extra_env={"POETRY_TORCH_TIMEOUT": "30"})
    assert result.returncode == 1
    assert "poetry-torch:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
