"""pyproject.toml for editing: loaded with its exact bytes, the tomlkit edits ``poetry torch
install`` makes to it (computed in memory), and the write back (through ``files``, refused when
someone else changed the file since it was read).

Only the plugin's own parts change: the source in its naming convention, ``[tool.poetry-torch]``
and the binding of the family's declarations to that source (``source = "pytorch_cuda_cu129"``,
as ``poetry add --source`` writes it, so that Poetry without the plugin installs the same build).
The declarations' versions, markers and extras, the user's other sources (a ``pytorch`` or
nightly one included), a binding to one of them, comments and line endings stay as they were."""

from __future__ import annotations

import re

from collections.abc import MutableMapping
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import TOOL_TABLE
from poetry_torch_plugin.core.config import is_pytorch_source
from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.poetry_form import FAMILY
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.targets import KEYS
from poetry_torch_plugin.core.targets import parse_targets
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
    # the declarations the edit bound to the plugin's source, or moved to it from an earlier
    # one (``torch ([tool.poetry.dependencies])``), and one line for each it left alone
    bound: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _entry_variant(entry: Any) -> Any:
    return Source(str(entry.get("name", "")), str(entry.get("url", "")), "").variant


def _poetry_table(document: TOMLDocument) -> Any:
    """``[tool.poetry]``, added (as a super table, so no empty header) when missing."""
    import tomlkit

    tool = document.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        document["tool"] = tool
    poetry = _a_table(tool, "tool").get("poetry")
    if poetry is None:
        poetry = tomlkit.table(is_super_table=True)
        tool["poetry"] = poetry
    return _a_table(poetry, "tool.poetry")


def _set_source(document: TOMLDocument, source: Source, named: frozenset[str]) -> bool:
    """The one plugin source: kept, renamed or added; the other plugin sources removed and
    the entries naming them pointed at it, except those in ``named`` (the plugin sources that
    Poetry's multiple-constraints entries name), which stay as written.  True when the file
    had a plugin source already (kept or renamed), False when one was added."""
    import tomlkit

    from tomlkit.items import AoT

    poetry = _poetry_table(document)
    entries = poetry.get("source")
    if entries is None:
        entries = tomlkit.aot()
        poetry["source"] = entries
    if not isinstance(entries, list) or not all(isinstance(e, MutableMapping) for e in entries):
        raise ConfigError(
            "[[tool.poetry.source]] in pyproject.toml is not a list of tables",
            kept="nothing was changed",
            next="Fix it, then run the command again.",
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


def _family_names(values: Any) -> list[str]:
    """The family packages a PEP 508 list (``[project] dependencies``, a PEP 735 group) names."""
    names: list[str] = []
    for value in values if isinstance(values, list) else ():
        if not isinstance(value, str):
            continue  # ``{include-group = "…"}``
        try:
            name = canonicalize_name(Requirement(value).name)
        except InvalidRequirement:
            continue  # Poetry reports it
        if name in FAMILY and name not in names:
            names.append(name)
    return names


def _bound_value(value: Any, source: str) -> Any:
    """``"^2.8"`` as ``{version = "^2.8", source = "…"}``, and ``{ version = "^2.8" }`` as
    ``{ version = "^2.8", source = "…" }``: quotes, spacing and comment kept (tomlkit would
    append ``,source = …}`` to an inline table)."""
    import tomlkit

    from tomlkit.items import InlineTable
    from tomlkit.items import String

    if isinstance(value, InlineTable):
        text = value.as_string()
        body, closing = text[: text.rindex("}")], "}"
        stripped = body.rstrip()
        space = body[len(stripped) :]
        comma = ", " if stripped.strip() != "{" else ""
        pair = f"source = {tomlkit.string(source).as_string()}"
        table = tomlkit.parse(f"x = {stripped}{comma}{pair}{space}{closing}")["x"]
    else:
        table = tomlkit.inline_table()
        literal = isinstance(value, String) and value.type.is_literal()
        table["version"] = tomlkit.string(str(value), literal=literal)
        table["source"] = source
    trivia = getattr(value, "trivia", None)
    if trivia is not None:
        table.trivia.comment_ws = trivia.comment_ws
        table.trivia.comment = trivia.comment
        table.trivia.trail = trivia.trail
    return table


class _Binder:
    """Binds the family's declarations to the plugin's source, one Poetry dependency table
    at a time (see ``bind_declarations``)."""

    def __init__(self, poetry: Any, source: str, named: frozenset[str]) -> None:
        self.poetry = poetry
        self.source = source
        self.named = named
        self.bound: list[str] = []
        self.notes: list[str] = []

    def table(self, path: tuple[str, ...], declared: Sequence[str]) -> None:
        """The Poetry table at ``path`` under ``[tool.poetry]``: its family entries, and one
        ``{source = …}`` entry added for each name in ``declared`` (the PEP 621 / PEP 735
        declarations Poetry merges it with) that it lacks."""
        import tomlkit

        where = "[tool.poetry." + ".".join(path) + "]"
        table: Any = self.poetry
        for key in path:
            table = table.get(key) if table is not None else None
            if table is not None:
                _a_table(table, where)
        keys: dict[str, Any] = {canonicalize_name(str(key)): key for key in (table or {})}
        for name in dict.fromkeys([*(n for n in keys if n in FAMILY), *declared]):
            if name not in keys:
                if table is None:
                    table = self._add_tables(path)
                entry = tomlkit.inline_table()
                entry["source"] = self.source
                table[name] = entry
                self.bound.append(f"{name} ({where})")
                continue
            self._entry(table, keys[name], name, where)

    def _entry(self, table: Any, key: Any, name: str, where: str) -> None:
        from tomlkit.items import InlineTable

        value = table[key]
        if isinstance(value, list):
            if not any(hasattr(item, "get") and "source" in item for item in value):
                self.notes.append(
                    f"{name} in {where} is a list of constraints, none bound to a source;"
                    " left as written (to leave the plugin, give each entry its source:"
                    ' user guide, "Leaving the plugin").'
                )
            return  # Poetry's multiple-constraints form: its entries say their sources
        if isinstance(value, str):
            table[key] = _bound_value(value, self.source)
            self.bound.append(f"{name} ({where})")
            return
        if not isinstance(value, MutableMapping) or any(
            direct in value for direct in ("path", "url", "git", "file")
        ):
            return  # refused by read_config, which names the problem
        current = value.get("source")
        if current is None:
            if isinstance(value, InlineTable):
                table[key] = _bound_value(value, self.source)
            else:
                value["source"] = self.source  # a [tool.poetry.dependencies.torch] table
            self.bound.append(f"{name} ({where})")
        elif not is_pytorch_source(str(current)):
            self.notes.append(
                f"{name} in {where} stays bound to your source '{current}', which is not one of"
                " the plugin's; Poetry without the plugin installs it from there."
            )
        elif str(current) != self.source and str(current) not in self.named:
            value["source"] = self.source
            self.bound.append(f"{name} ({where})")

    def _add_tables(self, path: tuple[str, ...]) -> Any:
        import tomlkit

        table = self.poetry
        for depth, key in enumerate(path):
            inner = table.get(key)
            if inner is None:
                last = depth == len(path) - 1
                inner = tomlkit.table(is_super_table=not last)
                table[key] = inner
            table = inner
        return table


def bind_declarations(
    document: TOMLDocument, source: Source, named: frozenset[str] = frozenset()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Bind every declaration of torch, torchvision and torchaudio to ``source`` the way
    ``poetry add --source`` does: a ``[project]`` declaration (dependencies or an extra) gets
    a ``[tool.poetry.dependencies]`` entry holding only ``source`` (Poetry 2 merges the two),
    a ``[dependency-groups]`` one the same in ``[tool.poetry.group.<name>.dependencies]``, and
    a Poetry entry gets ``source`` in its table (``"^2.8"`` becomes ``{version = "^2.8",
    source = …}``).  An entry bound to another plugin source moves to ``source`` (unless
    ``named``: Poetry's multiple-constraints entries name several); one bound to the user's own
    source, and a list of constraints naming none, are left as written, each said in a note.
    Returns (what was bound or moved, the notes)."""
    poetry = _poetry_table(document)
    project = document.get("project")
    declared: list[str] = []
    if isinstance(project, MutableMapping):
        declared = _family_names(project.get("dependencies"))
        extras = project.get("optional-dependencies")
        for values in extras.values() if isinstance(extras, MutableMapping) else ():
            declared.extend(name for name in _family_names(values) if name not in declared)
    binder = _Binder(poetry, source.name, named)
    binder.table(("dependencies",), declared)
    # each group by its canonical name: Poetry's spelling if it has the group, else PEP 735's
    groups = poetry.get("group")
    spelled = {
        canonicalize_name(str(name)): str(name)
        for name in (groups if isinstance(groups, MutableMapping) else {})
    }
    pep735: dict[str, list[str]] = {}
    listed = document.get("dependency-groups")
    for name, values in listed.items() if isinstance(listed, MutableMapping) else ():
        spelled.setdefault(canonicalize_name(str(name)), str(name))
        pep735.setdefault(canonicalize_name(str(name)), []).extend(_family_names(values))
    for canonical, name in spelled.items():
        binder.table(("group", name, "dependencies"), pep735.get(canonical, []))
    return tuple(binder.bound), tuple(binder.notes)


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
    bind: bool = True,
) -> EditResult:
    """Set the one source in the plugin's convention and ``[tool.poetry-torch] packages``.

    Named packages mean those packages (as with ``pip install torch``): when the command line
    names requirements, ``packages`` becomes exactly those; torch, which every other family
    package requires, is put first when not named (its ``configured`` entry, else plain
    ``torch``).  With no requirements ``packages`` keeps what ``configured`` (the table as
    written, or the default family) says.  A file whose plugin source stays as it is and that
    has no ``packages`` keeps it that way (the default family is what that means), so a plain
    ``poetry torch install`` on a teammate's clone leaves the file byte-identical.
    With ``bind`` the family's declarations are bound to the source (``bind_declarations``);
    their versions, markers and extras are left alone, and ``read_config`` combines them.
    """
    import tomlkit

    bound: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if bind:
        bound, notes = bind_declarations(document, source, keep)
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
    return EditResult(text=text, changed=text != original_text, bound=bound, notes=notes)


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
            f"[{where}] in pyproject.toml is not a table",
            kept="nothing was changed",
            next="Fix it, then run the command again.",
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
            f"cannot read {path}: {exc.strerror}",
            kept="nothing was changed",
            next="Run the command from the project directory.",
        ) from None
    try:
        document = tomlkit.parse(original.decode("utf-8"))
    except (ParseError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path.name} is not valid TOML ({reason})",
            kept="nothing was changed",
            next="Fix the file, then run `poetry torch install` again.",
        ) from None
    return PyProject(path, original, document)


def write_atomic(pyproject: PyProject, text: str) -> None:
    """Replace the file with ``text`` unless someone else changed it since we read it."""
    files.write_atomic(pyproject.path, text.encode("utf-8"), expected=pyproject.original)


# --- `poetry torch install --for KIND`: one entry of the targets table ------------------------


def check_target(kind: str, value: str) -> str:
    """The ``--for`` kind as the keys spell it, once ``<kind> = "<value>"`` is known to be an
    entry ``[tool.poetry-torch.targets]`` accepts; ConfigError (one line) otherwise.  Checked
    before anything is written or planned (``--dry-run`` included)."""
    name = kind.strip().lower()
    if name not in KEYS:
        raise ConfigError(
            f"--for {kind!r} is not a kind of machine (known: {', '.join(KEYS)})",
            kept="nothing was changed",
            next="Run `poetry torch install --cuda X.Y --for linux-x86_64`, for example.",
        )
    parse_targets({name: value})
    return name


def set_target(pyproject: Path, kind: str, value: str) -> bytes | None:
    """Write ``<kind> = "<value>"`` into the targets table; the file's earlier bytes when it
    changed (for ``undone_on_failure``), else None.

    ConfigError (one line, nothing written) for an unknown kind or an unwritable file."""
    name = check_target(kind, value)
    pyproject_file = load(pyproject)
    read_config(pyproject_file.document)  # a [tool.poetry-torch] already wrong: said first
    edit = apply_target_edit(
        pyproject_file.document, name, value, pyproject_file.original.decode("utf-8")
    )
    if not edit.changed:
        return None

    # an entry that disagrees with Poetry's multiple-constraints entries: refused unwritten
    read_config(parse_toml(edit.text))
    files.refuse_read_only(pyproject)
    write_atomic(pyproject_file, edit.text)
    return pyproject_file.original
