"""The environment's Python version and platform, read from its files instead of starting its
interpreter (~20-50 ms a start, on every hooked Poetry command with a universal lock).

``pyvenv.cfg`` names the version (venv: ``version``; virtualenv and uv: ``version_info``) and
often the implementation; the interpreter's executable header names its architecture (ELF on
Linux, Mach-O on macOS, PE on Windows).  An interpreter built for this process's architecture
reports this process's ``sys.platform`` and ``platform.machine()``; a thin Mach-O of another
one (an x86_64 Python under Rosetta on arm64) reports that one.  Anything else (no
``pyvenv.cfg``, an unknown implementation, a foreign ELF) is answered by starting the
interpreter, and ``how`` says which way the answer came."""

from __future__ import annotations

import json
import os
import re
import struct
import sys

from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Callable


_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")
# (a pattern as text: re compiles it on first use, not when the hook's modules load)
_PYTHON_NAME = r"(?i)^python(\d+(?:\.\d+)?)?t?(?:\.exe)?$"
# pyvenv.cfg's ``implementation`` (platform.python_implementation()) -> sys.implementation.name
_IMPLEMENTATIONS = {"cpython": "cpython", "pypy": "pypy"}

# Mach-O (mach-o/loader.h, mach-o/fat.h): magic numbers and CPU types
_MH_MAGIC_64 = 0xFEEDFACF
_MH_CIGAM_64 = 0xCFFAEDFE
_FAT_MAGIC = 0xCAFEBABE
_FAT_MAGIC_64 = 0xCAFEBABF
_MACHO_CPUS = {0x01000007: "x86_64", 0x0100000C: "arm64"}
# PE (the COFF header's Machine field)
_PE_MACHINES = {0x8664: "AMD64", 0xAA64: "ARM64", 0x014C: "x86"}


@record
class Interpreter:
    """What pip and Poetry's markers say about an environment's interpreter."""

    implementation_name: str  # sys.implementation.name: "cpython"
    python_version: str  # "3.12"
    sys_platform: str  # "linux"
    platform_machine: str  # "x86_64"
    how: str  # "pyvenv.cfg and the executable's header", or "started <python>"

    def markers(self) -> dict[str, str]:
        return {
            "implementation_name": self.implementation_name,
            "python_version": self.python_version,
            "sys_platform": self.sys_platform,
            "platform_machine": self.platform_machine,
        }


def parse_pyvenv_cfg(text: str) -> dict[str, str]:
    """``key = value`` lines, keys lowercased, as CPython's ``site`` reads the file."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals:
            found[key.strip().lower()] = value.strip()
    return found


def cfg_version(cfg: dict[str, str]) -> str | None:
    """``3.12`` from ``version_info`` (uv ``3.12.3``, virtualenv ``3.12.3.final.0``) or
    ``version`` (venv ``3.12.3``)."""
    for key in ("version_info", "version"):
        match = _VERSION.match(cfg.get(key, ""))
        if match is not None:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def executable_machine(path: Path) -> str | tuple[str, ...] | None:
    """The architecture an executable was built for, from its header: ``elf:<e_machine>``
    (compared, not named), a Mach-O CPU (``x86_64``, ``arm64``; a tuple for a universal
    binary), a PE machine (``AMD64``, ``ARM64``, ``x86``); None when unreadable."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return None
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        order = "<" if head[5] == 1 else ">"
        (machine,) = struct.unpack_from(f"{order}H", head, 18)
        return f"elf:{head[4]}:{machine}"
    if len(head) < 8:
        return None
    (magic,) = struct.unpack_from(">I", head, 0)
    if magic in (_MH_MAGIC_64, _MH_CIGAM_64):
        order = ">" if magic == _MH_MAGIC_64 else "<"
        (cpu,) = struct.unpack_from(f"{order}i", head, 4)
        return _MACHO_CPUS.get(cpu & 0xFFFFFFFF)
    if magic in (_FAT_MAGIC, _FAT_MAGIC_64):
        (count,) = struct.unpack_from(">I", head, 4)
        size = 20 if magic == _FAT_MAGIC else 32
        cpus = []
        for index in range(min(count, (len(head) - 8) // size)):
            (cpu,) = struct.unpack_from(">i", head, 8 + index * size)
            cpus.append(_MACHO_CPUS.get(cpu & 0xFFFFFFFF, f"cpu:{cpu}"))
        return tuple(cpus) or None
    if head[:2] == b"MZ" and len(head) >= 0x40:
        (offset,) = struct.unpack_from("<I", head, 0x3C)
        if offset + 6 <= len(head) and head[offset : offset + 4] == b"PE\0\0":
            (machine,) = struct.unpack_from("<H", head, offset + 4)
            return _PE_MACHINES.get(machine, f"pe:{machine}")
    return None


def _own_machine() -> str:
    import platform

    return platform.machine()


def _implementation(cfg: dict[str, str], executable: Path) -> str | None:
    """cpython or pypy, from pyvenv.cfg (virtualenv, uv) or the executable's name (venv)."""
    declared = cfg.get("implementation", "").lower()
    if declared:
        return _IMPLEMENTATIONS.get(declared)
    name = executable.name.lower()
    if name.startswith("pypy"):
        return "pypy"
    return "cpython" if re.match(_PYTHON_NAME, name) else None


def _platform_machine(executable: Path) -> str | None:
    """The interpreter's ``platform.machine()`` from its header, or None to ask it."""
    theirs = executable_machine(executable)
    if theirs is None:
        return None
    if sys.platform == "darwin" and isinstance(theirs, str):
        return theirs  # a thin binary runs as its one architecture (Rosetta for x86_64)
    if isinstance(theirs, tuple):  # universal: the slice this process's architecture runs
        own = _own_machine()
        return own if own in theirs else None
    return _own_machine() if theirs == executable_machine(_resolved(sys.executable)) else None


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def read_interpreter(root: Path, python: Path) -> Interpreter | None:
    """The environment's interpreter from its files; None when they cannot tell."""
    if _resolved(python) == _resolved(sys.executable):
        return Interpreter(
            sys.implementation.name,
            f"{sys.version_info[0]}.{sys.version_info[1]}",
            sys.platform,
            _own_machine(),
            "this Python",
        )
    try:
        cfg = parse_pyvenv_cfg((root / "pyvenv.cfg").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    version = cfg_version(cfg)
    executable = _resolved(python)
    if not executable.is_file():
        home = cfg.get("home")
        executable = _resolved(Path(home) / python.name) if home else executable
    named = re.match(r"^python(\d+\.\d+)", executable.name)
    if version is None or (named is not None and named.group(1) != version):
        return None  # pyvenv.cfg no longer describes the interpreter it points at
    implementation = _implementation(cfg, executable)
    machine = _platform_machine(executable)
    if implementation is None or machine is None:
        return None
    return Interpreter(implementation, version, sys.platform, machine, "pyvenv.cfg")


# What the fallback runs in the environment's interpreter (the markers pip's ``--report``
# records as ``environment``; 3.8 syntax at most).
_ASK = (
    "import json, platform, sys;"
    "print(json.dumps({'implementation_name': sys.implementation.name,"
    " 'python_version': '%d.%d' % sys.version_info[:2], 'sys_platform': sys.platform,"
    " 'platform_machine': platform.machine()}))"
)


def start_interpreter(python: Path) -> Interpreter | None:
    """Ask the interpreter itself (a child process); None when it cannot run or answer."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)  # as Poetry's VirtualEnv does for anything it runs
    try:
        finished = run([str(python), "-c", _ASK], env=env, timeout=10)
        answer = json.loads(finished.stdout) if not finished.timed_out else None
    except (OSError, ValueError):
        return None
    if not isinstance(answer, dict) or not all(isinstance(v, str) for v in answer.values()):
        return None
    try:
        return Interpreter(
            answer["implementation_name"],
            answer["python_version"],
            answer["sys_platform"],
            answer["platform_machine"],
            f"started {python}",
        )
    except KeyError:
        return None


def interpreter_of(
    root: Path, python: Path, note: Callable[[str], None] | None = None
) -> Interpreter | None:
    """The environment's interpreter: from its files, else by starting it (``how`` says
    which, and ``note`` hears it, for ``-v``); None when neither answers."""
    found = read_interpreter(root, python)
    if found is not None:
        return found
    if note is not None:
        note(
            f"poetry-torch: {root}/pyvenv.cfg and {python}'s header do not say its Python and"
            " platform; starting it to ask"
        )
    return start_interpreter(python)
