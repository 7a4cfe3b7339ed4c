"""Keep PyTorch CUDA, ROCm and CPU builds out of poetry.lock and out of Poetry's installer."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata on first use (PEP 562).

    The version is written once, in pyproject.toml; a second copy here would drift. Lazy, so
    the hook's hot path never pays for the metadata lookup.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        found = version("poetry-torch-plugin")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
