"""Which variant this machine installs, and which rule chose it.

Pure: the caller hands in what each rule sees (the environment variable, the uncommitted
poetry.toml, pyproject.toml) and a callable that runs the hardware rules of ``--cuda auto``.
Precedence, first that says something wins:

1. ``POETRY_TORCH_VARIANT`` (this shell, this command),
2. ``[poetry-torch] variant`` in the project's ``poetry.toml`` (this checkout; not committed),
3. pyproject.toml's ``[tool.poetry-torch.targets]`` entry for this kind of machine
   (``core.targets``: ``linux-x86_64 = "cu129"``, ``macos = "cpu"``, ``no-gpu = "cpu"``),
4. pyproject.toml: ``[tool.poetry-torch] variant``, else the plugin's source's variant,
5. ``auto``: this machine's driver and GPUs, where a rule above says ``"auto"``.

3 and 4 are committed; 1, 2 and 5 are machine-local and recorded nowhere in committed files.
A target's variant other than the source's is installed like a machine-local choice: from a
source derived for it, without writing pyproject.toml or poetry-torch.lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Callable

    from poetry_torch_plugin.core.variants import Variant


VARIANT_ENV = "POETRY_TORCH_VARIANT"
LOCAL_FILE = "poetry.toml"
LOCAL_TABLE = "poetry-torch"
AUTO = "auto"

ENV, LOCAL, TARGET, PYPROJECT = "env", "local config", "target", "pyproject"
RULES = (ENV, LOCAL, TARGET, PYPROJECT, AUTO)


@dataclass(frozen=True)
class VariantChoice:
    """The variant this machine installs; ``rule`` is one of RULES; ``detail`` says where the
    rule read it (``POETRY_TORCH_VARIANT=cpu``, ``poetry.toml``, the source's name, or what
    the hardware rules found)."""

    variant: Variant
    rule: str
    detail: str
    committed: Variant | None = None  # what pyproject.toml alone says (None: auto or nothing)

    @property
    def machine_local(self) -> bool:
        """The variant differs from what pyproject.toml commits to: the plugin installs it
        without writing pyproject.toml or poetry-torch.lock."""
        return self.variant != self.committed

    def line(self) -> str:
        """``cpu, chosen by env (POETRY_TORCH_VARIANT=cpu)``."""
        return f"{self.variant}, chosen by {self.rule} ({self.detail})"


def parse_variant(value: object, *, where: str, fix: str) -> str | None:
    """A variant setting as written: ``"auto"`` or an index name (``cu129``, ``cpu``,
    ``rocm6.4``), lower-cased; None when unset or empty; ConfigError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f"{where} = {value!r} is not a string; nothing was changed. {fix}"
            ' (a variant such as "cu129", "cpu", "rocm6.4", or "auto").'
        )
    text = value.strip().lower()
    if not text:
        return None
    if text != AUTO and from_index_name(text) is None:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ConfigError(
            f"{where} = {shown!r} is not a PyTorch variant; nothing was changed. {fix}"
            ' (a variant such as "cu129", "cpu", "rocm6.4", or "auto").'
        )
    return text


def choose_variant(
    *,
    env: str | None,
    local: str | None,
    pyproject: str | None,
    source: Variant | None,
    source_name: str | None,
    auto: Callable[[], tuple[Variant, str]],
    target: tuple[str, str] | None = None,
    target_where: str = "[tool.poetry-torch.targets]",
) -> VariantChoice | None:
    """Apply the precedence above; None when no rule names a variant (no source, no
    ``variant``, no override): ``auto`` decides only where a rule says ``"auto"``.  ``env``,
    ``local`` and ``pyproject`` are values already checked by ``parse_variant``; ``target`` is
    the ``[tool.poetry-torch.targets]`` (key, value) matching this machine (``target_where``
    says where it was written); ``auto`` is called only when the hardware decides."""
    committed = source if pyproject is None else from_index_name(pyproject)
    if pyproject is not None:
        where = f'[tool.poetry-torch] variant = "{pyproject}"'
    else:
        where = f"source {source_name}"
    for rule, value, detail in (
        (ENV, env, f"{VARIANT_ENV}={env}"),
        (LOCAL, local, f'{LOCAL_FILE}: [{LOCAL_TABLE}] variant = "{local}"'),
        (
            TARGET,
            target[1] if target else None,
            f'{target_where} {target[0]} = "{target[1]}"' if target else "",
        ),
        (PYPROJECT, pyproject, where),
    ):
        if value is None:
            continue
        if value == AUTO:
            variant, reason = auto()
            return VariantChoice(variant, AUTO, f"{detail}; {reason}", committed)
        chosen = from_index_name(value)
        if chosen is not None:
            return VariantChoice(chosen, rule, detail, committed)
    if source is not None:
        return VariantChoice(source, PYPROJECT, where, committed)
    return None  # nothing names a variant: the caller says how to configure one
