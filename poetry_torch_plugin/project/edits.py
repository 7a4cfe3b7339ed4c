"""The tomlkit edits ``poetry torch install`` makes to pyproject.toml, computed in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import TOOL_TABLE
from poetry_torch_plugin.core.config import is_pytorch_source
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tomlkit.toml_document import TOMLDocument

    from poetry_torch_plugin.core.config import Source


MOVABLE = frozenset({"torch", "torchvision", "torchaudio"})


@dataclass(frozen=True)
class EditResult:
    text: str
    moved: tuple[str, ...]
    changed: bool


def _poetry_constraint_to_pep508(name: str, value: Any) -> str:
    from poetry.core.packages.dependency import Dependency

    constraint = value.get("version", "*") if hasattr(value, "get") else str(value)
    try:
        pep508 = Dependency(name, str(constraint)).to_pep_508()
        return str(Requirement(pep508))
    except (ValueError, InvalidRequirement) as exc:
        raise ConfigError(
            f"cannot read the constraint {constraint!r} of {name} in pyproject.toml ({exc});"
            " nothing was changed. Fix it, or remove it and pass the requirement to"
            " `poetry torch install`."
        ) from None


def _take_from_pep508_list(array: Any, moved: dict[str, str]) -> None:
    for index in reversed(range(len(array))):
        item = array[index]
        if not isinstance(item, str):
            continue
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        if name in MOVABLE:
            moved.setdefault(name, item.strip())
            del array[index]


def _take_from_poetry_table(table: Any, moved: dict[str, str]) -> None:
    for key in list(table.keys()):
        name = canonicalize_name(str(key))
        if name in MOVABLE:
            moved.setdefault(name, _poetry_constraint_to_pep508(name, table[key]))
            del table[key]


def _move_dependencies(document: TOMLDocument) -> dict[str, str]:
    moved: dict[str, str] = {}
    project = document.get("project")
    if project is not None and "dependencies" in project:
        _take_from_pep508_list(project["dependencies"], moved)
    for group in (document.get("dependency-groups") or {}).values():
        if isinstance(group, list):
            _take_from_pep508_list(group, moved)
    poetry = (document.get("tool") or {}).get("poetry")
    if poetry is None:
        return moved
    if "dependencies" in poetry:
        _take_from_poetry_table(poetry["dependencies"], moved)
    for group in (poetry.get("group") or {}).values():
        if hasattr(group, "get") and "dependencies" in group:
            _take_from_poetry_table(group["dependencies"], moved)
    return moved


def _entry_variant(entry: Any) -> Any:
    from poetry_torch_plugin.core.config import Source

    return Source(str(entry.get("name", "")), str(entry.get("url", "")), "").variant


def _set_source(document: TOMLDocument, source: Source) -> None:
    import tomlkit

    tool = document.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        document["tool"] = tool
    poetry = tool.get("poetry")
    if poetry is None:
        poetry = tomlkit.table(is_super_table=True)
        tool["poetry"] = poetry
    entries = poetry.get("source")
    if entries is None:
        entries = tomlkit.aot()
        poetry["source"] = entries
    matches = [
        index
        for index, entry in enumerate(entries)
        if is_pytorch_source(str(entry.get("name", "")), str(entry.get("url", "")))
    ]
    if matches:
        wanted = source.variant
        keep = next((i for i in matches if _entry_variant(entries[i]) == wanted), matches[0])
        kept = entries[keep]
        kept["name"] = source.name
        kept["url"] = source.url
        kept["priority"] = "explicit"
        if len(matches) > 1:
            # tomlkit cannot delete from an array of tables split across the file, so the
            # array is rebuilt from the tables that stay (each keeps its own comments).
            rebuilt = tomlkit.aot()
            for index, entry in enumerate(entries):
                if index == keep or index not in matches:
                    rebuilt.append(entry)
            poetry["source"] = rebuilt
        return
    table = tomlkit.table()
    table["name"] = source.name
    table["url"] = source.url
    table["priority"] = "explicit"
    if len(entries):
        entries[-1].add(tomlkit.nl())  # a blank line between the tables, as people write them
    entries.append(table)


def _set_packages(document: TOMLDocument, packages: Sequence[str]) -> None:
    import tomlkit

    tool = document["tool"]
    settings = tool.get(TOOL_TABLE)
    if settings is None:
        settings = tomlkit.table()
        tool[TOOL_TABLE] = settings
    current = settings.get("packages")
    if current is not None and [str(item) for item in current] == list(packages):
        return
    array = tomlkit.array()
    array.extend(packages)
    settings["packages"] = array


def apply_install_edits(
    document: TOMLDocument,
    *,
    source: Source,
    configured: Sequence[str],
    requested: Sequence[Requirement],
    original_text: str,
) -> EditResult:
    """Set the single pytorch source, move torch dependencies into ``packages``.

    Precedence for each package: the requirement given on the command line, then one moved out
    of the project's dependencies, then what ``packages`` already said.
    """
    import tomlkit

    moved = _move_dependencies(document)
    merged: dict[str, str] = {canonicalize_name(Requirement(p).name): p for p in configured}
    merged.update(moved)
    merged.update({canonicalize_name(req.name): str(req) for req in requested})
    _set_source(document, source)
    _set_packages(document, list(merged.values()))
    text = tomlkit.dumps(document)
    return EditResult(text=text, moved=tuple(moved.values()), changed=text != original_text)
