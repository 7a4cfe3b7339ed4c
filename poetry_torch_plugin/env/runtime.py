"""``poetry torch check --runtime``: import torch in the project environment, in a subprocess.

Poetry's own process never imports torch; the probe runs the environment's interpreter on
PROBE_SCRIPT and reads the one JSON line it prints after MARKER."""

from __future__ import annotations

import json
import os
import time

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.record import as_dict
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


# Importing torch and initializing CUDA takes seconds; a wedged driver must not hang check.
TIMEOUT_S = 120.0
MARKER = "POETRY-TORCH-PROBE:"


# Runs in the project environment, on whatever Python it has (3.8 syntax at most).  The sum of
# squares of 0..255 (5559680) and a 64x64 product of ones (262144) are exact in float32 and TF32.
PROBE_SCRIPT = r"""
import json, sys, warnings
out = {"python": sys.version.split()[0], "warnings": []}
def done():
    sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()
    sys.exit(0)
try:
    import torch
except BaseException as exc:
    out["error"] = "import torch failed: %s: %s" % (type(exc).__name__, exc)
    done()
out["torch"] = str(torch.__version__)
out["cuda"] = getattr(torch.version, "cuda", None)
out["hip"] = getattr(torch.version, "hip", None)
try:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["cuda_available"] = bool(torch.cuda.is_available())
        out["device_count"] = int(torch.cuda.device_count()) if out["cuda_available"] else 0
        if out["cuda_available"]:
            out["arch_list"] = list(torch.cuda.get_arch_list())
            out["device"] = torch.cuda.get_device_name(0)
            out["capability"] = list(torch.cuda.get_device_capability(0))
            try:
                x = torch.arange(256, dtype=torch.float32, device="cuda")
                squares = float((x * x).sum().item())
                ones = torch.ones(64, 64, device="cuda")
                product = float((ones @ ones).sum().item())
                torch.cuda.synchronize()
                out["op"] = {"ok": squares == 5559680.0 and product == 262144.0,
                             "result": [squares, product]}
            except BaseException as exc:
                out["op"] = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
    out["warnings"] = [str(w.message).strip().splitlines()[0] for w in caught][:5]
except BaseException as exc:
    out["cuda_available"] = False
    out["cuda_error"] = "%s: %s" % (type(exc).__name__, exc)
done()
""".replace("MARKER", repr(MARKER))


@record
class RuntimeResult:
    """What torch said about itself in the project environment.

    ``error`` is set when torch could not be imported or the probe did not answer; ``op_ok``
    is None when no GPU operation was tried (no CUDA device).
    """

    python: str
    seconds: float
    error: str | None = None
    torch_version: str | None = None
    cuda_version: str | None = None
    hip_version: str | None = None
    cuda_available: bool = False
    cuda_error: str | None = None
    device_count: int = 0
    device_name: str | None = None
    capability: tuple[int, int] | None = None
    arch_list: tuple[str, ...] = ()
    op_ok: bool | None = None
    op_error: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return str(value) if value is not None else None


def parse_probe_output(
    stdout: str, stderr: str, returncode: int, *, python: str, seconds: float
) -> RuntimeResult:
    """Read the probe's JSON line; a crash or a missing line becomes ``error``."""
    line = next((text for text in reversed(stdout.splitlines()) if text.startswith(MARKER)), None)
    data: Any = None
    if line is not None:
        try:
            data = json.loads(line[len(MARKER) :])
        except ValueError:
            data = None
    if not isinstance(data, dict):
        tail = (stderr.strip() or stdout.strip()).splitlines()[-1:] or ["no output"]
        return RuntimeResult(
            python, seconds, error=f"the probe exited {returncode} without a report: {tail[0]}"
        )
    op = data.get("op") if isinstance(data.get("op"), dict) else None
    capability = data.get("capability")
    pair = (
        (int(capability[0]), int(capability[1]))
        if isinstance(capability, list) and len(capability) == 2
        else None
    )
    return RuntimeResult(
        python=python,
        seconds=seconds,
        error=_text(data, "error"),
        torch_version=_text(data, "torch"),
        cuda_version=_text(data, "cuda"),
        hip_version=_text(data, "hip"),
        cuda_available=bool(data.get("cuda_available")),
        cuda_error=_text(data, "cuda_error"),
        device_count=int(data.get("device_count") or 0),
        device_name=_text(data, "device"),
        capability=pair,
        arch_list=tuple(str(arch) for arch in data.get("arch_list") or ()),
        op_ok=bool(op.get("ok")) if op is not None else None,
        op_error=_text(op, "error") if op is not None else None,
        warnings=tuple(str(text) for text in data.get("warnings") or ()),
    )


def probe(python: Path, *, timeout: float = TIMEOUT_S) -> RuntimeResult:
    """Run PROBE_SCRIPT with the environment's interpreter; never raises."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)  # as Poetry's VirtualEnv does for anything it runs
    started = time.monotonic()
    try:
        result = run([str(python), "-c", PROBE_SCRIPT], env=env, timeout=timeout)
    except OSError as exc:
        return RuntimeResult(str(python), 0.0, error=f"cannot run {python}: {exc.strerror or exc}")
    if result.timed_out:
        return RuntimeResult(
            str(python), timeout, error=f"the probe did not finish within {timeout:g} s"
        )
    return parse_probe_output(
        result.stdout,
        result.stderr,
        result.code,
        python=str(python),
        seconds=time.monotonic() - started,
    )
