"""Whether what the installer resolved is the variant it was asked for, checked before anything
is uninstalled: an index (or a mirror) that serves ``+cu128`` files under ``…/whl/cu129`` would
otherwise replace a working build with the wrong one (issue 12, item 17)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.variants import from_local_label
from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from collections.abc import Mapping

    from poetry_torch_plugin.core.variants import Variant

# The packages whose builds differ per variant and carry the variant as their local label.
VARIANT_BUILDS = ("torch", "torchvision", "torchaudio")


def foreign_builds(versions: Mapping[str, str], variant: Variant) -> list[str]:
    """``torch 2.8.0+cu128`` for each variant build in ``versions`` ({name: version}) whose local
    label names another variant.  An unlabelled version (macOS, PyPI) cannot be told apart."""
    found = []
    for name, version in versions.items():
        if canonicalize_name(name) not in VARIANT_BUILDS:
            continue
        labelled = from_local_label(version)
        if labelled is not None and labelled != variant:
            found.append(f"{canonicalize_name(name)} {version}")
    return found


def refuse_foreign_builds(
    versions: Mapping[str, str], variant: Variant, index_url: str, *, kept: str
) -> None:
    """One line, before anything is installed, when the resolution holds another variant's
    builds; ``kept`` says what was left as it was (``pyproject.toml and the earlier build
    were left as they were``)."""
    foreign = foreign_builds(versions, variant)
    if not foreign:
        return
    first = from_local_label(foreign[0].rsplit(" ", 1)[-1])
    raise InstallError(
        f"{redact(index_url)} serves {', '.join(foreign)}"
        f" ({'a ' + str(first) + ' build' if len(foreign) == 1 else str(first) + ' builds'})"
        f" where {variant} was asked for; nothing was uninstalled or installed, and {kept}. Point the source"
        f" at an index that serves {variant} builds (…/whl/{variant}), then run the command"
        " again."
    )
