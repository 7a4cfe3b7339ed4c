"""The environment's Python and platform from its files (issue 24 item 2)."""

from __future__ import annotations

import os
import platform
import shutil
import struct
import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env import interpreter
from poetry_torch_plugin.env.interpreter import Interpreter
from poetry_torch_plugin.env.interpreter import cfg_version
from poetry_torch_plugin.env.interpreter import executable_machine
from poetry_torch_plugin.env.interpreter import interpreter_of
from poetry_torch_plugin.env.interpreter import parse_pyvenv_cfg
from poetry_torch_plugin.env.interpreter import read_interpreter


# pyvenv.cfg as each tool writes it (venv 3.8-3.10, venv 3.11+, virtualenv 20, uv 0.5)
VENV_OLD = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.10.12\n"
VENV = (
    "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.3\n"
    "executable = /usr/bin/python3.12\ncommand = /usr/bin/python3 -m venv /p/.venv\n"
)
VIRTUALENV = (
    "home = /usr/bin\nimplementation = CPython\nversion_info = 3.12.3.final.0\n"
    "virtualenv = 20.26.6\ninclude-system-site-packages = false\nbase-prefix = /usr\n"
    "base-exec-prefix = /usr\nbase-executable = /usr/bin/python3.12\n"
)
UV = (
    "home = /root/.local/share/uv/python/cpython-3.13.1-linux-x86_64-gnu/bin\n"
    "implementation = CPython\nuv = 0.5.11\nversion_info = 3.13.1\n"
    "include-system-site-packages = false\nprompt = demo\n"
)
VIRTUALENV_PYPY = "home = /opt/pypy/bin\nimplementation = PyPy\nversion_info = 3.10.14.final.0\n"


@pytest.mark.parametrize(
    ("text", "version", "implementation"),
    [
        pytest.param(VENV_OLD, "3.10", None, id="venv-3.10"),
        pytest.param(VENV, "3.12", None, id="venv"),
        pytest.param(VIRTUALENV, "3.12", "CPython", id="virtualenv"),
        pytest.param(UV, "3.13", "CPython", id="uv"),
        pytest.param(VIRTUALENV_PYPY, "3.10", "PyPy", id="virtualenv-pypy"),
        pytest.param("home = /usr/bin\n", None, None, id="no-version"),
        pytest.param("Version = 3.9.1\r\n", "3.9", None, id="crlf-and-case"),
    ],
)
def test_pyvenv_cfg_formats(text: str, version: str | None, implementation: str | None) -> None:
    cfg = parse_pyvenv_cfg(text)
    assert cfg_version(cfg) == version
    assert cfg.get("implementation") == implementation


def _venv(root: Path, cfg: str, python: str = "python3.11") -> Path:
    """A venv whose interpreter is a copy of this test's own (so its header is ours)."""
    (root / "bin").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(cfg, encoding="utf-8")
    target = root / "bin" / python
    shutil.copyfile(os.path.realpath(sys.executable), target)
    return target


def _ours() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.mark.skipif(sys.platform not in ("linux", "darwin"), reason="ELF/Mach-O interpreter")
@pytest.mark.parametrize("tool", ["venv", "virtualenv", "uv"])
def test_read_interpreter_from_pyvenv_cfg(tmp_path: Path, tool: str) -> None:
    version = sys.version.split()[0]
    cfg = {
        "venv": f"home = /x\nversion = {version}\n",
        "virtualenv": f"home = /x\nimplementation = CPython\nversion_info = {version}.final.0\n",
        "uv": f"home = /x\nimplementation = CPython\nuv = 0.5.11\nversion_info = {version}\n",
    }[tool]
    python = _venv(tmp_path, cfg, f"python{_ours()}")
    found = read_interpreter(tmp_path, python)
    assert found == Interpreter("cpython", _ours(), sys.platform, platform.machine(), "pyvenv.cfg")
    assert found.markers()["python_version"] == _ours()


def test_a_stale_pyvenv_cfg_is_not_believed(tmp_path: Path) -> None:
    python = _venv(tmp_path, "home = /x\nversion = 3.9.0\n", "python3.12")
    assert read_interpreter(tmp_path, python) is None


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        pytest.param("implementation = GraalVM\nversion_info = 3.11.7\n", None, id="graalpy"),
        pytest.param("implementation = PyPy\nversion_info = 3.11.7\n", "pypy", id="pypy"),
    ],
)
def test_implementation_from_pyvenv_cfg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cfg: str, expected: str | None
) -> None:
    python = _venv(tmp_path, cfg, "python")
    monkeypatch.setattr(interpreter, "_platform_machine", lambda executable: "x86_64")
    found = read_interpreter(tmp_path, python)
    assert (found.implementation_name if found else None) == expected


def test_without_pyvenv_cfg_the_interpreter_is_started_and_that_is_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.write_bytes(b"")
    started = Interpreter("cpython", "3.12", "linux", "x86_64", f"started {python}")
    monkeypatch.setattr(interpreter, "start_interpreter", lambda path: started)
    notes: list[str] = []
    assert interpreter_of(tmp_path, python, notes.append) == started
    assert len(notes) == 1 and "starting it to ask" in notes[0]


def test_from_files_nothing_is_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    python = _venv(tmp_path, f"home = /x\nversion = {sys.version.split()[0]}\n", "python")

    def refuse(path: Path) -> Interpreter:
        raise AssertionError("started the interpreter")

    monkeypatch.setattr(interpreter, "start_interpreter", refuse)
    notes: list[str] = []
    found = interpreter_of(tmp_path, python, notes.append)
    assert found is not None and found.how == "pyvenv.cfg" and notes == []


def test_start_interpreter_asks_the_real_one() -> None:
    found = interpreter.start_interpreter(Path(sys.executable))
    assert found is not None
    assert found.markers() == {
        "implementation_name": sys.implementation.name,
        "python_version": _ours(),
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
    }


# Executable headers, made with struct


def macho_thin(cpu: int) -> bytes:
    # mach_header_64: magic, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, reserved
    return struct.pack("<IiiIIIII", 0xFEEDFACF, cpu, 3, 2, 0, 0, 0, 0)


def macho_fat(*cpus: int) -> bytes:
    head = struct.pack(">II", 0xCAFEBABE, len(cpus))
    for index, cpu in enumerate(cpus):  # fat_arch: cputype, cpusubtype, offset, size, align
        head += struct.pack(">iiIII", cpu, 0, 4096 * (index + 1), 4096, 12)
    return head


def pe(machine: int) -> bytes:
    head = bytearray(0x80)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x40)
    head[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<H", head, 0x44, machine)
    return bytes(head)


X86_64, ARM64 = 0x01000007, 0x0100000C


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(macho_thin(X86_64), "x86_64", id="macho-x86_64"),
        pytest.param(macho_thin(ARM64), "arm64", id="macho-arm64"),
        pytest.param(macho_fat(X86_64, ARM64), ("x86_64", "arm64"), id="universal2"),
        pytest.param(pe(0x8664), "AMD64", id="pe-amd64"),
        pytest.param(pe(0xAA64), "ARM64", id="pe-arm64"),
        pytest.param(b"#!/bin/sh\n", None, id="script"),
    ],
)
def test_executable_machine(tmp_path: Path, header: bytes, expected: object) -> None:
    path = tmp_path / "python"
    path.write_bytes(header + b"\0" * 64)
    assert executable_machine(path) == expected


@pytest.mark.parametrize(
    ("header", "ours", "expected"),
    [
        # an Intel Homebrew Python (thin x86_64) under Rosetta on Apple Silicon, whatever ours is
        pytest.param(macho_thin(X86_64), "arm64", "x86_64", id="rosetta"),
        pytest.param(macho_thin(ARM64), "arm64", "arm64", id="native"),
        # python.org's universal2: the slice this process runs
        pytest.param(macho_fat(X86_64, ARM64), "arm64", "arm64", id="universal2-arm64"),
        pytest.param(macho_fat(X86_64, ARM64), "x86_64", "x86_64", id="universal2-rosetta"),
        pytest.param(macho_fat(X86_64), "arm64", None, id="fat-without-ours"),
    ],
)
def test_macos_machine_from_the_mach_o_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, header: bytes, ours: str, expected: str | None
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(interpreter, "_own_machine", lambda: ours)
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python3.12"
    python.write_bytes(header + b"\0" * 64)
    (tmp_path / "pyvenv.cfg").write_text("home = /x\nversion = 3.12.8\n", encoding="utf-8")
    found = read_interpreter(tmp_path, python)
    assert (found.platform_machine if found else None) == expected
    if found is not None:
        assert (found.sys_platform, found.python_version) == ("darwin", "3.12")


def test_windows_machine_from_the_pe_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ours = tmp_path / "poetry-python.exe"
    ours.write_bytes(pe(0x8664))
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(sys, "executable", str(ours))
    monkeypatch.setattr(interpreter, "_own_machine", lambda: "AMD64")
    (tmp_path / "Scripts").mkdir()
    (tmp_path / "pyvenv.cfg").write_text("home = C:\\Python312\nversion = 3.12.8\n", "utf-8")
    python = tmp_path / "Scripts" / "python.exe"
    python.write_bytes(pe(0x8664))
    found = read_interpreter(tmp_path, python)
    assert found == Interpreter("cpython", "3.12", "win32", "AMD64", "pyvenv.cfg")
    python.write_bytes(pe(0x014C))  # a 32-bit Python: asked, not guessed
    assert read_interpreter(tmp_path, python) is None
