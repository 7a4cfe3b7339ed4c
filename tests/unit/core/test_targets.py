from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.targets import choose_variant
from poetry_torch_plugin.core.targets import machine_kind
from poetry_torch_plugin.core.targets import match_target
from poetry_torch_plugin.core.targets import parse_targets
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError
from tests.support.toml import loads


TEAM = (
    ("linux-x86_64", "cu129"),
    ("linux-aarch64", "cu128"),
    ("macos", "cpu"),
    ("windows", "cu129"),
    ("no-gpu", "cpu"),
)


@pytest.mark.parametrize(
    ("sys_platform", "machine", "gpu", "expected"),
    [
        ("linux", "x86_64", True, ("linux-x86_64", "cu129")),  # the GPU workstation
        ("linux", "x86_64", False, ("no-gpu", "cpu")),  # the CI runner
        ("linux", "aarch64", True, ("linux-aarch64", "cu128")),  # GH200
        ("darwin", "arm64", False, ("macos", "cpu")),  # the Mac laptop: no-gpu never applies
        ("win32", "AMD64", True, ("windows", "cu129")),
        ("win32", "AMD64", False, ("no-gpu", "cpu")),
        ("freebsd14", "amd64", True, None),
    ],
)
def test_the_most_specific_target_wins(
    sys_platform: str, machine: str, gpu: bool, expected: tuple[str, str] | None
) -> None:
    assert match_target(TEAM, sys_platform, machine, lambda: gpu) == expected


def test_gpus_are_detected_only_when_no_gpu_could_decide() -> None:
    def boom() -> bool:
        raise AssertionError("detected")

    assert match_target((("linux", "cu129"),), "linux", "x86_64", boom) == ("linux", "cu129")
    assert match_target(TEAM, "darwin", "arm64", boom) == ("macos", "cpu")


def test_machine_kinds() -> None:
    assert machine_kind("linux", "aarch64") == ("linux", "linux-aarch64")
    assert machine_kind("darwin", "x86_64") == ("macos", "macos-x86_64")
    assert machine_kind("win32", "ARM64") == ("windows", "windows-arm64")
    assert machine_kind("linux", "riscv64") == ("linux", None)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('targets = {linux = "cuda"}', "targets] linux = 'cuda' is not a PyTorch variant"),
        ('targets = {solaris = "cpu"}', "unknown machine kind 'solaris'"),
        ('targets = {linux = ""}', "linux is empty"),
        ('targets = "cpu"', "must be a table of machine kinds"),
    ],
)
def test_bad_targets_are_one_line(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_config(loads(f"[tool.poetry-torch]\n{toml}\n"))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_targets_are_read_and_rank_below_machine_overrides() -> None:
    config = read_config(
        loads('[tool.poetry-torch.targets]\nLinux-x86_64 = "CU129"\nno-gpu = "auto"\n')
    )
    assert config.targets == (("linux-x86_64", "cu129"), ("no-gpu", "auto"))
    assert parse_targets(None) == ()
    cu128 = from_index_name("cu128")

    def auto() -> tuple[object, str]:
        return from_index_name("cpu"), "no GPU found"

    common = {"pyproject": None, "source": cu128, "source_name": "pytorch_cuda_cu128"}
    by_target = choose_variant(env=None, local=None, auto=auto, target=("linux", "cu129"), **common)  # type: ignore[arg-type]
    assert by_target is not None
    assert (str(by_target.variant), by_target.rule) == ("cu129", "target")
    assert by_target.detail == '[tool.poetry-torch.targets] linux = "cu129"'
    assert by_target.machine_local  # the source says cu128: installed without editing files
    by_env = choose_variant(env="cpu", local=None, auto=auto, target=("linux", "cu129"), **common)  # type: ignore[arg-type]
    assert by_env is not None and by_env.rule == "env"
    by_auto = choose_variant(env=None, local=None, auto=auto, target=("no-gpu", "auto"), **common)  # type: ignore[arg-type]
    assert by_auto is not None and (str(by_auto.variant), by_auto.rule) == ("cpu", "auto")


def test_for_edits_one_entry_and_keeps_the_file() -> None:
    import tomlkit

    from poetry_torch_plugin.project.edits import apply_target_edit

    original = (
        "[project]\r\nname = 'x'  # keep me\r\n\r\n[tool.poetry-torch.targets]\r\n"
        'macos = "cpu"  # laptops\r\n'
    )
    edit = apply_target_edit(tomlkit.parse(original), "no-gpu", "cpu", original)
    assert edit.changed
    assert "# keep me" in edit.text and "# laptops" in edit.text
    assert "\n" not in edit.text.replace("\r\n", "")  # CRLF kept, no bare LF added
    assert read_config(loads(edit.text)).targets == (("macos", "cpu"), ("no-gpu", "cpu"))
    again = apply_target_edit(tomlkit.parse(edit.text), "no-gpu", "cpu", edit.text)
    assert not again.changed


def test_for_an_unknown_kind_changes_nothing(tmp_path: object) -> None:
    from pathlib import Path

    from poetry_torch_plugin.project.edits import set_target

    pyproject = Path(str(tmp_path)) / "pyproject.toml"
    pyproject.write_bytes(b"[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match="is not a kind of machine"):
        set_target(pyproject, "beos", "cpu")
    assert pyproject.read_bytes() == b"[project]\nname = 'x'\n"
