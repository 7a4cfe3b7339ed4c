"""One exception hierarchy for everything the plugin refuses or fails to do.

An error carries fields, given where they are known: ``what`` went wrong, what was ``kept``
(left untouched), and what to run ``next``.  ``str(error)`` renders them as one line, here
and nowhere else; a caller that says the failure its own way reads the fields (``what``),
never the rendered text."""

from __future__ import annotations


def render(what: str, *, kept: str | None = None, next: str | None = None) -> str:
    """The one line of an error: ``<what>; <kept>. <next>`` (each part only when given)."""
    line = what if kept is None else f"{what}; {kept}."
    if next is None:
        return line
    return f"{line} {next}" if kept is not None else f"{line}; {next}"


class TorchPluginError(Exception):
    """A failure the user can act on.

    ``str(error)`` is one line that says what went wrong, what was left untouched and
    the next command to run.  Commands print it as-is (behind ``poetry-torch:``), without a
    traceback.  ``TorchPluginError("a finished sentence")`` is one whose ``what`` is the
    whole line."""

    def __init__(self, what: str, *, kept: str | None = None, next: str | None = None) -> None:
        self.what = what
        self.kept = kept
        self.next = next
        super().__init__(render(what, kept=kept, next=next))

    def __str__(self) -> str:
        return render(self.what, kept=self.kept, next=self.next)


class VariantError(TorchPluginError):
    """A ``--cuda``/``--rocm`` value, a source name or a URL that names no known variant."""


class ConfigError(TorchPluginError):
    """pyproject.toml cannot be read, or its torch configuration is inconsistent."""


class IndexAccessError(TorchPluginError):
    """The PyTorch index is unreachable, or does not publish what was asked for."""


class NotPublishedError(IndexAccessError):
    """The index has no page for a project (HTTP 404, or no folder in a file:// index);
    ``project`` names it."""

    def __init__(
        self, what: str, *, kept: str | None = None, next: str | None = None, project: str = ""
    ) -> None:
        super().__init__(what, kept=kept, next=next)
        self.project = project


class AccessRefusedError(IndexAccessError):
    """The index answered HTTP 401 or 403 (S3-backed indexes such as download.pytorch.org
    answer 403 for a page that does not exist, too)."""


class InstallError(TorchPluginError):
    """The installer (pip or uv) failed; the earlier build is still in place.

    ``no_wheel``: when the installer found no wheel of a requirement for the interpreter's
    tags, that fact without the tags (``no wheel of torch==2.9.0 on <index>``), for a caller
    that resolved for another machine's tags."""

    def __init__(
        self,
        what: str,
        *,
        kept: str | None = None,
        next: str | None = None,
        no_wheel: str | None = None,
    ) -> None:
        super().__init__(what, kept=kept, next=next)
        self.no_wheel = no_wheel


class TargetEnvError(TorchPluginError):
    """The project environment is missing, read-only, or has no usable installer."""


class PoetrySeamError(TorchPluginError):
    """Poetry's internals changed in a way this plugin does not know how to wrap."""
