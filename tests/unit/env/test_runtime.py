"""``--runtime``: the probe script, run by a real interpreter against a fake torch package."""

from __future__ import annotations

import json
import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env.runtime import MARKER
from poetry_torch_plugin.env.runtime import parse_probe_output
from poetry_torch_plugin.env.runtime import probe


FAKE_TORCH = """
__version__ = "2.11.0+cu130"
class version:
    cuda = "13.0"
    hip = None
class cuda:
    @staticmethod
    def is_available():
        import warnings
        warnings.warn("Found GPU0 Tesla K80 which is of cuda capability 3.7.\\nMore text")
        return {available}
"""


def fake_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def test_probe_without_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch(tmp_path, monkeypatch, FAKE_TORCH.format(available=False))
    result = probe(Path(sys.executable))
    assert result.error is None
    assert result.torch_version == "2.11.0+cu130" and result.cuda_version == "13.0"
    assert result.cuda_available is False and result.device_count == 0
    assert result.op_ok is None
    assert result.warnings == ("Found GPU0 Tesla K80 which is of cuda capability 3.7.",)
    assert result.seconds > 0


def test_probe_reports_an_import_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch(tmp_path, monkeypatch, "raise OSError('libcudart.so.13: cannot open shared object')")
    result = probe(Path(sys.executable))
    assert result.error == (
        "import torch failed: OSError: libcudart.so.13: cannot open shared object"
    )


def test_probe_reports_a_failing_cuda_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = FAKE_TORCH.format(available="1 / 0")
    fake_torch(tmp_path, monkeypatch, body)
    result = probe(Path(sys.executable))
    assert result.error is None and result.cuda_available is False
    assert result.cuda_error == "ZeroDivisionError: division by zero"


def test_probe_timeout_and_missing_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_torch(tmp_path, monkeypatch, "import time\ntime.sleep(30)\n")
    slow = probe(Path(sys.executable), timeout=0.5)
    assert slow.error == "the probe did not finish within 0.5 s"
    missing = probe(tmp_path / "no-python")
    assert missing.error is not None and missing.error.startswith("cannot run")


def test_parse_probe_output() -> None:
    data = {
        "torch": "2.11.0+cu130",
        "cuda": "13.0",
        "cuda_available": True,
        "device_count": 1,
        "device": "NVIDIA H100 80GB HBM3",
        "capability": [9, 0],
        "arch_list": ["sm_90"],
        "op": {"ok": False, "error": "RuntimeError: no kernel image"},
    }
    stdout = "noise from a sitecustomize\n" + MARKER + json.dumps(data) + "\n"
    result = parse_probe_output(stdout, "", 0, python="py", seconds=1.5)
    assert result.capability == (9, 0) and result.arch_list == ("sm_90",)
    assert result.op_ok is False and result.op_error == "RuntimeError: no kernel image"
    assert result.to_dict()["device_name"] == "NVIDIA H100 80GB HBM3"

    crashed = parse_probe_output("", "Segmentation fault\n", -11, python="py", seconds=2)
    assert crashed.error == "the probe exited -11 without a report: Segmentation fault"
    garbled = parse_probe_output(MARKER + "{", "", 0, python="py", seconds=2)
    assert garbled.error is not None and "without a report" in garbled.error
