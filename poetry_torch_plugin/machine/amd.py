"""AMD GPUs and their gfx targets: the kernel's KFD topology in sysfs first (no tool needed),
else ``amd-smi static --asic --json``, else ``rocminfo``.  Parsers take recorded text."""

from __future__ import annotations

import json
import re
import shutil

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.machine import AmdGpu
from poetry_torch_plugin.machine.probes import read_text
from poetry_torch_plugin.machine.probes import tool_output


if TYPE_CHECKING:
    from collections.abc import Iterator


KFD_NODES = Path("sys/class/kfd/kfd/topology/nodes")
AMD_VENDOR_ID = 0x1002
# (patterns as text: re compiles them on first use, not when `check`'s modules load)
_GFX = r"^gfx[0-9a-f]{3,5}$"
_AGENT = r"(?m)^\*+\s*\nAgent \d+\s*\n\*+\s*$"
_FIELD = r"^\s*([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$"


def gfx_from_target_version(value: int) -> str | None:
    """KFD's ``gfx_target_version`` (major*10000 + minor*100 + stepping) as an LLVM target:
    90402 -> ``gfx942``, 90010 -> ``gfx90a``, 110000 -> ``gfx1100``; None for 0 (a CPU node)."""
    if value <= 0:
        return None
    major, rest = divmod(value, 10000)
    minor, stepping = divmod(rest, 100)
    if minor > 15 or stepping > 15:
        return None
    return f"gfx{major}{minor:x}{stepping:x}"


def parse_kfd_properties(text: str) -> str | None:
    """The gfx target of one KFD topology node's ``properties`` file; None for a CPU node or
    another vendor's device."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if value.strip().isdigit():
            values[key] = int(value.strip())
    vendor = values.get("vendor_id")
    if vendor is not None and vendor not in (0, AMD_VENDOR_ID):
        return None
    return gfx_from_target_version(values.get("gfx_target_version", 0))


def parse_rocminfo(text: str) -> tuple[AmdGpu, ...]:
    """The GPU agents of ``rocminfo``: the first ``Name:`` of each agent is its gfx target."""
    gpus: list[AmdGpu] = []
    for block in re.split(_AGENT, text)[1:]:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            match = re.match(_FIELD, line)
            if match and match.group(1) not in fields:
                fields[match.group(1)] = match.group(2)
        if fields.get("Device Type", "").upper() != "GPU":
            continue
        gfx = fields.get("Name", "").lower()
        gpus.append(
            AmdGpu(
                index=len(gpus),
                name=fields.get("Marketing Name") or "AMD GPU",
                gfx=gfx if re.match(_GFX, gfx) else None,
            )
        )
    return tuple(gpus)


def _asic_entries(data: Any) -> Iterator[dict[str, Any]]:
    """Every object carrying ``target_graphics_version``, wherever amd-smi nests it."""
    if isinstance(data, dict):
        if "target_graphics_version" in data:
            yield data
            return
        for value in data.values():
            yield from _asic_entries(value)
    elif isinstance(data, list):
        for item in data:
            yield from _asic_entries(item)


def parse_amd_smi_asic(text: str) -> tuple[AmdGpu, ...]:
    """``amd-smi static --asic --json``: ``market_name`` and ``target_graphics_version``."""
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    gpus: list[AmdGpu] = []
    for entry in _asic_entries(data):
        gfx = str(entry.get("target_graphics_version", "")).strip().lower()
        name = entry.get("market_name")
        gpus.append(
            AmdGpu(
                index=len(gpus),
                name=name.strip() if isinstance(name, str) and name.strip() else "AMD GPU",
                gfx=gfx if re.match(_GFX, gfx) else None,
            )
        )
    return tuple(gpus)


def _node_number(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else 1 << 30


def probe_kfd(root: Path = Path("/")) -> tuple[AmdGpu, ...]:
    """AMD GPUs from ``/sys/class/kfd/kfd/topology/nodes/*/properties``."""
    nodes = root / KFD_NODES
    try:
        entries = sorted(nodes.iterdir(), key=_node_number)
    except OSError:
        return ()
    gpus: list[AmdGpu] = []
    for node in entries:
        gfx = parse_kfd_properties(read_text(node / "properties") or "")
        if gfx is not None:
            gpus.append(AmdGpu(index=len(gpus), name="AMD GPU", gfx=gfx))
    return tuple(gpus)


def probe_amd_gpus(root: Path = Path("/")) -> tuple[AmdGpu, ...]:
    """sysfs first; then ``amd-smi``, then ``rocminfo``, where installed."""
    gpus = probe_kfd(root)
    if gpus:
        return gpus
    amd_smi = shutil.which("amd-smi")
    if amd_smi is not None:
        gpus = parse_amd_smi_asic(tool_output([amd_smi, "static", "--asic", "--json"]) or "")
        if gpus:
            return gpus
    rocminfo = shutil.which("rocminfo")
    if rocminfo is not None:
        return parse_rocminfo(tool_output([rocminfo]) or "")
    return ()
