from __future__ import annotations

import pytest

from poetry_torch_plugin.machine import detect


@pytest.fixture(autouse=True)
def every_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded machines are replayed through their probes, not their /dev: every vendor's
    probe runs, as on a machine whose device nodes all exist (test_families.py tests the gate)."""
    monkeypatch.setattr(detect, "present_families", detect.Families)
