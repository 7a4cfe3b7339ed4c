"""Apple Silicon (``sw_vers``, ``sysctl``) and NVIDIA Jetson (``/etc/nv_tegra_release``, the
device tree).  Parsers take recorded text."""

from __future__ import annotations

import platform
import re

from pathlib import Path

from poetry_torch_plugin.core.machine import JETSON_SOCS
from poetry_torch_plugin.core.machine import MPS_FIRST_MACOS
from poetry_torch_plugin.core.machine import Jetson
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.machine.probes import _read_text
from poetry_torch_plugin.machine.probes import _stdout


_SW_VERS = re.compile(r"^ProductVersion:\s*(\d+(?:\.\d+)*)\s*$", re.MULTILINE)
_SYSCTL = re.compile(r"^([a-z][\w.]*):\s*(.*?)\s*$", re.MULTILINE)
_TEGRA_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")


# Apple


def parse_sw_vers(text: str) -> str | None:
    """``sw_vers``: the ``ProductVersion:`` line (``14.5``)."""
    match = _SW_VERS.search(text)
    return match.group(1) if match else None


def parse_sysctl(text: str) -> dict[str, str]:
    """``sysctl machdep.cpu.brand_string hw.optional.arm64``: ``name: value`` lines."""
    return {match.group(1): match.group(2) for match in _SYSCTL.finditer(text)}


def apple_silicon(sysctl: dict[str, str]) -> bool:
    """An Apple chip, whatever this process runs as: under Rosetta 2 the Python is x86_64, yet
    ``hw.optional.arm64`` still says 1."""
    return sysctl.get("hw.optional.arm64") == "1" or sysctl.get(
        "machdep.cpu.brand_string", ""
    ).startswith("Apple")


def mps_usable(macos: str | None, arm64_process: bool, silicon: bool) -> bool:
    """Whether torch's MPS backend can run: an arm64 Python on Apple Silicon, macOS >= 12.3
    (each torch release needs more; ``check`` reports that from the facts)."""
    return silicon and arm64_process and version_tuple(macos) >= MPS_FIRST_MACOS


def probe_macos() -> tuple[str | None, bool]:
    """The macOS version and whether MPS can run in this Python; ``(None, False)`` elsewhere."""
    if platform.system() != "Darwin":
        return None, False
    version = platform.mac_ver()[0] or None
    if version is None:
        version = parse_sw_vers(_stdout(["/usr/bin/sw_vers"]) or "")
    arm64 = platform.machine().lower() == "arm64"
    silicon = arm64
    if not arm64:
        answer = _stdout(["/usr/sbin/sysctl", "machdep.cpu.brand_string", "hw.optional.arm64"])
        silicon = apple_silicon(parse_sysctl(answer or ""))
    return version, mps_usable(version, arm64, silicon)


# NVIDIA Jetson


def parse_tegra_release(text: str) -> str | None:
    """``/etc/nv_tegra_release``: "# R36 (release), REVISION: 4.3, ..." -> ``R36.4.3``."""
    match = _TEGRA_RELEASE.search(text)
    return f"R{match.group(1)}.{match.group(2)}" if match else None


def parse_compatible(data: bytes) -> str | None:
    """``/proc/device-tree/compatible`` (NUL-separated): the ``nvidia,tegraNNN`` SoC."""
    for entry in data.decode("ascii", "replace").split("\0"):
        vendor, _, soc = entry.strip().partition(",")
        if vendor == "nvidia" and soc.startswith("tegra"):
            return soc
    return None


def probe_jetson(root: Path = Path("/")) -> Jetson | None:
    """A Jetson: an ``nvidia,tegra*`` device tree, or an L4T release file; None elsewhere."""
    try:
        compatible = (root / "proc/device-tree/compatible").read_bytes()
    except OSError:
        compatible = b""
    soc = parse_compatible(compatible)
    release = _read_text(root / "etc/nv_tegra_release")
    l4t = parse_tegra_release(release) if release is not None else None
    if soc is None and l4t is None:
        return None
    model = (_read_text(root / "proc/device-tree/model") or "").replace("\0", "").strip()
    if not model:
        model = JETSON_SOCS[soc][0] if soc in JETSON_SOCS else "NVIDIA Jetson"
    return Jetson(model, soc, l4t)
