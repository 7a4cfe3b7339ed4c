"""Intel GPUs: display-class PCI devices of vendor 0x8086 under ``/sys/class/drm/*/device``,
else ``xpu-smi discovery -j`` where Intel's XPU manager is installed."""

from __future__ import annotations

import json
import shutil

from pathlib import Path

from poetry_torch_plugin.core.machine import IntelGpu
from poetry_torch_plugin.core.machine import intel_gpu
from poetry_torch_plugin.machine.probes import read_text
from poetry_torch_plugin.machine.probes import tool_output


DRM = Path("sys/class/drm")
INTEL_VENDOR = "0x8086"
DISPLAY_CLASS = "0x03"  # PCI base class 03: display controllers


def parse_drm_device(vendor: str, device: str, pci_class: str) -> str | None:
    """The device id of an Intel display controller, from the ``vendor``, ``device`` and
    ``class`` files of a DRM card's PCI device; None for anything else."""
    if vendor.strip().lower() != INTEL_VENDOR:
        return None
    if pci_class.strip() and not pci_class.strip().lower().startswith(DISPLAY_CLASS):
        return None
    text = device.strip().lower()
    return text if text.startswith("0x") and len(text) > 2 else None


def parse_xpu_smi_discovery(text: str) -> tuple[str, ...]:
    """The PCI device ids of the GPUs in ``xpu-smi discovery -j`` (its ``device_list``), padded
    as sysfs writes them: ``0xbd5`` -> ``0x0bd5``."""
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    devices = data.get("device_list") if isinstance(data, dict) else None
    found: list[str] = []
    for device in devices if isinstance(devices, list) else ():
        if not isinstance(device, dict) or device.get("device_type", "GPU") != "GPU":
            continue
        try:
            number = int(str(device.get("pci_device_id", "")), 16)
        except ValueError:
            continue
        found.append(f"0x{number:04x}")
    return tuple(found)


def probe_intel_gpus(root: Path = Path("/")) -> tuple[IntelGpu, ...]:
    """One entry per PCI device behind ``/sys/class/drm/card*`` (render nodes and connectors
    share it, so each device is counted once); without that tree, ``xpu-smi``."""
    try:
        cards = sorted(path for path in (root / DRM).iterdir() if path.name[4:].isdigit())
    except OSError:
        xpu_smi = shutil.which("xpu-smi")
        text = tool_output([xpu_smi, "discovery", "-j"]) if xpu_smi is not None else None
        ids = parse_xpu_smi_discovery(text or "")
        return tuple(intel_gpu(index, device) for index, device in enumerate(ids))
    seen: set[Path] = set()
    gpus: list[IntelGpu] = []
    for card in cards:
        device = card / "device"
        try:
            key = device.resolve()
        except OSError:
            continue
        if key in seen:
            continue
        seen.add(key)
        found = parse_drm_device(
            read_text(device / "vendor") or "",
            read_text(device / "device") or "",
            read_text(device / "class") or "",
        )
        if found is not None:
            gpus.append(intel_gpu(len(gpus), found))
    return tuple(gpus)
