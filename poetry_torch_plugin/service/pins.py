"""The hook's reinstall without a lock: resolve the configured packages on the index, check
that it serves the configured variant's builds, pin them, install them in one transaction."""

from __future__ import annotations

import tempfile

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.service.settings import request_for


if TYPE_CHECKING:
    from collections.abc import Sequence

    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.installer.backend import Backend


_HOOK_KEPT = "the installed build was left as it was"


def install_pins(
    backend: Backend,
    target: TargetEnv,
    access: IndexAccess,
    settings_requirements: Sequence[str],
    names: Sequence[str],
    *,
    quiet: bool,
    verbose: bool,
    variant: Variant | None = None,
) -> tuple[str, ...]:
    """Install ``settings_requirements`` from the index in one transaction; with ``variant``,
    only after checking that the index resolved that variant's builds.

    When part of the family is already installed, pip would keep a build that merely satisfies
    the version range (a +cu129 torch satisfies ``torch==2.8.0`` for a cu128 install), so the
    exact versions are resolved from the index first and pinned.
    """
    from poetry_torch_plugin.index.pages import fetch_listing
    from poetry_torch_plugin.installer.backend import pins_of
    from poetry_torch_plugin.installer.backend import refuse_foreign_builds
    from poetry_torch_plugin.installer.download_once import download_report
    from poetry_torch_plugin.installer.select import wheelhouse_reason

    request = request_for(access, settings_requirements, quiet=quiet, verbose=verbose)
    try:
        probe = fetch_listing(access.url, "torch", access=access)
    except IndexAccessError:
        probe = None  # the installer says what is wrong with the index
    if wheelhouse_reason(probe, backend, target) is not None:
        # no PEP 658 metadata, or a pip whose dry run downloads every wheel: download the
        # closure once, then install it with no index
        with tempfile.TemporaryDirectory(prefix="poetry-torch-wheels-") as tmp:
            report = download_report(target, request, Path(tmp))
            if report is not None:
                pins = pins_of(report)
                if variant is not None:
                    refuse_foreign_builds(pins, variant, access.url, kept=_HOOK_KEPT)
                pinned = tuple(f"{name}=={pins[name]}" for name in names if name in pins)
                request = replace(
                    request_for(access, pinned, quiet=quiet, verbose=verbose), find_links=tmp
                )
                backend.install(target, request)
                return request.requirements
    installed = installed_distributions(target.site_packages)
    if any(name in installed for name in names) or variant is not None:
        pins = pins_of(backend.report(target, request))
        if variant is not None:
            refuse_foreign_builds(pins, variant, access.url, kept=_HOOK_KEPT)
        pinned = tuple(f"{name}=={pins[name]}" for name in names if name in pins)
        request = request_for(access, pinned, quiet=quiet, verbose=verbose)
    backend.install(target, request)
    return request.requirements
