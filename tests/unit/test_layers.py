"""The import rule that keeps the package readable, checked over every import statement.

One direction: ``plugin > console > service > installer > index > {seam | machine} >
{project | env} > process > core > errors``.  A module imports its own folder or a lower rank; the folders
in one pair of braces never import each other.  Poetry's internals (``poetry.*`` other than
``poetry.core``) and cleo only in ``plugin``, ``console`` and ``seam``.  ``core`` does no I/O.
Imports inside functions and under ``TYPE_CHECKING`` count like any other.

The house's shape (issue 21): one concept per module (at most 800 lines, at most 60
modules, a file name once but for a console command and its service flow), no import cycles,
no ``_private`` name taken from another module, and own-package imports at the top of the
module outside ``plugin``, ``console`` and ``seam`` (at most 100 elsewhere, each at a
deliberate start-up boundary).
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


# ---- the house's shape (issue 21): one concept per module, no cycles, no private reach-ins ----

MAX_LINES = 800  # a module is sized by its concept; look again at 600, never split for size
MAX_MODULES = 60  # non-empty modules
MAX_LAZY_OWN_IMPORTS = 100  # own-package imports inside functions, outside the lazy boundary
# where an import inside a function is the rule, not the exception: the entry point and the
# command/listener layer keep Poetry's start-up cost down; the seam follows Poetry versions
LAZY_BOUNDARY = frozenset({"plugin", "console", "seam"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def own_modules() -> dict[str, Path]:
    return {module_name(path): path for path in modules()}


def _targets(node: ast.AST, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) pairs an own-package import statement binds; name "" for a whole module."""
    found: list[tuple[str, str]] = []
    if (
        isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("poetry_torch_plugin")
    ):
        for alias in node.names:
            child = f"{node.module}.{alias.name}"
            found.append((child, "") if child in known else (node.module, alias.name))
    elif isinstance(node, ast.Import):
        found += [(a.name, "") for a in node.names if a.name.startswith("poetry_torch_plugin")]
    return found


def own_imports(path: Path, known: dict[str, Path]) -> list[tuple[int, str, str, bool]]:
    """Every own-package import in ``path``: (line, module, name, inside a function)."""
    found: list[tuple[int, str, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            found.extend(
                (child.lineno, module, name, in_function)
                for module, name in _targets(child, known)
                if isinstance(child, (ast.Import, ast.ImportFrom))
            )
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def import_graph() -> dict[str, set[str]]:
    known = own_modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for _, module, _, _ in own_imports(path, known):
            if module in known and module != name:
                graph[name].add(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_module_is_over_800_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}: {n}"
        for path in modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not long, long


def test_no_import_cycles_counting_every_import() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    known = own_modules()
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}.{name}"
        for path in modules()
        for line, module, name, _ in own_imports(path, known)
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_private_name_is_reached_through_another_module() -> None:
    """``probes._read_text`` after ``from ...machine import probes`` counts like importing it."""
    known = own_modules()
    wrong = []
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {
            (alias.asname or alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
            if f"{node.module}.{alias.name}" in known
        }
        wrong += [
            f"{path.relative_to(PACKAGE)}:{node.lineno} uses {node.value.id}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ]
    assert not wrong, "\n".join(wrong)


def test_own_imports_sit_at_the_top_outside_the_lazy_boundary() -> None:
    known = own_modules()
    lazy = {
        f"{path.relative_to(PACKAGE)}:{line} {module}"
        for path in modules()
        if part_of(path) not in LAZY_BOUNDARY
        for line, module, _, inside in own_imports(path, known)
        if inside
    }
    assert len(lazy) <= MAX_LAZY_OWN_IMPORTS, "\n".join(sorted(lazy))


def holds_code(path: Path) -> bool:
    """A module counts unless it is a package's ``__init__`` holding at most a docstring."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    docstring_only = all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )
    return path.name != "__init__.py" or not docstring_only


def test_at_most_60_modules() -> None:
    counted = [path for path in modules() if holds_code(path)]
    assert len(counted) <= MAX_MODULES, len(counted)


def test_a_file_name_appears_once() -> None:
    """Except a console command and the service flow of the same name."""
    by_name: dict[str, list[str]] = {}
    for path in modules():
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(str(path.parent.relative_to(PACKAGE)))
    commands = "console/commands/torch"
    wrong = {
        name: places
        for name, places in by_name.items()
        if len(places) > 1 and sorted(places) != sorted([commands, "service"])
    }
    assert not wrong, wrong


def test_value_types_use_record_not_dataclass() -> None:
    """Frozen value types are ``core.record`` classes: ``@dataclass`` compiles six functions
    per class at import, on the start-up path of every hooked Poetry command (issue 24)."""
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module == "dataclasses"
        and any(alias.name in ("dataclass", "replace", "asdict") for alias in node.names)
    ]
    assert found == [], "use poetry_torch_plugin.core.record (record, replace, as_dict)"
