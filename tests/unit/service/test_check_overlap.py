"""``check`` parses the facts table while NVML's answer is on its way, and only then."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.machine import nvml as nvml_probe
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.service import check as check_service
from tests.support.check_demo import make_check_demo


if TYPE_CHECKING:
    from pathlib import Path

    import pytest


NO_GPU = machine_from_dict({"platform": "linux-x86_64"})


def run_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, pending: bool) -> list[str]:
    """``check`` of the demo project (torch installed, no GPU found); what it did, in order."""
    events: list[str] = []
    real_facts = vars(check_service)["load_facts"]

    def load_facts() -> Any:
        events.append("facts")
        return real_facts()

    def detect_machine() -> Any:
        events.append("detect")
        return NO_GPU

    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setattr(check_service, "nvml_pending", lambda: pending)
    monkeypatch.setattr(check_service, "load_facts", load_facts)
    monkeypatch.setattr(check_service, "detect_machine", detect_machine)
    project = tmp_path / ("pending" if pending else "answered")
    make_check_demo(project)
    report = check_service.check(project / "pyproject.toml")
    events.append(f"exit {report.exit_code}")
    return events


def test_facts_are_parsed_before_waiting_only_while_nvml_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert run_check(monkeypatch, tmp_path, pending=True) == ["facts", "detect", "exit 0"]
    # no probe on its way: the facts are read only where a verdict needs them (no GPU: none)
    assert run_check(monkeypatch, tmp_path, pending=False) == ["detect", "exit 0"]


def test_a_broken_facts_file_changes_nothing_where_no_verdict_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken() -> Any:
        raise ValueError("Expecting property name enclosed in double quotes")

    monkeypatch.setattr(check_service, "load_facts", broken)
    monkeypatch.setattr(check_service, "nvml_pending", lambda: True)
    monkeypatch.setattr(check_service, "detect_machine", lambda: NO_GPU)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    make_check_demo(tmp_path / "demo")
    assert check_service.check(tmp_path / "demo" / "pyproject.toml").exit_code == 0


def test_nvml_is_pending_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    answered = threading.Event()
    monkeypatch.setattr(nvml_probe, "_begun", [(answered, [], threading.current_thread())])
    assert nvml_probe.pending()
    answered.set()
    assert not nvml_probe.pending()
    monkeypatch.setattr(nvml_probe, "_begun", [])
    assert not nvml_probe.pending()
