"""Which companions a build gets when no packages were named: what PyTorch's own install
command for that release installs, decided from what the indexes publish.

torchaudio is in maintenance: 2.11 serves every newer torch and declares no torch requirement,
and PyTorch's newer indexes (cu132) list only a legacy torchaudio pinned to an old torch.  With
the default family, torchaudio comes from the variant's index when a build there pairs with the
torch that will be installed (its Requires-Dist, read from PEP 658 metadata or else the wheel);
else from the project's PyPI, whose stable-ABI wheel pairs with it (the one exception to "the
family comes only from the configured index", said in one line); else it is not part of this
build.  Never a torchaudio pinned to another torch.  Named packages are never changed here."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import OPTIONAL
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import release_requires


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import IndexPages
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.index.pages import WheelTarget


# Older releases of a companion read before giving up on the variant's index (each is a few kB
# of metadata, or a wheel where the index offers none).
_TRIED = 3


@record
class Family:
    """What the resolver is asked for, and where each companion comes from."""

    requirements: tuple[str, ...]  # for the installer: a PyPI companion as ``name @ URL``
    left_out: tuple[str, ...] = ()  # default-family packages not part of this build
    # name -> (the index it comes from instead of the variant's, its page there)
    elsewhere: dict[str, tuple[str, Listing]] = field(default_factory=dict)
    line: str | None = None  # said once, before resolving

    @property
    def names(self) -> tuple[str, ...]:
        """The names of what is resolved."""
        return tuple(
            canonicalize_name(
                text.split("@", 1)[0].strip() if " @ " in text else Requirement(text).name
            )
            for text in self.requirements
        )


def same(settings: TorchConfig) -> Family:
    return Family(tuple(settings.packages))


def decide(
    settings: TorchConfig,
    pages: IndexPages,
    index_url: str,
    target: WheelTarget | None,
    access: IndexAccess | None,
    note: Callable[[str], None] | None = None,
) -> Family:
    """The family to resolve from ``index_url`` for ``target``.  Named packages, an index
    whose pages cannot be read, or one without torch: ``settings.packages`` unchanged (the
    install says what is wrong with the index).  ``note`` hears one line for each PEP 658
    metadata file that did not match its sha256 (the wheel was read instead)."""
    if not settings.default_family:
        return same(settings)
    wanted: dict[str, str] = {canonicalize_name(Requirement(p).name): p for p in settings.packages}
    optional = [name for name in wanted if name in OPTIONAL]
    if not optional:
        return same(settings)
    try:
        torch_page = pages.page(index_url, "torch")
        if torch_page is None:
            return same(settings)
        torch = newest(torch_page, Requirement(wanted["torch"]).specifier, target)
        if torch is None:
            return same(settings)
        requirements = dict(wanted)
        left: list[str] = []
        elsewhere: dict[str, tuple[str, Listing]] = {}
        lines: list[str] = []
        for name in optional:
            specifier = Requirement(wanted[name]).specifier
            page = pages.page(index_url, name)
            why = _pairs(page, specifier, torch, target, access, note) if page is not None else None
            if why == "":
                continue  # the index has a build that pairs with this torch
            shown = redact(index_url.rstrip("/"))
            here = (
                f"{shown} publishes no {name}"
                if why is None
                else f"{shown} has no {name} for torch {torch} ({why})"
            )
            found = _from_pypi(settings.pypi, name, specifier, torch, target, note)
            del requirements[name]
            if found is None:
                left.append(name)
                lines.append(
                    f"{name} is not part of this build: {here}, and"
                    f" {redact(settings.pypi)} has none that pairs with it either"
                )
                continue
            version, url, listing = found
            requirements[name] = f"{name} @ {url}"
            elsewhere[name] = (settings.pypi, listing)
            lines.append(
                f"{name} {version} comes from {redact(settings.pypi)} (its stable-ABI wheel,"
                f" which pairs with torch {torch}): {here}"
            )
    except IndexAccessError:
        return same(settings)
    return Family(tuple(requirements.values()), tuple(left), elsewhere, "; ".join(lines) or None)


def newest(listing: Listing, specifier: SpecifierSet, target: WheelTarget | None) -> Version | None:
    """The newest version on the page that ``specifier`` admits with a wheel for ``target``."""
    for version in reversed(listing.versions(target)):
        if not specifier or specifier.contains(version, prereleases=True):
            return version
    return None


def torch_requirement(requires: Sequence[str]) -> Requirement | None:
    """The ``Requires-Dist: torch…`` line (not one behind an extra), if any."""
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "torch":
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        return requirement
    return None


def _pairs(
    page: Listing,
    specifier: SpecifierSet,
    torch: Version,
    target: WheelTarget | None,
    access: IndexAccess | None,
    note: Callable[[str], None] | None = None,
) -> str | None:
    """ "" when a release on ``page`` pairs with ``torch`` (no torch requirement, or one that
    admits it); else a few words on the newest one (``2.2.0 requires torch==2.2.0``); None when
    the page has no release for the target."""
    candidates = [
        v
        for v in reversed(page.versions(target))
        if not specifier or specifier.contains(v, prereleases=True)
    ]
    if not candidates:
        return None
    first = ""
    for version in candidates[:_TRIED]:
        if version.release == torch.release:
            # released with this torch (PyTorch's lockstep companion, torch==<the same
            # release>): no metadata to read, and on an index without PEP 658 no wheel fetched
            return ""
        requires = release_requires(page, version, target, access=access, note=note)
        if requires is None:
            return ""  # unreadable metadata: leave it to the installer, as before
        pin = torch_requirement(requires)
        if pin is None or pin.specifier.contains(torch, prereleases=True):
            return ""
        first = first or f"{version} requires torch{pin.specifier}"
    return first


def _from_pypi(
    pypi: str,
    name: str,
    specifier: SpecifierSet,
    torch: Version,
    target: WheelTarget | None,
    note: Callable[[str], None] | None = None,
) -> tuple[Version, str, Listing] | None:
    """(version, the file's URL with its ``#sha256=``, the page) of the newest release of
    ``name`` on ``pypi`` with a wheel for ``target`` that pairs with ``torch``; None when
    there is none or the page cannot be read."""
    from packaging.utils import parse_wheel_filename

    try:
        listing = fetch_listing(pypi, name)
    except IndexAccessError:
        return None
    for version in list(reversed(listing.versions(target)))[:_TRIED]:
        if specifier and not specifier.contains(version, prereleases=True):
            continue
        requires = release_requires(listing, version, target, note=note)
        if requires is None:
            continue
        pin = torch_requirement(requires)
        if pin is not None and not pin.specifier.contains(torch, prereleases=True):
            continue
        digests = dict(listing.files)
        for filename, link in listing.links:
            if not filename.endswith(".whl") or not digests.get(filename):
                continue
            _, found, _, tags = parse_wheel_filename(filename)
            if found == version and (
                target is None or any(str(tag) in target.tags for tag in tags)
            ):
                return version, f"{link}#sha256={digests[filename]}", listing
    return None
