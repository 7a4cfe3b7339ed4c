"""``poetry torch check`` as text (cleo's markup: ``<info>``, ``<c2>``, …) and as JSON; and
the one line that ends every install: what moved, and which project files were written."""

from __future__ import annotations

import json
import re
import sys

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.service.check import Report


_LEVEL_TAGS = {"ok": "info", "warning": "comment", "error": "error"}


def _e(text: object) -> str:
    """A value escaped for cleo's formatter (requirements such as torch<2.9 hold '<'); the
    same rule as cleo's ``Formatter.escape``, without importing cleo below the console."""
    escaped = re.sub(r"([^\\]?)<", "\\1\\<", str(text))
    if escaped.endswith("\\"):
        length = len(escaped)
        escaped = escaped.rstrip("\\").replace("\0", "").ljust(length, "\0")
    return escaped


def _pair(value: tuple[int, int] | None) -> str:
    return f"{value[0]}.{value[1]}" if value else "unknown"


def _row(label: str, value: str) -> str:
    return f"  <comment>{label:<14}</comment> {value}"


def check_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def error_json(message: str) -> str:
    """``check --json`` when there is no report to give (no project, unreadable file): the
    same top-level ``ok`` and ``exit_code`` keys, and the one-line reason in ``error``."""
    return json.dumps({"ok": False, "exit_code": 1, "error": message}, indent=2)


def check_text(report: Report) -> list[str]:
    """The report as lines of cleo markup: machine, environment, project, runtime, verdicts."""
    lines = [*_machine(report.machine), *_environment(report), *_project(report)]
    if report.runtime is not None:
        lines += _runtime(report.runtime)
    lines += ["", "<b>Verdict</b>"]
    for verdict in report.verdicts:
        tag = _LEVEL_TAGS.get(verdict.level, "info")
        lines.append(f"  <{tag}>{verdict.level}</{tag}>: {_e(verdict.message)}")
        if verdict.fix:
            lines.append(f"      fix: <c1>{_e(verdict.fix)}</c1>")
    return lines


def _machine(machine: Machine) -> list[str]:
    lines = ["<b>Machine</b>"]
    nvidia = machine.nvidia
    if nvidia is None:
        lines.append(_row("NVIDIA driver", "none found"))
    else:
        runs = (
            f" (runs CUDA up to {_pair(nvidia.cuda_driver_version)})"
            if nvidia.cuda_driver_version
            else ""
        )
        lines.append(
            _row("NVIDIA driver", f"{_e(nvidia.driver_version)}{runs}, via {nvidia.source}")
        )
        if not nvidia.gpus:
            lines.append(_row("GPUs", "none visible"))
        for gpu in nvidia.gpus:
            cc = gpu.compute_capability
            arch = f" (sm_{cc[0]}{cc[1]})" if cc else ""
            memory = f", {gpu.memory_mib} MiB" if gpu.memory_mib is not None else ""
            mig = ", MIG on" if gpu.mig else ""
            lines.append(
                _row(
                    f"GPU {gpu.index}",
                    f"<c2>{_e(gpu.name)}</c2>, compute capability {_pair(cc)}{arch}{memory}{mig}",
                )
            )
    if machine.rocm is not None:
        lines.append(_row("ROCm", _e(machine.rocm)))
    for amd in machine.amd_gpus:
        lines.append(
            _row(f"AMD GPU {amd.index}", f"<c2>{_e(amd.name)}</c2>, {_e(amd.gfx or 'gfx unknown')}")
        )
    for intel in machine.intel_gpus:
        supported = "xpu builds support it" if intel.xpu else "not an xpu target"
        lines.append(
            _row(
                f"Intel GPU {intel.index}",
                f"<c2>{_e(intel.name)}</c2> ({_e(intel.device_id)}), {supported}",
            )
        )
    if machine.mps or machine.macos is not None:
        macos = f" (macOS {_e(machine.macos)})" if machine.macos else ""
        lines.append(_row("Apple MPS", f"{'available' if machine.mps else 'not available'}{macos}"))
    if machine.jetson is not None:
        wheels = (
            "PyTorch's aarch64 CUDA wheels run here"
            if machine.jetson.runs_pytorch_cuda_wheels
            else "its GPU needs NVIDIA's JetPack wheels"
        )
        lines.append(_row("Jetson", f"<c2>{_e(machine.jetson.describe())}</c2>, {wheels}"))
    if machine.nvcc is not None:
        lines.append(
            _row(
                "CUDA toolkit",
                f"nvcc {_e(machine.nvcc.full)} (builds extensions; torch brings its own CUDA"
                " runtime, so this is not what torch uses)",
            )
        )
    lines.append(_row("Platform", _e(machine.platform)))
    return lines


def _environment(report: Report) -> list[str]:
    env = report.environment
    if env.root is None:
        return ["", "<b>Environment</b>: none found"]
    lines = [
        "",
        f"<b>Environment</b> {_e(env.root)}",
        _row("Python", _e(env.python_version or "unknown")),
    ]
    for row in report.packages():
        if not row["installed"]:
            lines.append(_row(row["name"], "not installed"))
            continue
        variant = row["variant_description"] or "variant unknown"
        extra = "" if row["complete"] else ", <error>half-installed</error>"
        pin = f", requires torch{row['requires_torch']}" if row["requires_torch"] else ""
        lines.append(
            _row(row["name"], f"<c2>{_e(row['build'])}</c2> {_e(variant)}{_e(pin)}{extra}")
        )
    return lines


def _project(report: Report) -> list[str]:
    data = report.to_dict()["project"]
    lines = ["", f"<b>Project</b> {_e(data['pyproject'])}"]
    source = data["source"]
    if source is not None:
        lines.append(_row("Source", f"<info>{_e(source['name'])}</info> ({_e(source['url'])})"))
        if source.get("channel", "stable") != "stable":
            lines.append(_row("Channel", f"{_e(source['channel'])} (pre-releases allowed)"))
    else:
        lines.append(_row("Source", "none" if data["error"] is None else "unreadable"))
    chosen = data["variant_choice"]
    if chosen is not None:
        lines.append(
            _row(
                "Variant",
                f"<c2>{_e(chosen['variant'])}</c2>, chosen by <c1>{_e(chosen['rule'])}</c1>"
                f" ({_e(chosen['detail'])})",
            )
        )
    if data["packages"]:
        lines.append(_row("Packages", _e(", ".join(data["packages"]))))
    installer = data["installer"]
    if installer is not None:
        lines.append(_row("Installer", _e(_installer_text(installer))))
    return lines


def _installer_text(installer: dict[str, str | None]) -> str:
    """``pip``, ``uv``, ``auto: uv (/usr/bin/uv)`` or ``auto: pip (no uv found)``; ``uv``
    that is not found says so (every install would fail until it is)."""
    if installer["configured"] == "uv" and installer["path"] is None:
        return 'uv (not found: `poetry self add uv`, or installer = "pip")'
    if installer["configured"] != "auto":
        return str(installer["configured"])
    if installer["runs"] == "uv":
        return f"auto: uv ({installer['path']})"
    return "auto: pip (no uv found)"


def _runtime(runtime: RuntimeResult) -> list[str]:
    lines = [
        "",
        f"<b>Runtime</b> (torch imported by {_e(runtime.python)}, {runtime.seconds:.1f} s)",
    ]
    if runtime.error is not None:
        return [*lines, _row("error", f"<error>{_e(runtime.error)}</error>")]
    lines.append(
        _row("torch", _e(f"{runtime.torch_version} (CUDA {runtime.cuda_version or 'none'})"))
    )
    available = "<info>True</info>" if runtime.cuda_available else "<comment>False</comment>"
    lines.append(_row("cuda available", available))
    if runtime.cuda_error:
        lines.append(_row("cuda error", f"<error>{_e(runtime.cuda_error)}</error>"))
    if runtime.device_name:
        lines.append(
            _row("device 0", _e(f"{runtime.device_name}, capability {_pair(runtime.capability)}"))
        )
    if runtime.arch_list:
        lines.append(_row("arch list", _e(" ".join(runtime.arch_list))))
    if runtime.op_ok is not None:
        outcome = (
            "<info>ok</info>"
            if runtime.op_ok
            else f"<error>failed: {_e(runtime.op_error or 'wrong result')}</error>"
        )
        lines.append(_row("GPU tensor op", outcome))
    lines += [_row("warning", _e(warning)) for warning in runtime.warnings]
    return lines


def _arrow() -> str:
    """``→``, or ``->`` where standard output cannot encode it (a Windows code page)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        "\u2192".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "\u2192"


def moved_line(
    before: Mapping[str, tuple[str, object]],
    after: Mapping[str, tuple[str, object]],
    names: Sequence[str],
    written: Sequence[str] | None = None,
) -> str:
    """What an install changed, in one line: ``torch 2.8.0+cpu → 2.9.0+cu129, torchvision
    0.23.0+cpu → 0.24.0+cu129, and 14 other packages; wrote pyproject.toml, poetry-torch.lock``.

    ``before`` and ``after``: the environment's distributions, ``{name: (version, stamp)}``
    (the stamp changes when a distribution is reinstalled at the same version); ``names``: the
    packages to name, in order; ``written``: the project files written (None: say nothing of
    files, as for the hook, which writes none)."""
    arrow = _arrow()
    moved: list[str] = []
    kept: list[str] = []
    for name in names:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if new is None:
            moved.append(f"{name} {old[0] if old else ''} removed")
        elif old is None:
            moved.append(f"{name} {new[0]} (new)")
        elif old[0] != new[0]:
            moved.append(f"{name} {old[0]} {arrow} {new[0]}")
        elif old[1] != new[1]:
            moved.append(f"{name} {new[0]} reinstalled")
        else:
            kept.append(f"{name} {new[0]}")
    others = sum(
        1
        for name in set(before) | set(after)
        if name not in names and _version(before, name) != _version(after, name)
    )
    if others:
        moved.append(f"{'and ' if moved else ''}{others} other package{'s' if others != 1 else ''}")
    parts = [", ".join(moved)] if moved else []
    if kept:
        parts.append(f"unchanged: {', '.join(kept)}")
    if written is not None:
        parts.append(f"wrote {', '.join(written)}" if written else "no project file changed")
    return "; ".join(parts) or "nothing installed"  # (names and versions hold no markup)


def _version(installed: Mapping[str, tuple[str, object]], name: str) -> str | None:
    found = installed.get(name)
    return found[0] if found is not None else None
