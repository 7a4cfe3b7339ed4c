"""TOML reading for tests that also run on Python 3.9/3.10 (no tomllib there)."""

from __future__ import annotations

from typing import Any

import tomlkit


def loads(text: str) -> dict[str, Any]:
    return tomlkit.parse(text).unwrap()
