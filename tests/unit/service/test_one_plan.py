"""Plan once (issue 21, point 2): the hook's repair and ``check`` take their ``Plan``, machine
verdict included, from the planner ``poetry torch install`` uses (``service.choose.plan_for``),
so the three cannot judge the build to install apart."""

from __future__ import annotations

import json

from typing import TYPE_CHECKING
from typing import Any

import pytest

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.fit import Finding
from poetry_torch_plugin.core.fit import Fit
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.installer import select
from poetry_torch_plugin.machine.detect import FAKE_MACHINE_ENV
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.service import apply as apply_module
from poetry_torch_plugin.service import check as check_module
from poetry_torch_plugin.service import choose
from poetry_torch_plugin.service import hook
from poetry_torch_plugin.service.plan import LOCKED
from poetry_torch_plugin.service.plan import MachinePart
from tests.unit.service.test_report import H100
from tests.unit.service.test_report import Case
from tests.unit.service.test_report import Dist
from tests.unit.service.test_report import build
from tests.unit.service.test_report import project_toml
from tests.unit.service.test_report import write_env


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.service.plan import Plan


V100 = machine_from_dict(
    {
        **machine_to_dict(H100),
        "nvidia": {
            **machine_to_dict(H100)["nvidia"],
            "gpus": [{"name": "Tesla V100-SXM2-16GB", "compute_capability": [7, 0]}],
        },
    }
)
CPU_TORCH = Dist("torch", "2.11.0+cpu", "__version__ = '2.11.0+cpu'\ncuda = None\nhip = None\n")


def _cu128_lock(torch: str = "2.8.0+cu128") -> TorchLock:
    """A lock of cu128 torch (2.8.0 builds cover Volta; 2.11.0's, the facts' newest, do not)."""
    inputs = LockInputs("pytorch_cuda_cu128", "https://download.pytorch.org/whl/cu128", (), "")
    wheel = ((f"torch-{torch}-cp312-cp312-manylinux_2_28_x86_64.whl", "0" * 64),)
    return TorchLock(inputs, inputs.content_hash(), (LockedPackage("torch", torch, True, wheel),))


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    """Every plan the shared planner builds, in order."""
    made: list[Plan] = []
    real = choose.plan_for

    def spy(*args: Any, **kwargs: Any) -> Plan:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(choose, "plan_for", spy)
    return made


@pytest.fixture
def locked(monkeypatch: pytest.MonkeyPatch) -> TorchLock:
    """This machine's part of poetry-torch.lock, for check and the hook alike."""
    lock = _cu128_lock()
    for module in (check_module, hook):
        monkeypatch.setattr(module, "machine_part", lambda *args, **kwargs: MachinePart(lock))
    return lock


def test_check_judges_the_build_to_install_for_the_release_the_plan_replays(
    tmp_path: Path, planned: list[Plan], locked: TorchLock
) -> None:
    """A CPU torch where cu128 is configured, on a V100: the build ``poetry torch install``
    would put back is the lock's 2.8.0, which runs on Volta; check said it cannot run, judging
    the facts' newest cu128 release instead of the plan's."""
    report = build(tmp_path, Case(V100, (CPU_TORCH,), variant="cu128", packages=("torch",)))
    codes = [verdict.code for verdict in report.verdicts]
    assert "build-mismatch" in codes and "arch-not-in-build" not in codes, report.verdicts
    [plan] = planned
    assert plan.replay is locked
    assert plan.verdict is not None and (plan.verdict.torch, plan.verdict.by) == ("2.8.0", LOCKED)


def test_check_says_what_the_plans_verdict_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked: TorchLock
) -> None:
    """The finding check reports for a build it must replace is the plan's, in its words."""
    real = choose.plan_for

    def judged(*args: Any, **kwargs: Any) -> Plan:
        plan = real(*args, **kwargs)
        assert plan.verdict is not None
        finding = Finding("driver-too-old", "the planner's finding", True)
        return replace(plan, verdict=replace(plan.verdict, fit=Fit(findings=(finding,))))

    monkeypatch.setattr(choose, "plan_for", judged)
    report = build(tmp_path, Case(V100, (CPU_TORCH,), variant="cu128", packages=("torch",)))
    [verdict] = [v for v in report.verdicts if v.code == "driver-too-old"]
    assert verdict.message == (
        "the configured cu128 build (torch 2.8.0 in poetry-torch.lock) cannot run here:"
        " the planner's finding"
    )


class _Pip:
    name = "pip"


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def detail(self, text: str) -> None:
        self.lines.append(text)


def test_the_hooks_repair_applies_the_planners_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planned: list[Plan], locked: TorchLock
) -> None:
    """The hook reinstalls the plan the planner built (the lock's files, the machine verdict
    for their release), and says the verdict at -v."""
    machine = tmp_path / "v100.json"
    machine.write_text(json.dumps(machine_to_dict(V100)))
    monkeypatch.setenv(FAKE_MACHINE_ENV, str(machine))
    applied: list[Plan] = []
    monkeypatch.setattr(select, "get_backend", lambda name, **_: _Pip())
    monkeypatch.setattr(apply_module, "apply", lambda plan, *args, **kwargs: applied.append(plan))
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(project_toml("cu128", ("torch",)))
    settings = read_config(parse_toml(pyproject.read_text()))
    env = write_env(tmp_path / "venv", (CPU_TORCH,))
    assert env.root is not None
    target = TargetEnv(env.root, env.root / "bin" / "python", env.site_packages)
    reporter = _Lines()

    assert hook.ensure(settings, target, reporter, pyproject=pyproject) is True
    assert applied == planned and len(planned) == 1
    [plan] = planned
    assert plan.replay is locked and not plan.pins
    assert plan.verdict is not None and (plan.verdict.torch, plan.verdict.by) == ("2.8.0", LOCKED)
    said = "poetry-torch: cu128 runs here (judged for torch 2.8.0 in poetry-torch.lock)"
    assert said in reporter.lines, reporter.lines
