"""``poetry torch check`` as a CI gate (issue 23 item 2): what fails it, what only warns, the
first verdict (``ok`` only when nothing but information follows) and one line per fix."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.service import check as check_module
from poetry_torch_plugin.service.check import Verdict
from poetry_torch_plugin.service.check import summarized
from poetry_torch_plugin.service.plan import MachinePart
from poetry_torch_plugin.service.render import check_text
from tests.unit.service.test_report import FAMILY
from tests.unit.service.test_report import H100
from tests.unit.service.test_report import NO_GPU
from tests.unit.service.test_report import PYPI_FAMILY
from tests.unit.service.test_report import Case
from tests.unit.service.test_report import build


if TYPE_CHECKING:
    from pathlib import Path


def _lock(*pins: tuple[str, str]) -> TorchLock:
    inputs = LockInputs("pytorch_cuda_cu130", "https://download.pytorch.org/whl/cu130", (), "")
    packages = tuple(
        LockedPackage(name, version, True, ((f"{name}-{version}-py3-none-any.whl", "0" * 64),))
        for name, version in pins
    )
    return TorchLock(inputs, inputs.content_hash(), packages)


@pytest.fixture
def locked(monkeypatch: pytest.MonkeyPatch) -> list[TorchLock]:
    """The part of poetry-torch.lock the report judges (``machine_part``), set by the test."""
    part: list[TorchLock] = []
    monkeypatch.setattr(check_module, "machine_part", lambda *args: MachinePart(part[0]))
    return part


def _levels(report: check_module.Report) -> list[tuple[str, str]]:
    return [(verdict.code, verdict.level) for verdict in report.verdicts]


def test_a_build_other_than_the_lock_pins_fails(tmp_path: Path, locked: list[TorchLock]) -> None:
    """Installed 2.11.0, the lock pins 2.10.0: an error whose fix reinstalls the lock; a
    torch-family package the lock does not hold is only a warning (an install leaves it)."""
    locked.append(_lock(("torch", "2.10.0+cu130"), ("torchvision", "0.26.0+cu130")))
    report = build(tmp_path, Case(H100, FAMILY))
    assert _levels(report) == [("lock-drift", "error"), ("lock-drift", "warning")]
    assert report.verdicts[0].message == (
        "torch 2.11.0+cu130 is installed, the lock pins 2.10.0+cu130"
    )
    assert report.verdicts[1].fix is None
    assert report.exit_code == 1 and report.status == "error"
    assert report.fixes() == ["poetry torch install"]
    data = report.to_dict()
    assert (data["ok"], data["status"], data["exit_code"]) == (False, "error", 1)


def test_a_missing_locked_package_fails(tmp_path: Path, locked: list[TorchLock]) -> None:
    locked.append(_lock(*((d.name, d.version) for d in FAMILY), ("nvidia-fakeblas", "1.0")))
    report = build(tmp_path, Case(H100, FAMILY))
    assert _levels(report) == [("lock-drift", "error")]
    assert "nvidia-fakeblas is not installed (locked 1.0)" in report.verdicts[0].message


def test_what_the_lock_pins_is_ok(tmp_path: Path, locked: list[TorchLock]) -> None:
    locked.append(_lock(*((d.name, d.version) for d in FAMILY)))
    report = build(tmp_path, Case(H100, FAMILY))
    assert _levels(report) == [("ok", "ok")] and report.exit_code == 0


def test_a_foreign_build_that_also_differs_from_the_lock_has_one_fix_line(
    tmp_path: Path, locked: list[TorchLock]
) -> None:
    """PyPI's builds over the locked ones: every verdict fails, and the one command that fixes
    them all is printed once."""
    locked.append(_lock(("torch", "2.10.0+cu130"), ("torchvision", "0.25.0+cu130")))
    report = build(tmp_path, Case(H100, PYPI_FAMILY))
    codes = [code for code, level in _levels(report) if level == "error"]
    assert codes == ["foreign-build", "lock-drift", "lock-drift"]
    text = [re.sub(r"</?[a-z0-9]+>", "", line) for line in check_text(report)]
    verdict = text[text.index("Verdict") + 1 :]
    assert [line for line in verdict if "fix:" in line] == ["      fix: poetry torch install"]
    assert verdict[-1] == "      fix: poetry torch install"
    assert not any(line.startswith("  ok") for line in verdict)


def test_warnings_pass_but_the_first_verdict_is_not_ok(tmp_path: Path) -> None:
    """No GPU on a CI runner, with a CUDA build: check passes (exit 0), but the first verdict
    says what matches as information and counts the warnings, instead of ``ok``."""
    report = build(tmp_path, Case(NO_GPU, FAMILY))
    assert _levels(report) == [("passed", "info"), ("no-gpu", "warning")]
    assert report.exit_code == 0 and report.ok and report.status == "warning"
    assert report.verdicts[0].message.endswith("; check passes with the 1 warning below")
    text = [re.sub(r"</?[a-z0-9]+>", "", line) for line in check_text(report)]
    assert text[text.index("Verdict") + 1].startswith("  info: torch 2.11.0+cu130")


def test_summarized_opens_with_ok_only_before_information() -> None:
    info = Verdict("auto-choice", "info", "--cuda auto picks cu130")
    warning = Verdict("index-unreadable", "warning", "could not read the index")
    error = Verdict("index-missing", "error", "no wheel", "poetry torch install --cuda auto")
    assert [v.code for v in summarized([info], "it matches")] == ["ok", "auto-choice"]
    opened = summarized([Verdict("ok", "ok", "it matches"), warning], "it matches")
    assert [v.code for v in opened] == ["passed", "index-unreadable"]
    assert opened[0].message == "it matches; check passes with the 1 warning below"
    assert [v.code for v in summarized([*opened, error], "it matches")] == [
        "index-unreadable",
        "index-missing",
    ]
