"""torch, torchvision and torchaudio as the project itself declares them, read, never edited.

The plugin leaves these declarations where the user wrote them (so ``poetry build`` keeps
``Requires-Dist: torch``, optional stays optional, a source they name stays valid) and takes
from each only its version part: Poetry constraints (``^2.4``, ``~2.4``, ``2.8.*``) become
PEP 440, and a build's local label (``2.0.1+cu118``, ``^2.4.0+cu124``) is dropped, since the
build comes from the configured source.  Pure: callers hand in parsed TOML.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Mapping


FAMILY = ("torch", "torchvision", "torchaudio")
_DIRECT_KEYS = ("path", "url", "git", "file")
_LABEL = re.compile(r"\+[A-Za-z0-9.]*")
_TOKEN = re.compile(r"(\^|~=|~|===|==|!=|>=|<=|>|<|=)?\s*([^\s,<>=!~^]+)")
_RELEASE = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True)
class Declaration:
    """One place that declares a family package; ``alternatives`` when it lists several
    different versions for different environments (Poetry's multiple-constraints form)."""

    name: str
    where: str
    specifier: SpecifierSet
    alternatives: tuple[str, ...] = ()


def strip_label(text: str) -> str:
    """``2.0.1+cu118`` -> ``2.0.1``: the build label names a variant, not a version."""
    return _LABEL.sub("", text)


def _bounded(op: str, version: str) -> list[str]:
    """``^`` and ``~`` as Poetry defines them, as a lower and an upper PEP 440 bound."""
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(version)
    parts = [int(part) for part in match.groups() if part is not None]
    if op == "~":
        # ~1 -> <2; ~1.2 and ~1.2.3 -> <1.3
        upper = [parts[0] + 1] if len(parts) == 1 else [parts[0], parts[1] + 1]
    else:
        # ^ raises the first non-zero part; ^0 -> <1, ^0.0 -> <0.1, ^0.0.3 -> <0.0.4
        first = next((i for i, part in enumerate(parts) if part != 0), len(parts) - 1)
        upper = [*parts[:first], parts[first] + 1]
    while len(upper) < min(len(parts), 3):
        upper.append(0)
    return [f">={version.lstrip('v')}", "<" + ".".join(str(part) for part in upper)]


def _single(op: str, version: str) -> list[str]:
    version = strip_label(version).lstrip("v")
    if version in ("*", ""):
        return []
    if op in ("^", "~"):
        return _bounded(op, version)
    if op in ("", "=", "==", "==="):
        return [f"=={version}"]
    if op != "!=" and version.endswith(".*"):
        version = version[:-2]  # ">=2.8.*" means ">=2.8"
    return [f"{op}{version}"]


def poetry_to_pep440(constraint: str) -> tuple[SpecifierSet, ...]:
    """A Poetry version constraint as PEP 440 specifier sets, one per ``||`` alternative.

    ValueError when it cannot be read."""
    alternatives: list[SpecifierSet] = []
    for part in re.split(r"\|\|?", constraint):
        if not part.strip():
            raise ValueError(constraint)
        specifiers: list[str] = []
        position = 0
        for match in _TOKEN.finditer(part):
            if part[position : match.start()].strip(" ,"):
                raise ValueError(constraint)
            specifiers.extend(_single(match.group(1) or "", match.group(2)))
            position = match.end()
        if part[position:].strip(" ,"):
            raise ValueError(constraint)
        try:
            alternatives.append(SpecifierSet(",".join(specifiers)))
        except InvalidSpecifier:
            raise ValueError(constraint) from None
    return tuple(alternatives)


def pep440_without_labels(specifier: SpecifierSet) -> SpecifierSet:
    return SpecifierSet(",".join(strip_label(str(one)) for one in specifier))


def _shown(value: Any) -> str:
    text = str(value).replace("\n", " ")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _unreadable(name: str, where: str, value: Any) -> ConfigError:
    return ConfigError(
        f"cannot read the version constraint {_shown(value)} of {name} in {where}; nothing was"
        ' changed. Write it as Poetry or PEP 440 constraint such as "^2.8" or ">=2.8,<2.10".'
    )


def _direct(name: str, where: str, kind: str) -> ConfigError:
    return ConfigError(
        f"{name} in {where} is declared by {kind}, but the plugin installs {name} only from the"
        " configured PyTorch index; nothing was changed. Declare a version instead"
        f' (e.g. {name} = ">=2.8"), or remove [tool.poetry-torch] and the pytorch_* source to'
        " manage it yourself."
    )


def _merge(name: str, where: str, found: list[SpecifierSet | None]) -> Declaration:
    """One declaration from the entries one table holds for ``name`` (several: one per
    platform, Python or extra).  Different versions become ``alternatives``."""
    distinct = sorted({str(specifier) for specifier in found if specifier is not None})
    if len(distinct) <= 1:
        return Declaration(name, where, SpecifierSet(distinct[0] if distinct else ""))
    return Declaration(name, where, SpecifierSet(), tuple(distinct))


def _from_pep508_list(values: Any, where: str) -> Iterator[Declaration]:
    by_name: dict[str, list[SpecifierSet | None]] = {}
    for value in values if isinstance(values, list) else ():
        if not isinstance(value, str):
            continue
        try:
            requirement = Requirement(value)
        except InvalidRequirement:
            continue  # Poetry reports it; it is not ours to judge
        name = canonicalize_name(requirement.name)
        if name not in FAMILY:
            continue
        if requirement.url:
            raise _direct(name, where, "a direct URL")
        by_name.setdefault(name, []).append(pep440_without_labels(requirement.specifier))
    for listed, found in by_name.items():
        yield _merge(listed, where, found)


def _from_poetry_entry(name: str, value: Any, where: str) -> list[SpecifierSet | None]:
    """The version part of one Poetry entry, a string or a table: one specifier set per
    ``||`` alternative, [None] when the entry gives no version."""
    if hasattr(value, "get"):
        for key in _DIRECT_KEYS:
            if key in value:
                raise _direct(name, where, f"{key} ({_shown(value[key])})")
        value = value.get("version")
        if value is None:
            return [None]
    if not isinstance(value, str):
        raise _unreadable(name, where, value)
    try:
        return list(poetry_to_pep440(value))
    except ValueError:
        raise _unreadable(name, where, value) from None


def _from_poetry_table(table: Any, where: str) -> Iterator[Declaration]:
    if not hasattr(table, "items"):
        return
    for key, value in table.items():
        name = canonicalize_name(str(key))
        if name not in FAMILY:
            continue
        # a list is Poetry's multiple-constraints form: one entry per platform, Python or extra
        entries = value if isinstance(value, list) else [value]
        yield _merge(name, where, [s for e in entries for s in _from_poetry_entry(name, e, where)])


def _table(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if hasattr(data, "get") else None
    return data


def declarations(data: Mapping[str, Any]) -> tuple[Declaration, ...]:
    """Every family declaration in the project: PEP 621 dependencies and extras, PEP 735
    groups, Poetry's dependencies and groups.  ConfigError for a path/URL/git one."""
    found = list(
        _from_pep508_list(_table(data, "project", "dependencies"), "[project].dependencies")
    )
    extras = _table(data, "project", "optional-dependencies")
    for extra, values in extras.items() if hasattr(extras, "items") else ():
        found.extend(_from_pep508_list(values, f"[project.optional-dependencies] {extra}"))
    groups = _table(data, "dependency-groups")
    for group, values in groups.items() if hasattr(groups, "items") else ():
        found.extend(_from_pep508_list(values, f"[dependency-groups] {group}"))
    poetry = _table(data, "tool", "poetry")
    found.extend(_from_poetry_table(_table(poetry, "dependencies"), "[tool.poetry.dependencies]"))
    poetry_groups = _table(poetry, "group")
    for group, table in poetry_groups.items() if hasattr(poetry_groups, "items") else ():
        where = f"[tool.poetry.group.{group}.dependencies]"
        found.extend(_from_poetry_table(_table(table, "dependencies"), where))
    return tuple(found)


def _candidates(specifier: SpecifierSet) -> Iterator[Version]:
    """Versions on and around every bound, enough to tell whether the set admits any."""
    yield Version("0")
    yield Version("99999")
    for one in specifier:
        text = one.version[:-2] if one.version.endswith(".*") else one.version
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        yield version
        release = list(version.release)
        for extra in ("0", "1", "0.1", "0.0.1"):
            yield Version(".".join(str(part) for part in release) + "." + extra)
        for index in range(len(release)):
            for step in (1, -1):
                bumped = [*release[:index], release[index] + step]
                if bumped[-1] >= 0:
                    yield Version(".".join(str(part) for part in bumped))


def satisfiable(specifier: SpecifierSet) -> bool:
    return any(specifier.contains(version, prereleases=True) for version in _candidates(specifier))


def combine(requirement: Requirement, found: tuple[Declaration, ...]) -> Requirement:
    """``requirement`` (from ``[tool.poetry-torch]`` or the default) narrowed by every
    declaration of the same package; ConfigError when they leave no version or are ambiguous."""
    name = canonicalize_name(requirement.name)
    mine = [declared for declared in found if declared.name == name]
    specifier = SpecifierSet(str(requirement.specifier))
    for declared in mine:
        if declared.alternatives and not requirement.specifier:
            raise ConfigError(
                f"{name} in {declared.where} lists alternative versions"
                f" ({'; '.join(declared.alternatives)}), and the plugin installs one;"
                f' nothing was changed. Choose it with `poetry torch install "{name}'
                f'{declared.alternatives[-1]}"`.'
            )
        specifier &= declared.specifier
    if not satisfiable(specifier):
        places = "; ".join(
            f"{declared.where} says {declared.specifier}" for declared in mine if declared.specifier
        )
        if requirement.specifier:
            raise ConfigError(
                f"no {name} version satisfies both [tool.poetry-torch] packages ({requirement})"
                f' and {places}; nothing was changed. Run `poetry torch install "{name}"` to drop'
                " the first, or change the declaration."
            )
        raise ConfigError(
            f"no {name} version satisfies every declaration ({places}); nothing was changed."
            " Fix them in pyproject.toml so that one version fits all."
        )
    if str(specifier) == str(requirement.specifier):
        return requirement
    combined = Requirement(str(requirement))
    combined.specifier = specifier
    return combined


def with_declarations(
    data: Mapping[str, Any], requirements: tuple[Requirement, ...], written: tuple[str, ...]
) -> tuple[tuple[Requirement, ...], tuple[str, ...]]:
    """``[tool.poetry-torch] packages`` (or the default) narrowed by the project's own
    declarations; a declared family package the table does not list is added."""
    found = declarations(data)
    listed = {canonicalize_name(req.name) for req in requirements}
    extra = [
        Requirement(name) for name in dict.fromkeys(d.name for d in found) if name not in listed
    ]
    combined: list[Requirement] = []
    texts: list[str] = []
    for requirement, text in zip([*requirements, *extra], [*written, *(r.name for r in extra)]):
        narrowed = combine(requirement, found)
        combined.append(narrowed)
        texts.append(text if narrowed is requirement else str(narrowed))
    return tuple(combined), tuple(texts)
