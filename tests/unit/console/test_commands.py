"""Each ``poetry torch`` command through cleo's CommandTester, with the real plugin loaded."""

from __future__ import annotations

import json

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.lockfile import inputs_for
from poetry_torch_plugin.core.lockfile import requires_python_of
from poetry_torch_plugin.project.edits import load
from poetry_torch_plugin.project.lockstate import configured
from poetry_torch_plugin.project.lockstate import write_lock


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cleo.testers.command_tester import CommandTester

    from tests.support.index_server import IndexServer
    from tests.support.wheels import Universe

    Tester = Callable[[str], CommandTester]


PLAIN = """[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = []

[tool.poetry]
package-mode = false
"""


def configured_project(root: Path, index_url: str) -> Path:
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        PLAIN + '\n[tool.poetry-torch]\npackages = ["torch"]\n\n[[tool.poetry.source]]\n'
        f'name = "pytorch_cpu"\nurl = "{index_url}"\npriority = "explicit"\n'
    )
    return pyproject


def one_error_line(tester: CommandTester) -> str:
    lines = [line for line in tester.io.fetch_error().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("poetry-torch: "), lines[0]
    return lines[0]


def test_the_plugin_registers_four_commands(tester: Tester) -> None:
    for name in ("torch install", "torch check", "torch lock", "torch export"):
        assert tester(name).command.name == name


def test_check_json_on_a_project_without_torch(tester: Tester, project_dir: Path) -> None:
    (project_dir / "pyproject.toml").write_text(PLAIN)
    check = tester("torch check")
    code = check.execute("--json")
    data = json.loads(check.io.fetch_output())
    assert code == data["exit_code"] == 1  # no environment yet
    assert data["project"]["name"] == "demo"
    assert data["project"]["source"] is None
    assert data["environment"]["path"] is None
    assert {verdict["code"] for verdict in data["verdicts"]} >= {"no-environment"}


def test_check_json_without_a_project_is_still_json(tester: Tester, project_dir: Path) -> None:
    """No pyproject.toml: stdout is JSON with the reason in ``error``; stderr keeps its one
    prefixed line (issue 12, item 26)."""
    assert not (project_dir / "pyproject.toml").exists()
    check = tester("torch check")
    code = check.execute("--json")
    data = json.loads(check.io.fetch_output())
    assert code == data["exit_code"] == 1
    assert data["ok"] is False
    assert "no pyproject.toml in" in data["error"]
    assert one_error_line(check).startswith("poetry-torch: ")


def test_check_text_renders_the_report(tester: Tester, project_dir: Path) -> None:
    (project_dir / "pyproject.toml").write_text(PLAIN)
    check = tester("torch check")
    check.execute()
    output = check.io.fetch_output()
    for heading in ("Machine", "Environment: none found", "Project", "Verdict"):
        assert heading in output
    assert "error: this project has no environment yet" in output


def test_install_dry_run_against_the_local_index(
    tester: Tester, project_dir: Path, index_server: IndexServer
) -> None:
    (project_dir / "pyproject.toml").write_text(PLAIN)
    before = (project_dir / "pyproject.toml").read_bytes()
    install = tester("torch install")
    code = install.execute(f"--cuda 12.9 --index-base {index_server.base} --dry-run")
    output = install.io.fetch_output()
    assert code == 0, install.io.fetch_error()
    assert f"from pytorch_cuda_cu129 ({index_server.base}/cu129)" in output
    assert "Would create the project's virtual environment first." in output
    assert f"--index-url {index_server.base}/cu129" in output
    assert f"Would resolve the packages afresh and write {LOCK_NAME}." in output
    assert "Would update pyproject.toml: source pytorch_cuda_cu129" in output
    assert (project_dir / "pyproject.toml").read_bytes() == before
    assert not (project_dir / LOCK_NAME).exists()


def test_lock_check_fails_in_one_line(tester: Tester, project_dir: Path) -> None:
    configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    lock = tester("torch lock")
    assert lock.execute("--check") == 1
    assert f"there is no {LOCK_NAME}" in one_error_line(lock)
    assert not (project_dir / LOCK_NAME).exists()


def test_lock_check_with_a_variant_to_add_or_regenerate_is_refused(
    tester: Tester, project_dir: Path
) -> None:
    configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    lock = tester("torch lock")
    assert lock.execute("--check --add-variant cu128") == 1
    line = one_error_line(lock)
    assert "--check writes nothing, so --add-variant cannot apply" in line
    assert "Run `poetry torch lock --add-variant cu128` first" in line
    assert lock.execute("--check --regenerate") == 1
    assert "so --regenerate cannot apply" in one_error_line(lock)
    assert not (project_dir / LOCK_NAME).exists()


def test_lock_add_variant_that_names_no_variant_is_one_line(
    tester: Tester, project_dir: Path
) -> None:
    configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    lock = tester("torch lock")
    for value in ("auto", "garbage"):
        assert lock.execute(f"--add-variant {value}") == 1
        assert one_error_line(lock).startswith("poetry-torch: --add-variant")
    assert not (project_dir / LOCK_NAME).exists()


def test_export_writes_the_file(tester: Tester, project_dir: Path) -> None:
    pyproject = configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    settings, source = configured(pyproject)
    given = inputs_for(source, settings, requires_python_of(load(pyproject).document))
    torch = LockedPackage(
        "torch", "2.9.0+cpu", True, (("torch-2.9.0+cpu-cp311-cp311-linux_x86_64.whl", "a" * 64),)
    )
    write_lock(project_dir / LOCK_NAME, TorchLock(given, given.content_hash(), (torch,), "x"))

    lock = tester("torch lock")
    assert lock.execute("--check") == 0
    assert f"{LOCK_NAME} matches pyproject.toml." in lock.io.fetch_output()
    export = tester("torch export")
    assert export.execute("-o requirements-torch.txt") == 0
    assert export.io.fetch_output() == "Wrote requirements-torch.txt\n"
    text = (project_dir / "requirements-torch.txt").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    assert f"torch==2.9.0+cpu \\ --hash=sha256:{'a' * 64}" in " ".join(text.split())
    assert export.execute("") == 0
    assert export.io.fetch_output() == text


def test_export_to_a_pylock_name_writes_pep_751(tester: Tester, project_dir: Path) -> None:
    """``-o pylock.torch.toml`` without --format: requirements text under a PEP 751 name
    would be a file uv rejects; the name picks the format, and a contradiction is refused."""
    from tests.support.toml import loads

    pyproject = configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    settings, source = configured(pyproject)
    given = inputs_for(source, settings, requires_python_of(load(pyproject).document))
    torch = LockedPackage(
        "torch", "2.9.0+cpu", True, (("torch-2.9.0+cpu-cp311-cp311-linux_x86_64.whl", "a" * 64),)
    )
    write_lock(project_dir / LOCK_NAME, TorchLock(given, given.content_hash(), (torch,), "x"))
    export = tester("torch export")
    assert export.execute("-o pylock.torch.toml") == 0, export.io.fetch_error()
    assert loads((project_dir / "pylock.torch.toml").read_text())["lock-version"] == "1.0"
    assert export.execute("--format requirements -o pylock.toml") == 1
    assert "is a PEP 751 lock file name" in one_error_line(export)
    assert not (project_dir / "pylock.toml").exists()
    assert export.execute("--format PyLock") == 0
    assert "lock-version" in export.io.fetch_output()


def test_wheelhouse_install_refuses_for_and_an_empty_folder(
    tester: Tester, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--for with a wheelhouse was silently ignored, and ``--wheelhouse ""`` meant no
    wheelhouse at all (an install from the index the user had asked not to read)."""
    configured_project(project_dir, "https://download.pytorch.org/whl/cpu")
    before = (project_dir / "pyproject.toml").read_bytes()
    install = tester("torch install")
    assert install.execute(f"--for linux --wheelhouse {project_dir}") == 1
    assert "so --for cannot apply" in one_error_line(install)
    assert install.execute('--wheelhouse "" --dry-run') == 1
    assert "is empty; nothing was installed" in one_error_line(install)
    monkeypatch.setenv("POETRY_TORCH_WHEELHOUSE", str(project_dir / "missing"))
    assert install.execute("--dry-run") == 1
    assert "holds no wheels" in one_error_line(install)
    assert (project_dir / "pyproject.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("--cuda 12.9 --cpu --dry-run", "exclude each other"),
        ("--xpu --cpu --dry-run", "--cuda, --rocm, --xpu and --cpu exclude each other"),
        ("--rocm 6.4.1.2 --dry-run", "invalid --rocm value"),
        ("--cuda banana --dry-run", "banana"),
        ("--cpu --installer conda --dry-run", "conda"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_1(
    tester: Tester, project_dir: Path, args: str, expected: str
) -> None:
    (project_dir / "pyproject.toml").write_text(PLAIN)
    before = (project_dir / "pyproject.toml").read_bytes()
    install = tester("torch install")
    assert install.execute(args) == 1
    assert expected in one_error_line(install)
    assert (project_dir / "pyproject.toml").read_bytes() == before


def test_no_project_is_one_line(tester: Tester) -> None:
    check = tester("torch check")
    assert check.execute() == 1
    assert "no pyproject.toml" in one_error_line(check)


@pytest.mark.parametrize(
    ("channel", "path", "pre"),
    [
        ("nightly", "/nightly/cu129", " --pre"),
        ("test", "/test/cu129", " --pre"),
        ("stable", "/cu129", ""),
    ],
)
def test_install_channel_dry_run(
    tester: Tester,
    project_dir: Path,
    index_universe: Universe,
    monkeypatch: pytest.MonkeyPatch,
    channel: str,
    path: str,
    pre: str,
) -> None:
    """``--channel test|nightly`` puts the source on ``…/whl/<channel>/<variant>`` and lets the
    installer take pre-releases there (issue 13 item 7).  The dry run reads the channel's
    pages (every package must be there), so the index serves cu129 on each channel."""
    from tests.support.index_server import IndexServer

    root = project_dir.parent / "channels"
    (root / "whl").mkdir(parents=True)
    (root / "whl" / "cu129").symlink_to(index_universe.root / "whl" / "cu129")
    if channel != "stable":
        (root / "whl" / channel).mkdir()
        (root / "whl" / channel / "cu129").symlink_to(index_universe.root / "whl" / "cu129")
    machine = project_dir.parent / "machine.json"
    machine.write_text("{}")
    monkeypatch.setenv("POETRY_TORCH_FAKE_MACHINE", str(machine))
    (project_dir / "pyproject.toml").write_text(PLAIN)
    install = tester("torch install")
    with IndexServer(root) as index_server:
        code = install.execute(
            f"--cuda 12.9 --channel {channel} --index-base {index_server.base} --installer pip"
            " --dry-run"
        )
    output = install.io.fetch_output()
    assert code == 0, install.io.fetch_error()
    assert f"from pytorch_cuda_cu129 ({index_server.base}{path})" in output
    assert f"--index-url {index_server.base}{path}{pre} " in output


def test_install_rejects_an_unknown_channel(tester: Tester, project_dir: Path) -> None:
    (project_dir / "pyproject.toml").write_text(PLAIN)
    install = tester("torch install")
    assert install.execute("--cpu --channel beta --dry-run") == 1
    assert "invalid --channel value 'beta': expected stable, test or nightly" in one_error_line(
        install
    )


def test_rocm_auto(tester: Tester, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--rocm auto``: the ROCm build for the AMD GPUs' gfx, or one line when there is none.
    The index publishes torch 2.11.0 for rocm7.2 (the live index decides what exists)."""
    from tests.support.index_server import IndexServer
    from tests.support.wheels import build_wheel

    root = project_dir.parent / "rocm-index"
    build_wheel(root / "whl" / "rocm7.2", "torch", "2.11.0+rocm7.2")
    machine = project_dir.parent / "machine.json"
    machine.write_text(
        '{"platform": "linux-x86_64", "amd_gpus": [{"name": "AMD Instinct MI300X",'
        ' "gfx": "gfx942"}], "nvidia": {"driver_version": "580.65.06", "gpus": []}}'
    )
    monkeypatch.setenv("POETRY_TORCH_FAKE_MACHINE", str(machine))
    (project_dir / "pyproject.toml").write_text(PLAIN)
    install = tester("torch install")
    with IndexServer(root) as index_server:
        code = install.execute(
            f"--rocm auto --index-base {index_server.base} --dry-run torch==2.11.0"
        )
    output = install.io.fetch_output()
    assert code == 0, install.io.fetch_error()
    assert output.startswith("--rocm auto: rocm7.2 (AMD Instinct MI300X (gfx942) found")
    assert f"from pytorch_rocm7_2 ({index_server.base}/rocm7.2)" in output
    machine.write_text('{"platform": "linux-x86_64"}')
    none = tester("torch install")
    assert none.execute("--rocm auto --dry-run torch==2.11.0") == 1
    assert (
        "--rocm auto found no ROCm build for this machine (no AMD GPU or ROCm runtime found)"
        in (one_error_line(none))
    )
