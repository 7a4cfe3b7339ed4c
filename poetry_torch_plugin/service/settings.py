"""The configured source and variant, how to reach its index, and the hook's skip switch."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Protocol

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Sequence

    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.install.base import Request


SKIP_ENV = "POETRY_TORCH_SKIP"


class Reporter(Protocol):
    """Where the service's few lines of output go (the command's IO, in practice)."""

    def line(self, text: str) -> None: ...

    def detail(self, text: str) -> None: ...


class EnvFinder(Protocol):
    """The project environment as Poetry would use it, created when missing if asked (the
    command's, in practice: it holds Poetry's project object)."""

    def __call__(self, *, create: bool) -> TargetEnv: ...


def _no_source_error() -> ConfigError:
    return ConfigError(
        "pyproject.toml has no pytorch source (one named pytorch_cuda_cuXYZ, pytorch_cpu or"
        " pytorch_rocmX_Y; other sources are yours); nothing was changed."
        " Run `poetry torch install --cuda X.Y` (or --cpu, --rocm X.Y, --cuda auto) to add one."
    )


def access_for(settings: TorchConfig, source: Source) -> IndexAccess:
    """How to reach the source's index (login, certificates); refuses remote plain http."""
    from poetry_torch_plugin.core.config import effective_index_base
    from poetry_torch_plugin.index.access import resolve_access

    return resolve_access(
        source.name,
        source.url,
        allow_http=settings.allow_http,
        index_base=effective_index_base(settings),
    )


def request_for(
    access: IndexAccess, requirements: Sequence[str], *, quiet: bool = False, verbose: bool = False
) -> Request:
    from poetry_torch_plugin.install.base import Request

    return Request.for_access(access, requirements, quiet=quiet, verbose=verbose)


def _existing_source(settings: TorchConfig) -> tuple[Source, Variant]:
    """The one pytorch source and its variant; ConfigError when there is none or several."""
    source = settings.source()
    if source is None:
        raise _no_source_error()
    variant = source.variant
    if variant is None:
        from poetry_torch_plugin.core.urls import redact

        raise ConfigError(
            f"the source {source.name} ({redact(source.url)}) names no PyTorch variant;"
            " nothing was changed. Run `poetry torch install --cuda X.Y` to replace it."
        )
    return source, variant


def configured_variant(settings: TorchConfig) -> tuple[Source, Variant]:
    """The configured source and variant, for the hook: the source must also be explicit."""
    source, variant = _existing_source(settings)
    if source.priority != "explicit":
        raise ConfigError(
            f"the source {source.name} has priority {source.priority or 'primary'!r}, so Poetry"
            " would take other packages from the PyTorch index; nothing was reinstalled."
            " Run `poetry torch install` to make it explicit."
        )
    return source, variant


def skip_requested() -> bool:
    """Whether ``POETRY_TORCH_SKIP`` turns the hook off; ConfigError when it is no boolean."""
    from poetry_torch_plugin.core.config import env_flag

    return env_flag(SKIP_ENV, untouched="torch was not checked")
