"""Data shipped in the package, read once per process.

``facts.json`` holds what the plugin knows about PyTorch builds and NVIDIA drivers.  Reading a
file, even one inside the package, is I/O, so it happens here and not in ``core``: core's
lookups take the parsed :class:`~poetry_torch_plugin.core.facts.Facts` as an argument, which
also lets tests hand them a table of their own.
"""

from __future__ import annotations

import functools
import json

from importlib import resources
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.facts import parse_facts


if TYPE_CHECKING:
    from poetry_torch_plugin.core.facts import Facts


FACTS_FILE = "facts.json"


def facts_text() -> str:
    """The facts file as shipped (``./dev facts`` compares it with a live index)."""
    return resources.files(__name__).joinpath(FACTS_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def load_facts() -> Facts:
    """The shipped facts, parsed once per process."""
    return parse_facts(json.loads(facts_text()))
