"""What the installer resolved is checked against the variant before anything is installed
(issue 12, item 17)."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.installer.backend import foreign_builds
from poetry_torch_plugin.installer.backend import refuse_foreign_builds


CU129 = Variant("cuda", (12, 9))
PINS = {
    "torch": "2.8.0+cu128",
    "torchvision": "0.23.0+cu128",
    "nvidia-fakeblas-cu12": "12.8.4",
    "filelock": "3.0+local",
}


def test_another_variants_labels_are_found() -> None:
    assert foreign_builds(PINS, CU129) == ["torch 2.8.0+cu128", "torchvision 0.23.0+cu128"]
    assert foreign_builds(PINS, Variant("cuda", (12, 8))) == []


def test_unlabelled_and_other_packages_pass() -> None:
    # macOS and PyPI builds carry no label; a non-family package's label says nothing
    assert foreign_builds({"torch": "2.8.0", "filelock": "3.0+cu128"}, CU129) == []
    assert foreign_builds({"Torch": "2.8.0+cpu"}, CPU) == []


def test_the_refusal_is_one_line_that_names_what_was_kept() -> None:
    with pytest.raises(InstallError) as info:
        refuse_foreign_builds(
            PINS,
            CU129,
            "https://alice:secret@mirror.example/whl/cu129",
            kept="pyproject.toml and the earlier build were left as they were",
        )
    line = str(info.value)
    assert "\n" not in line
    assert "secret" not in line
    assert line.startswith("https://alice:***@mirror.example/whl/cu129 serves torch 2.8.0+cu128")
    assert "torchvision 0.23.0+cu128 (cu128 builds) where cu129 was asked for" in line
    with pytest.raises(InstallError, match=r"2\.8\.0\+cpu \(a cpu build\) where cu129"):
        refuse_foreign_builds({"torch": "2.8.0+cpu"}, CU129, "https://x/whl/cu129", kept="k")
    assert "nothing was uninstalled or installed" in line
    assert "pyproject.toml and the earlier build were left as they were" in line
    assert line.endswith("then run the command again.")
