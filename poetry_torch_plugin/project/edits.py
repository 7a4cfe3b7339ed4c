"""pyproject.toml for editing: loaded with its exact bytes, the tomlkit edits ``poetry torch
install`` makes to it (computed in memory), and the write back (through ``files``, refused when
someone else changed the file since it was read).

Only the plugin's own parts change: the source in its naming convention and
``[tool.poetry-torch]``.  The user's torch declarations, their other sources (a ``pytorch`` or
nightly one included), comments and line endings stay as they were."""

from __future__ import annotations

import re

from collections.abc import MutableMapping
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import TOOL_TABLE
from poetry_torch_plugin.core.config import is_pytorch_source
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project import files


if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tomlkit.toml_document import TOMLDocument


@record
class EditResult:
    text: str
    changed: bool


def _entry_variant(entry: Any) -> Any:
    return Source(str(entry.get("name", "")), str(entry.get("url", "")), "").variant


def _set_source(document: TOMLDocument, source: Source, named: frozenset[str]) -> bool:
    """The one plugin source: kept, renamed or added; the other plugin sources removed and
    the entries naming them pointed at it, except those in ``named`` (the plugin sources that
    Poetry's multiple-constraints entries name), which stay as written.  True when the file
    had a plugin source already (kept or renamed), False when one was added."""
    import tomlkit

    from tomlkit.items import AoT

    tool = document.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        document["tool"] = tool
    poetry = _a_table(tool, "tool").get("poetry")
    if poetry is None:
        poetry = tomlkit.table(is_super_table=True)
        tool["poetry"] = poetry
    entries = _a_table(poetry, "tool.poetry").get("source")
    if entries is None:
        entries = tomlkit.aot()
        poetry["source"] = entries
    if not isinstance(entries, list) or not all(isinstance(e, MutableMapping) for e in entries):
        raise ConfigError(
            "[[tool.poetry.source]] in pyproject.toml is not a list of tables; nothing was"
            " changed. Fix it, then run the command again."
        )
    matches = [
        index
        for index, entry in enumerate(entries)
        if is_pytorch_source(name := str(entry.get("name", "")))
        and (name not in named or name == source.name)
    ]
    if matches:
        wanted = source.variant
        keep = next((i for i in matches if _entry_variant(entries[i]) == wanted), matches[0])
        replaced = {str(entries[i].get("name", "")) for i in matches} - {source.name}
        kept = entries[keep]
        kept["name"] = source.name
        kept["url"] = source.url
        kept["priority"] = "explicit"
        for legacy in ("default", "secondary"):  # Poetry 1.x spellings of a priority
            if legacy in kept:
                del kept[legacy]
        _point_references(poetry, replaced, source.name)
        if len(matches) > 1 and not isinstance(entries, AoT):
            # ``source = [{...}, {...}]``: an inline array deletes in place, comments kept
            for index in reversed(matches):
                if index != keep:
                    del entries[index]
            return True
        if len(matches) > 1:
            # tomlkit cannot delete from an array of tables split across the file, so the
            # array is rebuilt from the tables that stay (each keeps its own comments).
            rebuilt = tomlkit.aot()
            for index, entry in enumerate(entries):
                if index == keep or index not in matches:
                    rebuilt.append(entry)
            poetry["source"] = rebuilt
        return True
    if not isinstance(entries, AoT):
        # ``source = [{...}]``, valid TOML and valid for Poetry: stays an inline array
        inline = tomlkit.inline_table()
        inline.update({"name": source.name, "url": source.url, "priority": "explicit"})
        entries.append(inline)
        return False
    table = tomlkit.table()
    table["name"] = source.name
    table["url"] = source.url
    table["priority"] = "explicit"
    if len(entries):
        entries[-1].add(tomlkit.nl())  # a blank line between the tables, as people write them
    entries.append(table)
    return False


def _point_references(poetry: Any, old: set[str], new: str) -> None:
    """Dependencies that name a plugin source being replaced (``source = "pytorch_cuda_cu128"``)
    name its successor, so the file stays valid for plain Poetry."""
    if not old:
        return
    tables = [poetry.get("dependencies")]
    tables.extend(group.get("dependencies") for group in (poetry.get("group") or {}).values())
    for table in tables:
        for value in (table or {}).values():
            for entry in value if isinstance(value, list) else [value]:
                if hasattr(entry, "get") and str(entry.get("source", "")) in old:
                    entry["source"] = new


def _set_packages(document: TOMLDocument, packages: Sequence[str], *, add: bool) -> None:
    """``packages`` set to ``packages``; a key (and table) not written yet is added only when
    ``add`` (the command named packages, or it adds the plugin's source)."""
    import tomlkit

    tool = document["tool"]
    settings = tool.get(TOOL_TABLE)
    if not add and (settings is None or "packages" not in settings):
        return  # the default family stays implied: a teammate's clone stays as committed
    if settings is None:
        settings = tomlkit.table()
        tool[TOOL_TABLE] = settings
    current = _a_table(settings, f"tool.{TOOL_TABLE}").get("packages")
    if current is not None and [str(item) for item in current] == list(packages):
        return
    array = tomlkit.array()
    array.extend(packages)
    settings["packages"] = array


def _set_variant(document: TOMLDocument, source: Source) -> None:
    """A ``variant`` key, where the table has one, follows the source: ``--cuda 12.8`` on a
    ``variant = "auto"`` project commits cu128 (the machine-local override is
    POETRY_TORCH_VARIANT or poetry.toml, which this command never writes)."""
    settings = document["tool"].get(TOOL_TABLE)
    variant = source.variant
    if settings is None or "variant" not in settings or variant is None:
        return
    if str(settings["variant"]).strip().lower() != variant.index_name:
        settings["variant"] = variant.index_name


def apply_install_edits(
    document: TOMLDocument,
    *,
    source: Source,
    configured: Sequence[str],
    requested: Sequence[Requirement],
    original_text: str,
    keep: frozenset[str] = frozenset(),
) -> EditResult:
    """Set the one source in the plugin's convention and ``[tool.poetry-torch] packages``.

    Named packages mean those packages (as with ``pip install torch``): when the command line
    names requirements, ``packages`` becomes exactly those; torch, which every other family
    package requires, is put first when not named (its ``configured`` entry, else plain
    ``torch``).  With no requirements ``packages`` keeps what ``configured`` (the table as
    written, or the default family) says.  A file whose plugin source stays as it is and that
    has no ``packages`` keeps it that way (the default family is what that means), so a plain
    ``poetry torch install`` on a teammate's clone leaves the file byte-identical.
    Declarations elsewhere in the file are left alone; ``read_config`` combines them.
    """
    import tomlkit

    before = document.as_string()
    had_source = _set_source(document, source, keep)
    unchanged = had_source and document.as_string() == before
    _set_packages(
        document, packages_for(configured, requested), add=bool(requested) or not unchanged
    )
    _set_variant(document, source)
    text = tidy(tomlkit.dumps(document), original_text)
    if "\r\n" in original_text:  # new lines in the file's own line ending
        text = re.sub(r"(?<!\r)\n", "\r\n", text)
    return EditResult(text=text, changed=text != original_text)


def apply_target_edit(
    document: TOMLDocument, kind: str, value: str, original_text: str
) -> EditResult:
    """``[tool.poetry-torch.targets] <kind> = "<value>"``, every other entry and the rest of
    the file as they were (``poetry torch install --for``)."""
    import tomlkit

    tool = document.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        document["tool"] = tool
    settings = _a_table(tool, "tool").get(TOOL_TABLE)
    if settings is None:
        settings = tomlkit.table()
        tool[TOOL_TABLE] = settings
    targets = _a_table(settings, f"tool.{TOOL_TABLE}").get("targets")
    if targets is None:
        # an inline ``poetry-torch = {...}`` can only hold an inline table
        inline = isinstance(settings, tomlkit.items.InlineTable)
        targets = tomlkit.inline_table() if inline else tomlkit.table()
        settings["targets"] = targets
    _a_table(targets, f"tool.{TOOL_TABLE}.targets")
    # the entry as the file spells it (``Linux``, `` linux ``): one entry per kind, never two
    key = next((k for k in targets if str(k).strip().lower() == kind), kind)
    if str(targets.get(key, "")) != value:
        targets[key] = value
    text = tidy(tomlkit.dumps(document), original_text)
    if "\r\n" in original_text:
        text = re.sub(r"(?<!\r)\n", "\r\n", text)
    return EditResult(text=text, changed=text != original_text)


def _a_table(value: Any, where: str) -> Any:
    """``value`` when it is a TOML table; ConfigError (one line) for ``tool = 3`` and the like."""
    if not isinstance(value, MutableMapping):
        raise ConfigError(
            f"[{where}] in pyproject.toml is not a table; nothing was changed. Fix it, then run"
            " the command again."
        )
    return value


_KEY = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_HEADER = re.compile(rf"^\s*\[\[?\s*{_KEY}(?:\s*\.\s*{_KEY})*\s*\]\]?\s*(?:#.*)?$")


def _blank_runs(lines: list[str]) -> dict[str, int]:
    """For each table header: the most blank lines the file has right before it."""
    runs: dict[str, int] = {}
    blanks = 0
    for line in lines:
        if not line.strip():
            blanks += 1
            continue
        if _HEADER.match(line):
            runs[line] = max(runs.get(line, 0), blanks)
        blanks = 0
    return runs


def tidy(text: str, original: str) -> str:
    """tomlkit's output laid out as people write TOML: one blank line before a table the edit
    put after other lines (tomlkit glues an appended table to the line before it) and no doubled
    blank lines the file did not have; the file's own layout elsewhere and whether it ends with
    a newline are kept (issue 12, item 16)."""
    before = original.replace("\r\n", "\n").split("\n")
    pairs = set(zip(before, before[1:]))
    runs = _blank_runs(before)
    out: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _HEADER.match(line) and out:
            blanks = 0
            while blanks < len(out) and not out[-1 - blanks].strip():
                blanks += 1
            previous = out[-1 - blanks] if blanks < len(out) else ""
            wanted = blanks
            if blanks == 0 and not previous.lstrip().startswith("#"):
                wanted = 0 if (previous, line) in pairs else 1
            elif blanks > 1:
                wanted = min(blanks, max(1, runs.get(line, 1)))
            if wanted != blanks:
                del out[len(out) - blanks :]
                out.extend([""] * wanted)
        out.append(line)
    result = "\n".join(out)
    if original.strip() and not original.endswith(("\n", "\r")):
        result = result.rstrip("\n")
    return result


def packages_for(configured: Sequence[str], requested: Sequence[Requirement]) -> list[str]:
    """``[tool.poetry-torch] packages`` after ``poetry torch install [requested]``."""
    if not requested:
        return list(configured)
    named: dict[str, str] = {canonicalize_name(req.name): str(req) for req in requested}
    if "torch" in named:
        return list(named.values())
    torch = next((p for p in configured if canonicalize_name(Requirement(p).name) == "torch"), None)
    return [torch or "torch", *named.values()]


@record
class PyProject:
    """pyproject.toml as read: its exact bytes (to detect concurrent edits) and its document."""

    path: Path
    original: bytes
    document: TOMLDocument


def load(path: Path) -> PyProject:
    # tomlkit only when a command edits the file: the hook reads pyproject.toml with tomllib
    import tomlkit

    from tomlkit.exceptions import ParseError

    try:
        original = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}; run the command from the project directory."
        ) from None
    try:
        document = tomlkit.parse(original.decode("utf-8"))
    except (ParseError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path.name} is not valid TOML ({reason}); nothing was changed."
            " Fix the file, then run `poetry torch install` again."
        ) from None
    return PyProject(path, original, document)


def write_atomic(pyproject: PyProject, text: str) -> None:
    """Replace the file with ``text`` unless someone else changed it since we read it."""
    files.write_atomic(pyproject.path, text.encode("utf-8"), expected=pyproject.original)
