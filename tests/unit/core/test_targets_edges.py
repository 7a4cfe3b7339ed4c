"""Red-team cases for ``[tool.poetry-torch.targets]`` and ``poetry torch install --for``: keys
that differ only in case, builds macOS does not have, inline tables, ``--dry-run`` and a
failed install after the entry was written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import tomlkit

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.targets import parse_targets
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.project.edits import apply_target_edit
from poetry_torch_plugin.service.choose import InstallOptions
from poetry_torch_plugin.service.install import install_torch
from poetry_torch_plugin.service.install import undone_on_failure
from tests.support.toml import loads


if TYPE_CHECKING:
    from pathlib import Path

PROJECT = b'[project]\nname = "x"\nversion = "0.1"\nrequires-python = ">=3.9"\n'


def test_two_keys_for_one_kind_are_refused() -> None:
    with pytest.raises(ConfigError, match="names linux twice"):
        parse_targets({"linux": "cpu", "Linux ": "cu129"})


@pytest.mark.parametrize("key", ["macos", "macos-arm64", "macos-x86_64"])
def test_macos_takes_only_the_cpu_build_or_auto(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_targets({key: "cu129"})
    assert "only the cpu build" in str(info.value) and "\n" not in str(info.value)
    assert parse_targets({key: "CPU", "no-gpu": "cu129"}) == ((key, "cpu"), ("no-gpu", "cu129"))
    assert parse_targets({key: "auto"}) == ((key, "auto"),)


def test_an_entry_spelled_in_another_case_is_replaced_not_doubled() -> None:
    original = '[project]\nname = "x"\n\n[tool.poetry-torch.targets]\nLinux = "cpu"  # ours\n'
    edit = apply_target_edit(tomlkit.parse(original), "linux", "cu129", original)
    assert read_config(loads(edit.text)).targets == (("linux", "cu129"),)
    assert "# ours" in edit.text


@pytest.mark.parametrize(
    "original",
    [
        '[project]\nname = "x"\n\n[tool]\npoetry-torch = {packages = ["torch"]}\n',
        '[project]\nname = "x"\n\n[tool.poetry-torch]\ntargets = {macos = "cpu"}\n',
        '[project]\nname = "x"\n\n[tool.poetry-torch]\ntargets.macos = "cpu"\n',
    ],
)
def test_inline_and_dotted_tables_stay_valid(original: str) -> None:
    edit = apply_target_edit(tomlkit.parse(original), "no-gpu", "cpu", original)
    config = read_config(loads(edit.text))
    assert ("no-gpu", "cpu") in config.targets
    assert loads(edit.text)["project"] == {"name": "x"}


def _env(create: bool = False) -> object:
    raise TargetEnvError("no project environment here (test)")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (InstallOptions(cpu=True, for_kind="beos", dry_run=True), "is not a kind of machine"),
        (InstallOptions(cuda="12.9", for_kind="macos", dry_run=True), "only the cpu build"),
        (InstallOptions(cuda="12.9", for_kind="macos"), "only the cpu build"),
        (
            InstallOptions(cpu=True, for_kind="linux", index_base="https://mirror/whl"),
            "--index-base",
        ),
    ],
)
def test_for_is_checked_before_anything_is_said_or_written(
    tmp_path: Path, options: InstallOptions, message: str
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(PROJECT)
    said: list[str] = []
    with pytest.raises(ConfigError, match=message):
        install_torch(pyproject, options, _env, said.append)  # type: ignore[arg-type]
    assert said == []
    assert pyproject.read_bytes() == PROJECT


def test_a_failed_install_after_for_puts_pyproject_back(tmp_path: Path) -> None:
    """Linux machine, ``--for linux``: the entry is written, then the install fails."""
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the entry must cover this machine")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(PROJECT)
    said: list[str] = []
    options = InstallOptions(cpu=True, for_kind="linux")
    with pytest.raises(TargetEnvError):
        install_torch(pyproject, options, _env, said.append)  # type: ignore[arg-type]
    assert said[0] == 'Updated pyproject.toml: [tool.poetry-torch.targets] linux = "cpu".'
    assert pyproject.read_bytes() == PROJECT


def test_undone_on_failure_keeps_what_someone_else_wrote(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(b"ours\n")
    with pytest.raises(KeyboardInterrupt), undone_on_failure(pyproject, b"before\n"):
        raise KeyboardInterrupt
    assert pyproject.read_bytes() == b"before\n"
    pyproject.write_bytes(b"ours\n")
    with pytest.raises(RuntimeError), undone_on_failure(pyproject, b"before\n"):
        pyproject.write_bytes(b"someone else\n")
        raise RuntimeError
    assert pyproject.read_bytes() == b"someone else\n"
    with undone_on_failure(pyproject, b"before\n"):
        pass
    assert pyproject.read_bytes() == b"someone else\n"


def test_for_a_kind_a_more_specific_entry_overrides_says_which_applies(tmp_path: Path) -> None:
    import platform
    import sys

    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        pytest.skip("needs a linux-x86_64 machine")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(PROJECT + b'\n[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\n')
    said: list[str] = []
    install_torch(pyproject, InstallOptions(cpu=True, for_kind="linux"), _env, said.append)  # type: ignore[arg-type]
    assert said == [
        'Updated pyproject.toml: [tool.poetry-torch.targets] linux = "cpu".',
        "This machine is not what linux covers (the linux-x86_64 entry applies here): nothing"
        " installed here (`poetry torch check` shows which entry applies to it).",
    ]
    assert read_config(loads(pyproject.read_text())).targets == (
        ("linux-x86_64", "cu129"),
        ("linux", "cpu"),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('tool = 3\n\n[project]\nname = "x"\n', r"\[tool\] in pyproject.toml is not a table"),
        ('[tool]\npoetry-torch = "x"\n', r"\[tool.poetry-torch\] in pyproject.toml is not a"),
        ('[tool.poetry-torch]\ntargets = "cpu"\n', "must be a table of machine kinds"),
        ('[tool.poetry-torch]\ntargets = ["cpu"]\n', "must be a table of machine kinds"),
        ('[tool.poetry-torch]\ninstaller = "conda"\n', "is not one of auto, pip, uv"),
        ('[tool.poetry-torch.targets]\nmacos = "cu129"\n', "only the cpu build"),
    ],
)
def test_for_refuses_a_malformed_table_in_one_line_and_writes_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    """These were AttributeError tracebacks, or an entry added to an invalid config."""
    from poetry_torch_plugin.project.edits import set_target

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(body)
    before = pyproject.read_bytes()
    with pytest.raises(ConfigError, match=message) as info:
        set_target(pyproject, "linux", "cpu")
    assert "\n" not in str(info.value)
    assert pyproject.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[tool]\npoetry-torch = "x"\n', r"\[tool.poetry-torch\] in pyproject.toml is not a"),
        ('[tool.poetry]\nsource = "x"\n', r"\[\[tool.poetry.source\]\] in pyproject.toml is"),
        ("[tool.poetry]\nsource = [1]\n", r"\[\[tool.poetry.source\]\] in pyproject.toml is"),
        ("[tool]\npoetry = 3\n", r"\[tool.poetry\] in pyproject.toml is not a table"),
    ],
)
def test_install_refuses_a_malformed_table_in_one_line(
    tmp_path: Path, body: str, message: str
) -> None:
    """The install's own edit (not only --for) met these with AttributeError tracebacks."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(PROJECT + b"\n" + body.encode())
    before = pyproject.read_bytes()
    with pytest.raises(ConfigError, match=message) as info:
        install_torch(pyproject, InstallOptions(cpu=True, dry_run=True), _env, lambda _: None)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert pyproject.read_bytes() == before
