"""What the configured index really publishes for one variant: a wheel of every configured
package for the target's Python and platform (issue 13 item 2).

The pages are read once per command run (``IndexPages`` keeps them), so ``--cuda auto``
trying several candidates and the check before the download share every read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename
from packaging.utils import canonicalize_name
from packaging.utils import parse_wheel_filename

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import AccessRefusedError
from poetry_torch_plugin.errors import NotPublishedError
from poetry_torch_plugin.index.listing import fetch_listing


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Mapping

    from packaging.specifiers import SpecifierSet

    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.listing import Listing


@dataclass(frozen=True)
class WheelTarget:
    """The interpreter the packages are for: its wheel tags, most specific first, and a short
    name for messages (``cp312 linux_x86_64``)."""

    short: str
    tags: frozenset[str]

    @classmethod
    def here(cls) -> WheelTarget:
        """The interpreter this process runs on (when the project has no environment yet)."""
        import sys
        import sysconfig

        from packaging.tags import interpreter_name
        from packaging.tags import sys_tags

        short = f"{interpreter_name()}{sys.version_info[0]}{sys.version_info[1]}"
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        return cls(f"{short} {platform}", frozenset(str(tag) for tag in sys_tags()))


def wanted_packages(requirements: Iterable[str]) -> dict[str, SpecifierSet]:
    """``{name: specifier}`` of the requirements that parse; a later one for the same name
    wins (a pin on the command line over the configured one)."""
    wanted: dict[str, SpecifierSet] = {}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        wanted[canonicalize_name(requirement.name)] = requirement.specifier
    return wanted


def has_wheel(listing: Listing, specifier: SpecifierSet, target: WheelTarget | None) -> bool:
    """Whether the page links a wheel whose version the specifier admits (pre-releases too:
    the test and nightly channels publish nothing else) and one of whose tags the target
    supports; with no target known, any wheel of an admitted version."""
    for filename, _ in listing.files:
        try:
            _, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if specifier and not specifier.contains(version, prereleases=True):
            continue
        if target is None or any(str(tag) in target.tags for tag in tags):
            return True
    return False


class IndexPages:
    """The pages of one command run, keyed by index URL and project; ``access`` gives the
    login and certificates for an index URL."""

    def __init__(self, access: Callable[[str], IndexAccess]) -> None:
        self._access = access
        self._pages: dict[tuple[str, str], Listing | None] = {}
        self._errors: dict[tuple[str, str], NotPublishedError] = {}

    def page(self, index_url: str, project: str) -> Listing | None:
        """The project's page; None when the index has none (HTTP 404).  Any other failure
        raises IndexAccessError (unreachable, refused, not an index)."""
        key = (index_url.rstrip("/"), canonicalize_name(project))
        if key not in self._pages:
            access = self._access(key[0])
            try:
                self._pages[key] = fetch_listing(access.url, project, access=access)
            except NotPublishedError as exc:
                self._pages[key] = None
                self._errors[key] = exc
            except AccessRefusedError:
                # An index that served a sibling page with the same login and now refuses
                # this one is S3 saying "no such key" (download.pytorch.org answers 403 so).
                if not any(url == key[0] and page for (url, _), page in self._pages.items()):
                    raise
                self._pages[key] = None
        return self._pages[key]

    def not_published(self, index_url: str, project: str) -> NotPublishedError | None:
        """The index's own one-line answer for a page it does not have (HTTP 404, or no
        folder), once ``page`` has found it missing."""
        return self._errors.get((index_url.rstrip("/"), canonicalize_name(project)))

    @property
    def read(self) -> int:
        """How many pages were read (or found missing) so far."""
        return len(self._pages)

    def missing(
        self,
        index_url: str,
        wanted: Mapping[str, SpecifierSet],
        target: WheelTarget | None,
    ) -> str | None:
        """Why ``index_url`` cannot serve every wanted package, in a few words
        (``torchaudio is not published on <index>``, ``torch==2.9.0 has no wheel for cp312
        linux_x86_64``); None when it can.  Pages are read in order and stop at the first
        that fails; IndexAccessError when one cannot be read."""
        for name, specifier in wanted.items():
            listing = self.page(index_url, name)
            if listing is None:
                return f"{name} is not published on {redact(index_url.rstrip('/'))}"
            if specifier and not has_wheel(listing, specifier, None):
                versions = ", ".join(str(v) for v in listing.versions()[-4:])
                return (
                    f"{name}{specifier} matches no version on {redact(index_url.rstrip('/'))}"
                    f" (newest: {versions or 'none'})"
                )
            if not has_wheel(listing, specifier, target):
                where = target.short if target is not None else "any platform"
                return f"{name}{specifier} has no wheel for {where}"
        return None
