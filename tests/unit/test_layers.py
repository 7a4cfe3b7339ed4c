"""The import rule that keeps the package readable, checked over every import statement.

One direction: ``plugin > console > service > installer > index > {seam | machine} >
{project | env} > process > core > errors``.  A module imports its own folder or a lower rank; the folders
in one pair of braces never import each other.  Poetry's internals (``poetry.*`` other than
``poetry.core``) and cleo only in ``plugin``, ``console`` and ``seam``.  ``core`` does no I/O.
Imports inside functions and under ``TYPE_CHECKING`` count like any other.
"""

from __future__ import annotations

import ast

from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parents[2] / "poetry_torch_plugin"

# rank of each top-level part; equal ranks are siblings that must not import each other
RANKS = {
    "plugin": 10,
    "console": 9,
    "service": 8,
    "installer": 7,
    "index": 6,
    "seam": 5,
    "machine": 5,
    "project": 4,
    "env": 4,
    # the one child-process runner: installer (pip, uv), machine (probes) and env (the torch
    # probe) all run children, and core may do no I/O
    "process": 3,
    # data shipped in the package (facts.json), read through importlib.resources and parsed
    # by core; a sibling of process, which it does not import
    "data": 3,
    "core": 2,
    "errors": 1,
    "__init__": 0,
}
POETRY_ALLOWED = frozenset({"plugin", "console", "seam"})
# modules that mean I/O (processes, native code, network, files by path) or Poetry itself
NO_IO_IN_CORE = (
    "subprocess",
    "ctypes",
    "socket",
    "urllib.request",
    "urllib.error",
    "http",
    "ssl",
    "tempfile",
    "shutil",
    "filelock",
    "poetry",
    "cleo",
)
# calls that touch files or processes, forbidden in core even without an import
IO_CALLS = frozenset(
    {
        "open",
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "iterdir",
        "glob",
        "rglob",
        "stat",
        "exists",
        "is_file",
        "is_dir",
        "mkdir",
        "unlink",
        "listdir",
        "scandir",
        "system",
        "popen",
        "fsync",
    }
)


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _root_part(name: str) -> str:
    is_part = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()
    return name if is_part else "__init__"


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module named by an import in ``path`` (anywhere in the file), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                pytest.fail(f"{path}:{node.lineno}: relative import (use absolute imports)")
            found.append((node.lineno, node.module))
            if node.module == "poetry_torch_plugin":
                # a part (``from poetry_torch_plugin import core``) or a name of the root
                # ``__init__`` (``__version__``), which ranks below everything
                found += [
                    (node.lineno, f"poetry_torch_plugin.{_root_part(a.name)}") for a in node.names
                ]
    return found


def test_every_part_has_a_rank() -> None:
    assert {part_of(path) for path in modules()} <= set(RANKS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    here = part_of(path)
    wrong = []
    for line, module in imported(path):
        if not module.startswith("poetry_torch_plugin."):
            continue
        there = module.split(".")[1]
        if there == here:
            continue
        if RANKS[there] >= RANKS[here]:
            wrong.append(f"{path.name}:{line} imports {module} ({here} may not import {there})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_poetry_internals_and_cleo_stay_in_the_seam(path: Path) -> None:
    if part_of(path) in POETRY_ALLOWED:
        return
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in imported(path)
        if module == "cleo"
        or module.startswith("cleo.")
        or (
            (module == "poetry" or module.startswith("poetry."))
            and not module.startswith("poetry.core")
        )
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if part_of(p) == "core"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_core_does_no_io(path: Path) -> None:
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in imported(path)
        if any(module == io or module.startswith(io + ".") for io in NO_IO_IN_CORE)
        and module != "poetry.core"
        and not module.startswith("poetry.core.")
    ]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else node.func.id
                if isinstance(node.func, ast.Name)
                else ""
            )
            if name in IO_CALLS:
                wrong.append(f"{path.name}:{node.lineno} calls {name}()")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from poetry_torch_plugin.service import install\n"
        "def f():\n"
        "    import poetry.console.application\n"
    )
    names = [module for _, module in imported(sample)]
    assert "poetry_torch_plugin.service" in names
    assert "poetry.console.application" in names


def test_no_module_is_over_800_lines() -> None:
    # issue 21: one concept per module, never split for size alone (look again at 600)
    long = [
        f"{path.relative_to(PACKAGE)}: {n}"
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 800
    ]
    assert not long, long
