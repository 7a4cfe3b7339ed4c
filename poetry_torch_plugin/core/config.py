"""The torch configuration as read from pyproject data: sources, packages, settings, and the
versions the project itself declares for torch, torchvision and torchaudio.

Pure: callers hand in parsed TOML; reading and writing the file lives in ``project``."""

from __future__ import annotations

import functools
import os
import re

from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.targets import parse_variant
from poetry_torch_plugin.core.targets import read_targets
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.core.variants import from_source_name
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Iterator
    from collections.abc import Mapping

    from poetry_torch_plugin.core.poetry_form import PoetryForm
    from poetry_torch_plugin.core.targets import VariantChoice


TOOL_TABLE = "poetry-torch"
DEFAULT_PACKAGES = ("torch", "torchvision", "torchaudio")
# The default family's members that a build may go without (torchaudio is in maintenance:
# PyTorch's cu132 index has only a legacy build, pinned to torch 2.2.0)
OPTIONAL = frozenset({"torchaudio"})
DEFAULT_INDEX_BASE = "https://download.pytorch.org/whl"
# Where Poetry looks for everything else when no source of the project is primary
PYPI_URL = "https://pypi.org/simple"
INDEX_BASE_ENV = "POETRY_TORCH_INDEX_BASE"
INSTALLERS = ("auto", "pip", "uv")
_INSTALLER_VALUES = " or ".join(f'"{name}"' for name in INSTALLERS)  # as TOML writes them
KNOWN_KEYS = frozenset({"packages", "index-base", "installer", "allow-http", "variant", "targets"})


# Packages PyTorch publishes on its own index and that may be listed in `packages`.
CONFIGURABLE = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "torchtext",
        "torchdata",
        "torchao",
        "torchcodec",
        "torchrec",
        "fbgemm-gpu",
        "triton",
        "pytorch-triton",
        "pytorch-triton-rocm",
        "pytorch-triton-xpu",
    }
)


# Packages a torch build pulls in as its runtime: they must never be locked or touched by Poetry.
# nvidia-ml-py is NVIDIA's NVML binding, which torch does not install: users depend on it freely.
# ROCm 7.14 and later are no longer bundled: torch requires ``rocm[libraries,device-all]``, which
# pulls in rocm-sdk-core and the rocm-sdk-libraries-*/rocm-sdk-devices-* of the GPU families,
# published on the same index as torch (and nowhere Poetry's PyPI role would find them).
# Read with string tests, not a regular expression: compiling one costs more than every test
# the hook makes with it (tests/unit/core/test_config.py holds it to the pattern
# ``nvidia-(?!ml-py$).+|cuda-toolkit|cuda-bindings|cuda-pathfinder|triton|pytorch-triton.*|rocm
# |rocm-sdk(?:-.+)?``, except that no name with a newline is one).
_RUNTIME_NAMES = frozenset(
    {"cuda-toolkit", "cuda-bindings", "cuda-pathfinder", "triton", "rocm", "rocm-sdk"}
)


def _runtime(canonical: str) -> bool:
    if "\n" in canonical:
        return False
    if canonical in _RUNTIME_NAMES or canonical.startswith("pytorch-triton"):
        return True
    # a prefix with something after it
    return canonical.startswith(("nvidia-", "rocm-sdk-")) and canonical not in (
        "nvidia-",
        "rocm-sdk-",
        "nvidia-ml-py",
    )


@record
class TorchConfig:
    """What pyproject.toml says about torch.

    ``sources`` lists the sources in the plugin's naming convention (``pytorch_cuda_cuXYZ``,
    ``pytorch_cpu``, ``pytorch_rocmX_Y``); the user's other sources are theirs.  ``written`` is
    ``[tool.poetry-torch] packages`` as written (or the default family); ``packages`` and
    ``requirements`` are what gets installed: ``written`` narrowed by the versions the project
    declares for torch, torchvision and torchaudio wherever it declares them.
    """

    sources: tuple[Source, ...] = ()
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    written: tuple[str, ...] = DEFAULT_PACKAGES
    index_base: str = DEFAULT_INDEX_BASE
    installer: str = "pip"
    allow_http: bool = False
    has_tool_table: bool = False
    requirements: tuple[Requirement, ...] = field(default=(), compare=False)
    # ``[tool.poetry-torch] variant`` as written ("auto", "cu129", ...); None when absent
    variant: str | None = None
    # which variant this machine installs and why (``service.settings.with_choice``): set,
    # ``sources`` holds the one source the plugin installs from, derived when needed
    choice: VariantChoice | None = field(default=None, compare=False)
    # ``[tool.poetry-torch.targets]``: (machine kind, variant or "auto"), see ``core.targets``
    targets: tuple[tuple[str, str], ...] = ()
    # Poetry's multiple-constraints form for the family, read as targets (``core.poetry_form``)
    poetry_form: PoetryForm | None = field(default=None, compare=False)
    # no packages were named (``packages`` absent, or the default family as the plugin writes
    # it, with no versions): the family is what PyTorch's own install
    # command for the build installs, so a companion the variant's index has no build of that
    # pairs with its torch (torchaudio on cu132) is taken from PyPI or left out
    # (``service.family``), never pinned to another torch
    default_family: bool = False
    # the index Poetry reads everything else from: the project's primary source, else PyPI
    pypi: str = PYPI_URL

    @property
    def active(self) -> bool:
        """Whether this project asks the plugin to manage torch at all."""
        return bool(self.sources) or self.has_tool_table

    @property
    def package_names(self) -> tuple[str, ...]:
        return tuple(canonicalize_name(req.name) for req in self.requirements)

    @property
    def must_publish(self) -> tuple[str, ...]:
        """The packages the variant's index must publish: the default family's torchaudio is
        optional (``service.family`` decides where it comes from, or that it is left out)."""
        if not self.default_family:
            return self.packages
        return tuple(
            p for p in self.packages if canonicalize_name(Requirement(p).name) not in OPTIONAL
        )

    def as_built(self, asked: Iterable[str], have: Iterable[str]) -> TorchConfig:
        """The configuration narrowed to the build a lock holds (``service.plan.as_built``):
        a default-family companion ``asked`` for when locking (requirements) that the lock
        does not ``have`` (names) is not part of this build (``service.family``).  Named
        packages are never narrowed."""
        if not self.default_family:
            return self
        asked_names = {canonicalize_name(Requirement(text).name) for text in asked}
        left = (OPTIONAL & asked_names) - {canonicalize_name(name) for name in have}
        if not left:
            return self
        return replace(
            self,
            packages=tuple(
                p for p in self.packages if canonicalize_name(Requirement(p).name) not in left
            ),
            requirements=tuple(
                r for r in self.requirements if canonicalize_name(r.name) not in left
            ),
        )

    def source(self) -> Source | None:
        """The one source in the plugin's convention, or with Poetry's multiple-constraints form
        the committed one (``sources[0]``) when its entries name every other; else ConfigError
        when there are several."""
        named = self.poetry_form.referenced if self.poetry_form else frozenset()
        if len(self.sources) > 1 and not {s.name for s in self.sources[1:]} <= named:
            names = ", ".join(source.name for source in self.sources)
            raise ConfigError(
                f"pyproject.toml has {len(self.sources)} pytorch sources ({names}) and nothing to"
                " choose between them",
                kept="nothing was changed",
                next="Run `poetry torch install --cuda X.Y` (or --cpu / --rocm X.Y) to keep"
                " exactly one.",
            )
        return self.sources[0] if self.sources else None

    def held(self, name: str) -> bool:
        """Whether Poetry must keep ``name`` out of its lock file and installer."""
        canonical = canonicalize_name(name)
        return canonical in self.package_names or _runtime(canonical)


def is_runtime_package(name: str) -> bool:
    """Whether ``name`` looks like part of a torch build's runtime (nvidia-*, triton, ...)."""
    return _runtime(canonicalize_name(name))


def is_torch_family(name: str) -> bool:
    canonical = canonicalize_name(name)
    return canonical in CONFIGURABLE or _runtime(canonical)


def parse_requirements(
    values: Iterable[str], *, where: str, require_torch: bool = True
) -> tuple[Requirement, ...]:
    parsed: dict[str, Requirement] = {}
    for value in values:
        try:
            requirement = Requirement(value)
        except InvalidRequirement as exc:
            raise ConfigError(
                f"{where}: {value!r} is not a valid requirement ({str(exc).splitlines()[0]})",
                kept="nothing was changed",
                next='Use PEP 508 syntax such as "torch>=2.7,<2.9" with `poetry torch install`.',
            ) from None
        name = canonicalize_name(requirement.name)
        if name not in CONFIGURABLE:
            raise ConfigError(
                f"{where}: {requirement.name!r} is not a PyTorch-index package (expected one of"
                " torch, torchvision, torchaudio, ...)",
                kept="nothing was changed",
                next="Add it with `poetry add` instead.",
            )
        if requirement.url:
            raise ConfigError(
                f"{where}: {value!r} is a direct URL, and torch-family packages come only from the"
                " configured index",
                kept="nothing was changed",
                next=(
                    'Use a version requirement such as "torch==2.8.*" with `poetry torch install`.'
                ),
            )
        if requirement.marker is not None:
            raise ConfigError(
                f"{where}: {value!r} has an environment marker ({requirement.marker}), which"
                " poetry torch does not support (the source decides which build this machine"
                " gets)",
                kept="nothing was changed",
                next=f'Drop the marker ("{requirement.name}{requirement.specifier}"), then run the'
                " command again.",
            )
        if name in parsed:
            raise ConfigError(
                f"{where}: {requirement.name} is given twice ({str(parsed[name])!r} and"
                f" {str(requirement)!r})",
                kept="nothing was changed",
                next="Give each package once, then run the command again.",
            )
        parsed[name] = requirement
    if require_torch and parsed and "torch" not in parsed:
        raise ConfigError(
            f"{where}: the list must include torch",
            kept="nothing was changed",
            next='Example: packages = ["torch", "torchvision"].',
        )
    return tuple(parsed.values())


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    current: Any = data
    for key in keys:
        if not hasattr(current, "get"):
            return {}
        current = current.get(key, {})
    return current if hasattr(current, "get") else {}


def is_pytorch_source(name: str, url: str = "") -> bool:
    """Whether a source is the plugin's own: named in its convention (``pytorch_cuda_cu129``,
    ``pytorch_cpu``, ``pytorch_rocm6_4``).  Other sources, even ones that serve PyTorch
    (``pytorch``, ``pytorch-gpu-src``, a nightly), belong to the user and are left alone."""
    del url  # the name alone decides; kept for callers that pass both
    return from_source_name(name.strip().lower()) is not None


def source_priority(entry: Mapping[str, Any]) -> str:
    """``priority``, or what Poetry 1.x's ``secondary``/``default`` booleans meant."""
    if "priority" in entry:
        return str(entry["priority"])
    if entry.get("default") is True:
        return "default"
    if entry.get("secondary") is True:
        return "secondary"
    return ""


def read_config(data: Mapping[str, Any], *, declared: bool = True) -> TorchConfig:
    """Build the configuration from parsed pyproject data (a dict or a tomlkit document).

    In a project that opted in, the versions declared for the family elsewhere in the file
    narrow ``packages`` (see "what the project declares for the family" below);
    ``declared=False`` skips that, for a reader that only needs the sources and the table as written."""
    poetry = _table(data, "tool", "poetry")
    raw_sources = poetry.get("source", [])
    sources = tuple(
        Source(str(entry.get("name", "")), str(entry.get("url", "")), source_priority(entry))
        for entry in (raw_sources if isinstance(raw_sources, list) else [])
        if hasattr(entry, "get") and is_pytorch_source(str(entry.get("name", "")))
    )
    tool = data.get("tool", {})
    has_tool_table = hasattr(tool, "get") and TOOL_TABLE in tool
    settings = _table(data, "tool", TOOL_TABLE)
    unknown = sorted(set(settings) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] has unknown key {unknown[0]!r} (known:"
            f" {', '.join(sorted(KNOWN_KEYS))})",
            kept="nothing was changed",
            next=f"Rename or remove {unknown[0]!r} in pyproject.toml, then run the command again.",
        )
    packages_value = settings.get("packages", list(DEFAULT_PACKAGES))
    if not isinstance(packages_value, list) or not all(isinstance(p, str) for p in packages_value):
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] packages must be a list of requirement strings",
            kept="nothing was changed",
            next='Write it as a list (packages = ["torch", "torchvision>=0.24"]) in pyproject.toml,'
            " then run the command again.",
        )
    if not packages_value:
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] packages is empty, so torch would be neither held out nor"
            " installed",
            kept="nothing was changed",
            next='List torch in it (packages = ["torch"]) or'
            " remove the key for the default torch, torchvision and torchaudio, then run the"
            " command again.",
        )
    requirements = parse_requirements(packages_value, where=f"[tool.{TOOL_TABLE}] packages")
    written_installer = settings.get("installer", "pip")
    installer = str(written_installer)
    if not isinstance(written_installer, str) or installer not in INSTALLERS:
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] installer = {_toml_value(written_installer)} is not one of"
            f" {', '.join(INSTALLERS)}",
            kept="nothing was changed",
            next=f"Write installer = {_INSTALLER_VALUES} in pyproject.toml, then run the"
            " command again.",
        )
    allow_http = settings.get("allow-http", False)
    if not isinstance(allow_http, bool):
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] allow-http = {allow_http!r} is not a boolean",
            kept="nothing was changed",
            next="Write allow-http = true or false in pyproject.toml.",
        )

    variant = parse_variant(
        settings.get("variant"),
        where=f"[tool.{TOOL_TABLE}] variant",
        fix="Fix pyproject.toml",
    )
    written = tuple(str(p).strip() for p in packages_value)
    packages = written
    if declared and (sources or has_tool_table):
        requirements, packages = with_declarations(data, requirements, written)
    active = bool(sources) or has_tool_table
    sources, targets, form = read_targets(
        data, sources, variant, settings.get("targets"), active=active
    )
    return TorchConfig(
        sources=sources,
        packages=packages,
        written=written,
        index_base=str(settings.get("index-base", DEFAULT_INDEX_BASE)),
        installer=installer,
        allow_http=allow_http,
        has_tool_table=has_tool_table,
        requirements=requirements,
        variant=variant,
        targets=targets,
        poetry_form=form,
        default_family=written == DEFAULT_PACKAGES,
        pypi=_pypi_of(raw_sources if isinstance(raw_sources, list) else []),
    )


def _pypi_of(entries: Iterable[Any]) -> str:
    """The URL Poetry reads other packages from: the first primary source that is not the
    plugin's (Poetry drops PyPI once a source is primary), else PyPI."""
    for entry in entries:
        if not hasattr(entry, "get") or is_pytorch_source(str(entry.get("name", ""))):
            continue
        if source_priority(entry) in ("", "primary", "default") and entry.get("url"):
            return str(entry["url"]).rstrip("/")
    return PYPI_URL


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def env_flag(name: str, *, untouched: str = "nothing was changed") -> bool:
    """A boolean environment variable read as Poetry reads its own (true/false, 1/0, yes/no,
    any case; unset or empty is false); anything else is a one-line ConfigError naming it."""
    value = os.environ.get(name, "")
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(
        f"{name}={value!r} is not a boolean (expected true/false, 1/0 or yes/no)",
        kept=untouched,
        next=f"Set {name} to 1 or 0 (or unset it), then run the command again.",
    )


def _toml_value(value: object) -> str:
    """A value as TOML writes it (``5``, ``true``, ``"uvx"``), for messages that quote the
    file: Python's repr would show ``'5'`` for the number 5 and ``True`` for true."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def effective_index_base(config: TorchConfig, override: str | None = None) -> str:
    """The base a source URL is written on: ``--index-base`` beats ``[tool.poetry-torch]
    index-base``.  ``POETRY_TORCH_INDEX_BASE`` is not one of them: it only changes where this
    machine fetches from (``index.access.mirror_url``), never what the files say."""
    base = override or config.index_base
    return base.rstrip("/")


@functools.lru_cache(maxsize=4)
def parse_toml(text: str) -> dict[str, Any]:
    """Plain data from TOML text, for reading only: ``tomllib`` (~10x faster than tomlkit,
    which keeps formatting for edits), tomlkit before Python 3.11.  ValueError when invalid.
    The same text gives the same dict, parsed once: the hook reads pyproject.toml and
    poetry-torch.lock before and after every Poetry command."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    import tomlkit

    return tomlkit.parse(text).unwrap()


# --- what the project declares for the family ------------------------------------------------
# torch, torchvision and torchaudio as the project itself declares them, read, never edited.
#
# The plugin leaves these declarations where the user wrote them (so ``poetry build`` keeps
# ``Requires-Dist: torch``, optional stays optional, a source they name stays valid) and takes
# from each only its version part: Poetry constraints (``^2.4``, ``~2.4``, ``2.8.*``) become
# PEP 440, and a build's local label (``2.0.1+cu118``, ``^2.4.0+cu124``) is dropped, since the
# build comes from the configured source.  Pure: callers hand in parsed TOML.


FAMILY = ("torch", "torchvision", "torchaudio")
_DIRECT_KEYS = ("path", "url", "git", "file")
# (patterns as text: re compiles them on first use, not when the hook's modules load)
_LABEL = r"\+[A-Za-z0-9.]*"
_CLAUSE = r"(\^|~=|~|===|==|!=|>=|<=|>|<|=)?\s*([^\s,<>=!~^]+)"
_RELEASE = r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"


@record
class Declaration:
    """One place that declares a family package; ``alternatives`` when it lists several
    different versions for different environments (Poetry's multiple-constraints form)."""

    name: str
    where: str
    specifier: SpecifierSet
    alternatives: tuple[str, ...] = ()


def strip_label(text: str) -> str:
    """``2.0.1+cu118`` -> ``2.0.1``: the build label names a variant, not a version."""
    return re.sub(_LABEL, "", text)


def _bounded(op: str, version: str) -> list[str]:
    """``^`` and ``~`` as Poetry defines them, as a lower and an upper PEP 440 bound."""
    match = re.match(_RELEASE, version)
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
        for match in re.finditer(_CLAUSE, part):
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


_ORDER = (">=", ">", "==", "===", "~=", "!=", "<=", "<")


def _ordered(specifier: SpecifierSet) -> str:
    """``>=2.9.0,<3.0.0`` (lower bound first), as people write it, not SpecifierSet's order."""
    ones = sorted(specifier, key=lambda one: (_ORDER.index(one.operator), one.version))
    return ",".join(str(one) for one in ones)


def install_advice(
    name: str, constraint: str, *, option: str = "", companions: Iterable[str] = ()
) -> str:
    """The ``poetry torch install`` command(s) that install a build ``constraint`` (a Poetry
    constraint: ``^2.9.0``, ``~2.9``, ``2.9.*``, ``>=2.0,<3 || >=4``) accepts, written in PEP 440
    and keeping the other configured packages (by name: their pins belong to the old build);
    one command per ``||`` alternative, joined by " or "."""
    try:
        alternatives = poetry_to_pep440(constraint)
    except ValueError:
        return ""  # nothing this plugin can say the command would accept
    others = [
        str(canonicalize_name(Requirement(value).name))
        for value in companions
        if canonicalize_name(Requirement(value).name) != canonicalize_name(name)
    ]
    flag = f"{option} " if option else ""
    commands = [
        f'`poetry torch install {flag}"{name}{_ordered(specifier)}"'
        f"{''.join(f' {o}' for o in others)}`"
        for specifier in alternatives
    ]
    return " or ".join(commands)


def pep440_without_labels(specifier: SpecifierSet) -> SpecifierSet:
    return SpecifierSet(",".join(strip_label(str(one)) for one in specifier))


def _shown(value: Any) -> str:
    text = str(value).replace("\n", " ")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _unreadable(name: str, where: str, value: Any) -> ConfigError:
    return ConfigError(
        f"cannot read the version constraint {_shown(value)} of {name} in {where}",
        kept="nothing was changed",
        next='Write it as a Poetry or PEP 440 constraint such as "^2.8" or ">=2.8,<2.10".',
    )


def _direct(name: str, where: str, kind: str) -> ConfigError:
    return ConfigError(
        f"{name} in {where} is declared by {kind}, but the plugin installs {name} only from the"
        " configured PyTorch index",
        kept="nothing was changed",
        next=f'Declare a version instead (e.g. {name} = ">=2.8"), or remove [tool.poetry-torch]'
        " and the pytorch_* source to manage it yourself.",
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


def _value_at(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if hasattr(data, "get") else None
    return data


def declarations(data: Mapping[str, Any]) -> tuple[Declaration, ...]:
    """Every family declaration in the project: PEP 621 dependencies and extras, PEP 735
    groups, Poetry's dependencies and groups.  ConfigError for a path/URL/git one."""
    found = list(
        _from_pep508_list(_value_at(data, "project", "dependencies"), "[project].dependencies")
    )
    extras = _value_at(data, "project", "optional-dependencies")
    for extra, values in extras.items() if hasattr(extras, "items") else ():
        found.extend(_from_pep508_list(values, f"[project.optional-dependencies] {extra}"))
    groups = _value_at(data, "dependency-groups")
    for group, values in groups.items() if hasattr(groups, "items") else ():
        found.extend(_from_pep508_list(values, f"[dependency-groups] {group}"))
    poetry = _value_at(data, "tool", "poetry")
    found.extend(
        _from_poetry_table(_value_at(poetry, "dependencies"), "[tool.poetry.dependencies]")
    )
    poetry_groups = _value_at(poetry, "group")
    for group, table in poetry_groups.items() if hasattr(poetry_groups, "items") else ():
        where = f"[tool.poetry.group.{group}.dependencies]"
        found.extend(_from_poetry_table(_value_at(table, "dependencies"), where))
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
                f" ({'; '.join(declared.alternatives)}), and the plugin installs one",
                kept="nothing was changed",
                next=f'Choose it with `poetry torch install "{name}{declared.alternatives[-1]}"`.',
            )
        specifier &= declared.specifier
    if not satisfiable(specifier):
        places = "; ".join(
            f"{declared.where} says {declared.specifier}" for declared in mine if declared.specifier
        )
        if requirement.specifier:
            raise ConfigError(
                f"no {name} version satisfies both [tool.poetry-torch] packages ({requirement})"
                f" and {places}",
                kept="nothing was changed",
                next=f'Run `poetry torch install "{name}"` to drop'
                " the first, or change the declaration.",
            )
        raise ConfigError(
            f"no {name} version satisfies every declaration ({places})",
            kept="nothing was changed",
            next="Fix them in pyproject.toml so that one version fits all.",
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
