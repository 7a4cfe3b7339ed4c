"""``check`` and ``install`` share one decision: the findings of ``core/fit.py``, in the same
words; and what ``check`` says on macOS (MPS, the macOS a torch release needs) and on Jetson."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.service.render import check_text
from tests.unit.service.test_report import FAMILY
from tests.unit.service.test_report import OLD_DRIVER
from tests.unit.service.test_report import PASCAL
from tests.unit.service.test_report import Case
from tests.unit.service.test_report import Dist
from tests.unit.service.test_report import build


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.machine import Machine


FACTS = load_facts()
MACOS_FAMILY = (Dist("torch", "2.11.0", "__version__ = '2.11.0'\ncuda = None\nhip = None\n"),)
ORIN = machine_from_dict(
    {
        "platform": "linux-aarch64",
        "jetson": {"model": "NVIDIA Jetson AGX Orin", "soc": "tegra234", "l4t": "R36.4.3"},
    }
)


def mac(macos: str, mps: bool, machine: str = "arm64") -> Machine:
    return machine_from_dict({"platform": f"darwin-{machine}", "macos": macos, "mps": mps})


@pytest.mark.parametrize(
    ("machine", "code"),
    [(OLD_DRIVER, "driver-too-old"), (PASCAL, "arch-not-in-build")],
    ids=["driver", "arch"],
)
def test_check_says_what_an_explicit_install_says(
    tmp_path: Path, machine: Machine, code: str
) -> None:
    report = build(tmp_path, Case(machine, FAMILY))
    [verdict] = [v for v in report.verdicts if v.code == code]
    cu130 = from_index_name("cu130")
    assert cu130 is not None
    fit = judge_variant(FACTS, machine, cu130, "2.11.0", option="--cuda 13.0")
    [finding] = [f for f in fit.findings if f.code == code]
    assert fit.refusal is not None and finding.text in fit.refusal
    assert verdict.message == f"torch 2.11.0+cu130 cannot run here: {finding.text}"
    assert verdict.level == "error"


@pytest.mark.parametrize(
    ("machine", "level", "words"),
    [
        (
            mac("14.5", True),
            "ok",
            "Apple MPS available on macOS 14.5; torch 2.11's MPS needs macOS >= 14.0",
        ),
        (mac("13.6.7", True), "warning", "macOS 13.6.7 is older than 14.0"),
        (
            mac("13.6.7", False, "x86_64"),
            "warning",
            "no Apple MPS on macOS 13.6.7: it needs Apple Silicon",
        ),
    ],
    ids=["mps", "macos-too-old", "rosetta-or-intel"],
)
def test_check_reports_mps_and_the_macos_it_needs(
    tmp_path: Path, machine: Machine, level: str, words: str
) -> None:
    report = build(tmp_path, Case(machine, MACOS_FAMILY, variant="cpu", packages=("torch",)))
    [verdict] = [v for v in report.verdicts if v.code.startswith("mps")]
    assert verdict.level == level
    assert words in verdict.message, verdict.message
    assert "\n" not in verdict.message
    # torch 2.11's row is an assumption (unchecked): too old a macOS warns, never fails check
    assert report.exit_code == 0
    text = "\n".join(check_text(report))
    assert "Apple MPS" in text and f"macOS {machine.macos}" in text


def test_a_torch_whose_mps_floor_is_checked_fails_on_an_older_macos(tmp_path: Path) -> None:
    """torch 2.10's floor (macOS 14.0, pytorch/pytorch#177819) is checked: an error."""
    dists = (Dist("torch", "2.10.0", "__version__ = '2.10.0'\ncuda = None\nhip = None\n"),)
    report = build(tmp_path, Case(mac("13.6.7", True), dists, variant="cpu", packages=("torch",)))
    [verdict] = [v for v in report.verdicts if v.code == "mps-macos-too-old"]
    assert verdict.level == "error" and "issue-177819" in verdict.message


def test_check_on_a_jetson(tmp_path: Path) -> None:
    """A CUDA build: the error an explicit --cuda gives; the cpu build: the same line, a warning."""
    cuda = build(tmp_path / "cuda", Case(ORIN, FAMILY))
    [verdict] = [v for v in cuda.verdicts if v.code == "jetson-needs-jetpack"]
    assert verdict.level == "error" and "JetPack" in verdict.message
    cpu_family = (Dist("torch", "2.11.0+cpu", "__version__ = '2.11.0+cpu'\ncuda = None\n"),)
    cpu = build(tmp_path / "cpu", Case(ORIN, cpu_family, variant="cpu", packages=("torch",)))
    [note] = [v for v in cpu.verdicts if v.code == "jetson-needs-jetpack"]
    assert note.level == "warning" and cpu.exit_code == 0
    assert note.message.split(": ", 1)[1] == verdict.message.split(": ", 1)[1]
    assert "Jetson" in "\n".join(check_text(cpu))
