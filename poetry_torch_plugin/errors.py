"""One exception hierarchy for everything the plugin refuses or fails to do."""

from __future__ import annotations


class TorchPluginError(Exception):
    """A failure the user can act on.

    ``str(error)`` is one line that says what went wrong, what was left untouched and
    the next command to run.  Commands print it as-is, without a traceback.
    """


class VariantError(TorchPluginError):
    """A ``--cuda``/``--rocm`` value, a source name or a URL that names no known variant."""


class ConfigError(TorchPluginError):
    """pyproject.toml cannot be read, or its torch configuration is inconsistent."""


class IndexAccessError(TorchPluginError):
    """The PyTorch index is unreachable, or does not publish what was asked for."""


class NotPublishedError(IndexAccessError):
    """The index has no page for a project (HTTP 404, or no folder in a file:// index)."""


class AccessRefusedError(IndexAccessError):
    """The index answered HTTP 401 or 403 (S3-backed indexes such as download.pytorch.org
    answer 403 for a page that does not exist, too)."""


class InstallError(TorchPluginError):
    """The installer (pip or uv) failed; the earlier build is still in place."""


class TargetEnvError(TorchPluginError):
    """The project environment is missing, read-only, or has no usable installer."""


class PoetrySeamError(TorchPluginError):
    """Poetry's internals changed in a way this plugin does not know how to wrap."""
