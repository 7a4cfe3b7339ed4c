"""The environment every real poetry/pip/uv run in tests, benches and the demo gets.

Nothing of the developer's Poetry, pip or uv configuration, caches or active venv leaks in:
their variables are dropped and every config/cache directory points under ``home``.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

ISOLATED_PREFIXES = ("POETRY_", "PIP_", "UV_", "XDG_", "VIRTUAL_ENV", "CONDA_")
_DIRECTORIES = (
    ("POETRY_CONFIG_DIR", "poetry-config"),
    ("POETRY_CACHE_DIR", "poetry-cache"),
    ("POETRY_DATA_DIR", "poetry-data"),
    ("XDG_CONFIG_HOME", "xdg-config"),
    ("XDG_CACHE_HOME", "xdg-cache"),
    ("XDG_DATA_HOME", "xdg-data"),
    ("UV_CACHE_DIR", "uv-cache"),
    ("PIP_CACHE_DIR", "pip-cache"),
)


def isolated_settings(home: Path) -> dict[str, str]:
    """The variables to set (directories under ``home`` are created)."""
    settings: dict[str, str] = {}
    for name, sub in _DIRECTORIES:
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        settings[name] = str(path)
    settings.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_NO_INTERACTION="1",
        POETRY_KEYRING_ENABLED="false",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return settings


def isolated_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) without the isolated prefixes, plus isolated_settings."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(ISOLATED_PREFIXES)}
    env.update(isolated_settings(home))
    return env
