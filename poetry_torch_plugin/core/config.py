"""The torch configuration as read from pyproject data: sources, packages, settings.

Pure: callers hand in parsed TOML; reading and writing the file lives in ``project``."""

from __future__ import annotations

import os
import re

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.variants import from_source_name
from poetry_torch_plugin.core.variants import from_url
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Mapping

    from poetry_torch_plugin.core.choice import VariantChoice
    from poetry_torch_plugin.core.poetry_form import PoetryForm
    from poetry_torch_plugin.core.variants import Variant


TOOL_TABLE = "poetry-torch"
DEFAULT_PACKAGES = ("torch", "torchvision", "torchaudio")
DEFAULT_INDEX_BASE = "https://download.pytorch.org/whl"
INDEX_BASE_ENV = "POETRY_TORCH_INDEX_BASE"
INSTALLERS = ("auto", "pip", "uv")
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
_RUNTIME_PATTERN = re.compile(
    r"^(?:nvidia-(?!ml-py$).+|cuda-toolkit|cuda-bindings|cuda-pathfinder|triton|pytorch-triton.*)$"
)


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    priority: str

    @property
    def variant(self) -> Variant | None:
        return from_url(self.url) or from_source_name(self.name)


@dataclass(frozen=True)
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

    @property
    def active(self) -> bool:
        """Whether this project asks the plugin to manage torch at all."""
        return bool(self.sources) or self.has_tool_table

    @property
    def package_names(self) -> tuple[str, ...]:
        return tuple(canonicalize_name(req.name) for req in self.requirements)

    def source(self) -> Source | None:
        """The one source in the plugin's convention, or with Poetry's multiple-constraints form
        the committed one (``sources[0]``) when its entries name every other; else ConfigError
        when there are several."""
        named = self.poetry_form.referenced if self.poetry_form else frozenset()
        if len(self.sources) > 1 and not {s.name for s in self.sources[1:]} <= named:
            names = ", ".join(source.name for source in self.sources)
            raise ConfigError(
                f"pyproject.toml has {len(self.sources)} pytorch sources ({names}) and nothing to"
                " choose between them; nothing was changed. Run `poetry torch install --cuda X.Y`"
                " (or --cpu / --rocm X.Y) to keep exactly one."
            )
        return self.sources[0] if self.sources else None

    def held(self, name: str) -> bool:
        """Whether Poetry must keep ``name`` out of its lock file and installer."""
        canonical = canonicalize_name(name)
        return canonical in self.package_names or bool(_RUNTIME_PATTERN.match(canonical))


def is_runtime_package(name: str) -> bool:
    """Whether ``name`` looks like part of a torch build's runtime (nvidia-*, triton, ...)."""
    return bool(_RUNTIME_PATTERN.match(canonicalize_name(name)))


def is_torch_family(name: str) -> bool:
    canonical = canonicalize_name(name)
    return canonical in CONFIGURABLE or bool(_RUNTIME_PATTERN.match(canonical))


def parse_requirements(
    values: Iterable[str], *, where: str, require_torch: bool = True
) -> tuple[Requirement, ...]:
    parsed: dict[str, Requirement] = {}
    for value in values:
        try:
            requirement = Requirement(value)
        except InvalidRequirement as exc:
            raise ConfigError(
                f"{where}: {value!r} is not a valid requirement ({str(exc).splitlines()[0]});"
                " nothing was changed."
                ' Use PEP 508 syntax such as "torch>=2.7,<2.9" with `poetry torch install`.'
            ) from None
        name = canonicalize_name(requirement.name)
        if name not in CONFIGURABLE:
            raise ConfigError(
                f"{where}: {requirement.name!r} is not a PyTorch-index package (expected one of"
                " torch, torchvision, torchaudio, ...); nothing was changed."
                " Add it with `poetry add` instead."
            )
        if requirement.url:
            raise ConfigError(
                f"{where}: {value!r} is a direct URL; torch-family packages come only from the"
                " configured index, so nothing was changed. Use a version requirement such as"
                ' "torch==2.8.*" with `poetry torch install`.'
            )
        if requirement.marker is not None:
            raise ConfigError(
                f"{where}: {value!r} has an environment marker ({requirement.marker}), which"
                " poetry torch does not support (the source decides which build this machine"
                " gets); nothing was changed. Drop the marker"
                f' ("{requirement.name}{requirement.specifier}"), then run the command again.'
            )
        if name in parsed:
            raise ConfigError(
                f"{where}: {requirement.name} is given twice ({str(parsed[name])!r} and"
                f" {str(requirement)!r}); nothing was changed. Give each package once,"
                " then run the command again."
            )
        parsed[name] = requirement
    if require_torch and parsed and "torch" not in parsed:
        raise ConfigError(
            f"{where}: the list must include torch; nothing was changed."
            ' Example: packages = ["torch", "torchvision"].'
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
    narrow ``packages`` (see ``core.declared``); ``declared=False`` skips that, for a reader
    that only needs the sources and the table as written."""
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
            f"[tool.{TOOL_TABLE}] has unknown key {unknown[0]!r} (known: "
            f"{', '.join(sorted(KNOWN_KEYS))}); nothing was changed. Fix pyproject.toml."
        )
    packages_value = settings.get("packages", list(DEFAULT_PACKAGES))
    if not isinstance(packages_value, list) or not all(isinstance(p, str) for p in packages_value):
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] packages must be a list of requirement strings;"
            " nothing was changed. Fix pyproject.toml."
        )
    if not packages_value:
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] packages is empty, so torch would be neither held out nor"
            ' installed; nothing was changed. List torch in it (packages = ["torch"]) or'
            " remove the key for the default torch, torchvision and torchaudio, then run the"
            " command again."
        )
    requirements = parse_requirements(packages_value, where=f"[tool.{TOOL_TABLE}] packages")
    written_installer = settings.get("installer", "pip")
    installer = str(written_installer)
    if not isinstance(written_installer, str) or installer not in INSTALLERS:
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] installer = {_toml_value(written_installer)} is not one of"
            f" {', '.join(INSTALLERS)}; nothing was changed. Fix pyproject.toml."
        )
    allow_http = settings.get("allow-http", False)
    if not isinstance(allow_http, bool):
        raise ConfigError(
            f"[tool.{TOOL_TABLE}] allow-http = {allow_http!r} is not a boolean;"
            " nothing was changed. Write allow-http = true or false in pyproject.toml."
        )
    from poetry_torch_plugin.core.choice import parse_variant
    from poetry_torch_plugin.core.targets import read_targets

    variant = parse_variant(
        settings.get("variant"),
        where=f"[tool.{TOOL_TABLE}] variant",
        fix="Fix pyproject.toml",
    )
    written = tuple(str(p).strip() for p in packages_value)
    packages = written
    if declared and (sources or has_tool_table):
        from poetry_torch_plugin.core.declared import with_declarations

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
    )


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
        f"{name}={value!r} is not a boolean (expected true/false, 1/0 or yes/no); {untouched}."
        f" Set {name} to 1 or 0 (or unset it), then run the command again."
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
    """``--index-base`` beats ``POETRY_TORCH_INDEX_BASE`` beats ``[tool.poetry-torch] index-base``."""
    base = override or os.environ.get(INDEX_BASE_ENV) or config.index_base
    return base.rstrip("/")


def parse_toml(text: str) -> dict[str, Any]:
    """Plain data from TOML text, for reading only: ``tomllib`` (~10x faster than tomlkit,
    which keeps formatting for edits), tomlkit before Python 3.11.  ValueError when invalid."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    import tomlkit

    return tomlkit.parse(text).unwrap()
