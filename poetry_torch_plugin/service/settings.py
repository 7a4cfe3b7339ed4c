"""The configured source and variant, the variant this machine chooses (``with_choice``), how to
reach the index, and the hook's skip switch.

``with_choice`` runs before every hooked Poetry command, so the imports of what only some
rules need (detection, the fit rules, the facts) stay inside the functions that need them:
at module top they would load machine/*, ctypes, core.fit and core.facts into every
``poetry lock`` or ``poetry show``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Protocol

from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.installer.backend import Request


SKIP_ENV = "POETRY_TORCH_SKIP"


class Reporter(Protocol):
    """Where the service's few lines of output go (the command's IO, in practice)."""

    def line(self, text: str) -> None: ...

    def detail(self, text: str) -> None: ...


def _no_source_error() -> ConfigError:
    return ConfigError(
        "pyproject.toml has no pytorch source (one named pytorch_cuda_cuXYZ, pytorch_cpu or"
        " pytorch_rocmX_Y; other sources are yours)",
        kept="nothing was changed",
        next="Run `poetry torch install --cuda X.Y` (or --cpu, --rocm X.Y, --cuda auto) to add"
        " one.",
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
        committed_base=settings.index_base,
    )


def request_for(
    access: IndexAccess, requirements: Sequence[str], *, quiet: bool = False, verbose: bool = False
) -> Request:
    from poetry_torch_plugin.installer.backend import Request

    return Request.for_access(access, requirements, quiet=quiet, verbose=verbose)


def existing_source(settings: TorchConfig) -> tuple[Source, Variant]:
    """The one pytorch source and its variant; ConfigError when there is none or several."""
    source = settings.source()
    if source is None:
        raise _no_source_error()
    variant = source.variant
    if variant is None:
        from poetry_torch_plugin.core.urls import redact

        raise ConfigError(
            f"the source {source.name} ({redact(source.url)}) names no PyTorch variant",
            kept="nothing was changed",
            next="Run `poetry torch install --cuda X.Y` to replace it.",
        )
    return source, variant


def configured_variant(settings: TorchConfig) -> tuple[Source, Variant]:
    """The configured source and variant, for the hook: the source must also be explicit."""
    source, variant = existing_source(settings)
    if source.priority != "explicit":
        raise ConfigError(
            f"the source {source.name} has priority {source.priority or 'primary'!r}, so Poetry"
            " would take other packages from the PyTorch index",
            kept="nothing was reinstalled",
            next="Run `poetry torch install` to make it explicit.",
        )
    return source, variant


def skip_requested() -> bool:
    """Whether ``POETRY_TORCH_SKIP`` turns the hook off; ConfigError when it is no boolean."""
    from poetry_torch_plugin.core.config import env_flag

    return env_flag(SKIP_ENV, untouched="torch was not checked")


def with_choice(
    settings: TorchConfig, pyproject: Path, target: TargetEnv | None = None
) -> TorchConfig:
    """``settings`` with the variant this machine installs decided (``core.targets``: env >
    poetry.toml > pyproject's targets > pyproject > auto) and ``sources`` holding the one source to install from.

    pyproject.toml is not read again nor changed: a machine-local choice only changes what the
    plugin installs and what Poetry's solver sees for the held family.  When the chosen
    variant is the configured source's, that source is used as written (its URL, its name and
    so its login).  Otherwise the URL is derived for the chosen variant: next to the
    configured source when its URL ends in its variant (``https://mirror/whl/cu129`` ->
    ``https://mirror/whl/cpu``, same login), else from ``index-base``: the URL the project
    names, which ``POETRY_TORCH_INDEX_BASE`` only redirects when fetching.  Several plugin
    sources: ConfigError, as before."""
    import os

    from poetry_torch_plugin.core.targets import VARIANT_ENV
    from poetry_torch_plugin.core.targets import choose_variant
    from poetry_torch_plugin.core.targets import parse_variant
    from poetry_torch_plugin.project.files import local_variant

    configured = settings.source()
    machine = _detected_once()  # the target rule and auto may both ask: detect once
    matched = matching_target(settings, machine)
    choice = choose_variant(
        env=parse_variant(
            os.environ.get(VARIANT_ENV),
            where=VARIANT_ENV,
            fix=f"Set {VARIANT_ENV} (or unset it)",
        ),
        local=local_variant(pyproject.parent),
        pyproject=settings.variant,
        source=configured.variant if configured is not None else None,
        source_name=configured.name if configured is not None else None,
        auto=lambda: _auto(settings, pyproject, target, machine),
        target=matched,
        target_where=_target_where(settings, matched),
    )
    if choice is None:
        return settings  # nothing names a variant: the callers' "no pytorch source" errors
    source = source_for(settings, configured, choice.variant)
    return replace(settings, sources=(source,), choice=choice)


def source_for(settings: TorchConfig, configured: Source | None, variant: Variant) -> Source:
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import from_url

    if configured is not None and configured.variant == variant:
        return configured
    # several plugin sources (Poetry's multiple-constraints form): the declared one of this
    # variant, as written (its URL, its name and so its login)
    declared = next((source for source in settings.sources if source.variant == variant), None)
    if declared is not None:
        return declared
    if configured is not None:
        old = from_url(configured.url)
        path = configured.url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
        if old is not None and path.endswith("/" + old.index_name):
            base = path[: -len(old.index_name)]
            return Source(configured.name, base + variant.index_name, "explicit")
    from poetry_torch_plugin.core.config import effective_index_base

    base = effective_index_base(settings)
    return Source(variant.source_name, f"{base}/{variant.index_name}", "explicit")


def _target_where(settings: TorchConfig, matched: tuple[str, str] | None) -> str:
    """Where the matching target was written: ``[tool.poetry-torch.targets]``, or the
    multiple-constraints entry it was read from (``[tool.poetry.dependencies] torch entry 1``)."""
    form = settings.poetry_form
    if matched is not None and form is not None and matched in form.targets:
        return dict(form.details)[matched[0]] + ", read as"
    return "[tool.poetry-torch.targets]"


def _detected_once() -> Callable[[], Machine]:
    """``detect_machine``, run at most once however often the returned callable is asked."""
    found: list[Machine] = []

    def machine() -> Machine:
        if not found:
            from poetry_torch_plugin.machine.detect import detect_machine

            found.append(detect_machine())
        return found[0]

    return machine


def matching_target(
    settings: TorchConfig, machine: Callable[[], Machine] | None = None
) -> tuple[str, str] | None:
    """The ``[tool.poetry-torch.targets]`` entry for this machine; GPUs are detected only
    when a ``no-gpu`` entry could decide."""
    if not settings.targets:
        return None
    import platform
    import sys

    from poetry_torch_plugin.core.targets import match_target

    detect = machine or _detected_once()
    return match_target(
        settings.targets, sys.platform, platform.machine(), lambda: detect().has_gpu
    )


def _auto(
    settings: TorchConfig,
    pyproject: Path,
    target: TargetEnv | None,
    machine: Callable[[], Machine],
) -> tuple[Variant, str]:
    """``auto`` by the same rule as ``--cuda auto`` (``service.choose.judge_build``): the
    builds a fresh poetry-torch.lock pins, else what the index publishes that the project
    admits, else the facts when the index cannot be read; an installed torch keeps its release
    only in that last case."""
    from poetry_torch_plugin.core.variants import channel_base
    from poetry_torch_plugin.env.installed import installed_distributions
    from poetry_torch_plugin.service.choose import LiveIndex
    from poetry_torch_plugin.service.choose import index_base_for
    from poetry_torch_plugin.service.choose import judge_build
    from poetry_torch_plugin.service.choose import locked_here
    from poetry_torch_plugin.service.choose import pages_for
    from poetry_torch_plugin.service.choose import wheel_target

    dist = installed_distributions(target.site_packages).get("torch") if target else None
    wanted = settings.packages if settings.has_tool_table else ()
    base = channel_base(index_base_for(settings, None), "stable")
    live = LiveIndex(pages_for(settings), base, settings.packages, wheel_target(target))
    verdict = judge_build(
        machine(),
        (),
        wanted,
        dist.version if dist else None,
        live=live,
        locked=locked_here(pyproject, target),
    )
    reason = verdict.reason if verdict.note is None else f"{verdict.reason}; {verdict.note}"
    return verdict.variant, reason
