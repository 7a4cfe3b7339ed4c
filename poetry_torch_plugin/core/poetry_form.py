"""Poetry's multiple-constraints form for the torch family (``torch = [{version, source,
markers}, …]``), read as targets; see docs/user-guide.md, "Poetry's multiple-constraints form".

Only a list with an entry naming a plugin source (``pytorch_cuda_cu129``, ``pytorch_cpu``, …)
is read.  Each entry's ``markers`` and ``platform`` are evaluated for one fixed environment per
machine kind (``KINDS``); Python (``python_version``, the implementation, an ``extra``) never
makes an entry vanish: it applies to a kind when it holds there for some Python and extra
(``python`` is not read).  The entry's source gives the variant; on macOS an entry without a
plugin source is the cpu build, the only one there.  Keys are the most specific ones
(``linux`` only where one entry covers both architectures).  Pure: parsed TOML in.
"""

from __future__ import annotations

import re

from typing import TYPE_CHECKING
from typing import Any

from packaging.markers import InvalidMarker
from packaging.markers import Marker
from packaging.markers import UndefinedComparison
from packaging.markers import UndefinedEnvironmentName
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import from_source_name
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.core.variants import Source


FAMILY = ("torch", "torchvision", "torchaudio")
PLATFORMS = {
    "linux-x86_64": ("linux", "Linux", "x86_64", "posix"),
    "linux-aarch64": ("linux", "Linux", "aarch64", "posix"),
    "macos-arm64": ("darwin", "Darwin", "arm64", "posix"),
    "macos-x86_64": ("darwin", "Darwin", "x86_64", "posix"),
    "windows-amd64": ("win32", "Windows", "AMD64", "nt"),
    "windows-arm64": ("win32", "Windows", "ARM64", "nt"),
}
KINDS = tuple(PLATFORMS)
_PYTHONS = tuple(f"3.{minor}" for minor in range(8, 16))
_IMPLEMENTATIONS = (("cpython", "CPython"), ("pypy", "PyPy"))
# (patterns as text: re compiles them on first use, not when the hook's modules load)
_PYTHON_WORDS = r"python|implementation"
_EXTRA = r"\bextra\s*==\s*['\"]([^'\"]+)['\"]"
_FIX = "Fix pyproject.toml: write what each machine kind installs as [tool.poetry-torch.targets]"


@record
class PoetryForm:
    """What the family's multiple-constraints entries say: ``targets`` as (key, variant)
    pairs (in ``TorchConfig.poetry_form``: only those ``merge_targets`` added to the explicit
    ones), ``details`` (key, which entry said it), the plugin sources they name, and the
    committed source (None when no entry names one)."""

    targets: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, str], ...]
    referenced: frozenset[str]
    default: str | None


@record
class _Entry:
    where: str  # "[tool.poetry.dependencies] torch entry 2"
    source: str | None
    kinds: tuple[str, ...]


def _environment(kind: str, python: str, implementation: tuple[str, str], extra: str) -> Any:
    sys_platform, system, machine, os_name = PLATFORMS[kind]
    return {
        "sys_platform": sys_platform,
        "platform_system": system,
        "platform_machine": machine,
        "os_name": os_name,
        "platform_release": "",
        "platform_version": "",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": implementation[0],
        "implementation_version": f"{python}.0",
        "platform_python_implementation": implementation[1],
        "extra": extra,
    }


def _platform_marker(value: str) -> str:
    """Poetry's ``platform = "linux"`` (also ``"!=win32"``, ``"linux || darwin"``) as markers."""
    parts = []
    for alternative in value.split("||"):
        text = alternative.strip()
        op = "!=" if text.startswith("!=") else "=="
        parts.append(f'sys_platform {op} "{text.lstrip("!=").strip()}"')
    return " or ".join(parts)


def _shown(value: object) -> str:
    text = str(value).replace("\n", " ")
    return repr(text if len(text) <= 70 else text[:67] + "...")


def entry_kinds(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The machine kinds one entry applies to, in ``KINDS`` order; ConfigError when its
    ``markers`` or ``platform`` cannot be read."""
    texts = []
    markers, platform = entry.get("markers"), entry.get("platform")
    if markers is not None:
        texts.append(str(markers))
    if platform is not None:
        texts.append(_platform_marker(str(platform)))
    try:
        marker = Marker(" and ".join(f"({text})" for text in texts)) if texts else None
    except InvalidMarker as exc:
        raise ConfigError(
            f"{where} has markers {_shown(' and '.join(texts))} that cannot be read"
            f" ({str(exc).splitlines()[0]})",
            kept="nothing was changed",
            next=f"{_FIX}, or fix the markers.",
        ) from None
    if marker is None:
        return KINDS
    extras = ("", *re.findall(_EXTRA, str(markers or "")))
    asks_python = bool(re.search(_PYTHON_WORDS, str(marker)))
    pythons = _PYTHONS if asks_python else _PYTHONS[-1:]
    implementations = _IMPLEMENTATIONS if asks_python else _IMPLEMENTATIONS[:1]
    try:
        return tuple(
            kind
            for kind in KINDS
            if any(
                marker.evaluate(_environment(kind, python, implementation, extra))
                for python in pythons
                for implementation in implementations
                for extra in extras
            )
        )
    except (UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise ConfigError(
            f"{where} has markers {_shown(marker)} that cannot be evaluated ({exc})",
            kept="nothing was changed",
            next=f"{_FIX}.",
        ) from None


def _names_plugin_source(entries: list[Any]) -> bool:
    """Whether an entry names a source in the plugin's convention: only then is a list read
    as targets (a list without one is left as it was: the plugin's source decides)."""

    return any(from_source_name(str(entry.get("source", ""))) is not None for entry in entries)


def _lists(data: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Any]]]:
    """(package, table, entries) for every family package written in the list form."""
    tool: Any = data.get("tool")
    poetry: Any = tool.get("poetry") if hasattr(tool, "get") else None
    poetry = poetry if hasattr(poetry, "get") else {}
    tables = [("[tool.poetry.dependencies]", poetry.get("dependencies"))]
    groups = poetry.get("group")
    for group, table in groups.items() if hasattr(groups, "items") else ():
        dependencies = table.get("dependencies") if hasattr(table, "get") else None
        tables.append((f"[tool.poetry.group.{group}.dependencies]", dependencies))
    for where, table in tables:
        for key, value in table.items() if hasattr(table, "items") else ():
            name = canonicalize_name(str(key))
            if name in FAMILY and isinstance(value, list):
                entries = [entry for entry in value if hasattr(entry, "get")]
                if _names_plugin_source(entries):
                    yield name, where, entries


def _variant_of(entry: _Entry, kind: str, sources: Mapping[str, Source]) -> str:
    """The variant ``entry`` installs on ``kind``; ConfigError when it cannot be told."""

    plugin = entry.source is not None and from_source_name(entry.source) is not None
    if kind.startswith("macos") and not plugin:
        return "cpu"  # PyTorch publishes one macOS build, the cpu one (with MPS), anywhere
    if entry.source is None:
        raise ConfigError(
            f"{entry.where} names no source, so on {kind} it is PyPI's torch, whose build the"
            " plugin cannot tell",
            kept="nothing was changed",
            next="Fix pyproject.toml: name a pytorch_*"
            ' source in it (source = "pytorch_cuda_cu129"), or write [tool.poetry-torch.targets]'
            f' {kind} = "cu129" (or "cpu", …) instead.',
        )
    if from_source_name(entry.source) is None:
        raise ConfigError(
            f"{entry.where} names the source {entry.source!r}, which is not one of the plugin's"
            " (pytorch_cuda_cuXYZ, pytorch_cpu, pytorch_rocmX_Y), so the plugin cannot tell its"
            " build",
            kept="nothing was changed",
            next=f'{_FIX} {kind} = "cu129" (or "cpu", …) instead.',
        )
    source = sources.get(entry.source.strip().lower())
    if source is None or source.variant is None:
        raise ConfigError(
            f"{entry.where} names the source {entry.source!r}, which no [[tool.poetry.source]]"
            " declares",
            kept="nothing was changed",
            next=f"Declare it (name = {entry.source!r}, url = the PyTorch index), then run the"
            " command again.",
        )
    variant = source.variant.index_name
    if kind.startswith("macos") and variant != "cpu":
        raise ConfigError(
            f"{entry.where} gives macOS ({kind}) the source {source.name} ({variant}), but PyTorch"
            " publishes only the cpu build (with MPS) for macOS",
            kept="nothing was changed",
            next='Fix pyproject.toml: use source = "pytorch_cpu" (or no source) for macOS.',
        )
    return variant


def _package_entries(name: str, where: str, entries: list[Any]) -> list[_Entry]:
    found = []
    for index, entry in enumerate(entries, 1):
        label = f"{where} {name} entry {index}"
        kinds = entry_kinds(entry, label)
        if not kinds:
            raise ConfigError(
                f"{label} applies to no machine kind the plugin knows ({', '.join(KINDS)})",
                kept="nothing was changed",
                next=f"{_FIX}, or fix its markers.",
            )
        source = entry.get("source")
        found.append(_Entry(label, None if source is None else str(source), kinds))
    return found


def read_poetry_form(
    data: Mapping[str, Any], sources: Sequence[Source], variant: str | None = None
) -> PoetryForm | None:
    """The targets the family's multiple-constraints entries say; None when no family
    package uses that form (or its entries do not tell machines apart).  ``variant`` is
    ``[tool.poetry-torch] variant``: its source, when declared, is the committed one."""
    by_name = {source.name.strip().lower(): source for source in sources}
    chosen: dict[str, tuple[str, _Entry]] = {}
    all_entries: list[_Entry] = []
    for name, where, entries in _lists(data):
        package_entries = _package_entries(name, where, entries)
        all_entries.extend(package_entries)
        for entry in package_entries:
            for kind in entry.kinds:
                variant_here = _variant_of(entry, kind, by_name)
                earlier = chosen.setdefault(kind, (variant_here, entry))
                if earlier[0] != variant_here:
                    raise ConfigError(
                        f"{earlier[1].where} ({earlier[0]}) and {entry.where} ({variant_here})"
                        f" both apply to {kind}, and a machine installs one build",
                        kept="nothing was changed",
                        next=f'{_FIX} {kind} = "{earlier[0]}", or narrow their markers.',
                    )
    if not all_entries:
        return None
    pairs, details = _keys(chosen)
    referenced = frozenset(
        by_name[e.source.strip().lower()].name
        for e in all_entries
        if e.source is not None and e.source.strip().lower() in by_name
    )
    return PoetryForm(pairs, details, referenced, _default(sources, variant, chosen, all_entries))


def _keys(
    chosen: dict[str, tuple[str, _Entry]],
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Most specific keys; ``<os>`` where one entry covers both of its architectures."""
    pairs: list[tuple[str, str]] = []
    details: list[tuple[str, str]] = []
    for system in ("linux", "macos", "windows"):
        kinds = [kind for kind in KINDS if kind.startswith(system + "-")]
        found = [chosen.get(kind) for kind in kinds]
        first, second = found
        if first is not None and second is not None and first == second:
            pairs.append((system, first[0]))
            details.append((system, first[1].where))
            continue
        for kind, one in zip(kinds, found):
            if one is not None:
                pairs.append((kind, one[0]))
                details.append((kind, one[1].where))
    return tuple(pairs), tuple(details)


def _default(
    sources: Sequence[Source],
    variant: str | None,
    chosen: dict[str, tuple[str, _Entry]],
    entries: list[_Entry],
) -> str | None:
    """The committed source: ``variant``'s, else linux-x86_64's entry's, else the first
    entry's that names a declared plugin source."""
    by_name = {source.name.strip().lower(): source for source in sources}
    if variant is not None:
        for source in sources:
            if source.variant is not None and source.variant.index_name == variant:
                return source.name
    ordered = [chosen["linux-x86_64"][1]] if "linux-x86_64" in chosen else []
    for entry in [*ordered, *entries]:
        if entry.source is not None and entry.source.strip().lower() in by_name:
            return by_name[entry.source.strip().lower()].name
    return None
