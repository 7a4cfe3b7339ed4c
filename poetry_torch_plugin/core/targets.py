"""Targets: what each kind of machine installs, committed once in pyproject.toml.

```toml
[tool.poetry-torch.targets]
linux-x86_64 = "cu129"
linux-aarch64 = "cu128"
macos = "cpu"        # the cpu index's macOS wheels are PyPI's, with MPS
windows = "cu129"
no-gpu = "cpu"       # Linux/Windows machines with no GPU at all (CI runners, build hosts)
```

Keys: an operating system (``linux``, ``macos``, ``windows``), optionally with an
architecture (``linux-x86_64``, ``linux-aarch64``, ``macos-arm64``, ``macos-x86_64``,
``windows-amd64``, ``windows-arm64``), and ``no-gpu``.  Values: a variant or ``"auto"``.
The most specific key that matches this machine wins: ``no-gpu`` (not on macOS, where the one
build needs no GPU to choose), then ``<os>-<arch>``, then ``<os>``.  Pure: the caller says
which platform this is and whether it has a GPU.

``read_targets`` adds what Poetry's multiple-constraints entries say (``core.poetry_form``): an
explicit entry must agree with them for every machine kind they cover.  ``choose_variant``
(below) applies the precedence that says which variant this machine installs."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.poetry_form import PLATFORMS
from poetry_torch_plugin.core.poetry_form import read_poetry_form
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    from poetry_torch_plugin.core.poetry_form import PoetryForm
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant


NO_GPU = "no-gpu"
SYSTEMS = {"linux": "linux", "darwin": "macos", "win32": "windows"}
_ARCHES = {
    "linux": ("x86_64", "aarch64"),
    "macos": ("arm64", "x86_64"),
    "windows": ("amd64", "arm64"),
}
KEYS = (
    *_ARCHES,
    *[f"{system}-{arch}" for system, arches in _ARCHES.items() for arch in arches],
    NO_GPU,
)
# what platform.machine() says on each system, as the keys spell it
_MACHINE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def parse_targets(value: object) -> tuple[tuple[str, str], ...]:
    """``[tool.poetry-torch.targets]`` as (key, variant or "auto") pairs, checked; ConfigError
    in one line for an unknown key or a value that is not a variant."""

    where = "[tool.poetry-torch.targets]"
    if value is None:
        return ()
    if not hasattr(value, "items"):
        raise ConfigError(
            f"{where} must be a table of machine kinds and variants"
            ' (linux-x86_64 = "cu129", macos = "cpu", no-gpu = "cpu")',
            kept="nothing was changed",
            next="Write it as such a table in pyproject.toml, then run the command again.",
        )
    pairs: list[tuple[str, str]] = []
    items: Any = value.items()
    for key, variant in items:
        name = str(key).strip().lower()
        if name not in KEYS:
            raise ConfigError(
                f"{where} has unknown machine kind {str(key)!r} (known: {', '.join(KEYS)})",
                kept="nothing was changed",
                next="Use one of the known kinds in pyproject.toml, then run the command again.",
            )
        if name in dict(pairs):
            raise ConfigError(
                f"{where} names {name} twice (keys differ only in case or spaces)",
                kept="nothing was changed",
                next="Keep one of them in pyproject.toml.",
            )
        parsed = parse_variant(variant, where=f"{where} {name}", fix="Fix pyproject.toml")
        if parsed is None:
            raise ConfigError(
                f"{where} {name} is empty",
                kept="nothing was changed",
                next='Give it a variant ("cu129", "cpu", …) or "auto", or remove it.',
            )
        if name.startswith("macos") and parsed not in ("cpu", "auto"):
            raise ConfigError(
                f'{where} {name} = "{parsed}", but PyTorch publishes only the cpu build (with'
                " MPS) for macOS",
                kept="nothing was changed",
                next='Set it to "cpu" or "auto".',
            )
        pairs.append((name, parsed))
    return tuple(pairs)


def machine_kind(sys_platform: str, machine: str) -> tuple[str | None, str | None]:
    """(``<os>``, ``<os>-<arch>``) as the keys spell them for this platform (None: unknown)."""
    system = SYSTEMS.get(sys_platform) or ("linux" if sys_platform.startswith("linux") else None)
    if system is None:
        return None, None
    arch = _MACHINE.get(machine.lower())
    spelled = next(
        (a for a in _ARCHES[system] if arch is not None and _MACHINE.get(a) == arch), None
    )
    return system, f"{system}-{spelled}" if spelled else None


def match_target(
    targets: tuple[tuple[str, str], ...],
    sys_platform: str,
    machine: str,
    has_gpu: Callable[[], bool],
) -> tuple[str, str] | None:
    """The (key, value) that applies to this machine, or None.  ``has_gpu`` is asked only
    when a ``no-gpu`` key could decide."""
    table = dict(targets)
    system, specific = machine_kind(sys_platform, machine)
    order = [specific, system]
    if NO_GPU in table and system != "macos":
        order.insert(0, NO_GPU)
    for key in order:
        if key is None or key not in table:
            continue
        if key == NO_GPU and has_gpu():
            continue
        return key, table[key]
    return None


def read_targets(
    data: Mapping[str, Any],
    sources: tuple[Source, ...],
    variant: str | None,
    written: object,
    *,
    active: bool,
) -> tuple[tuple[Source, ...], tuple[tuple[str, str], ...], PoetryForm | None]:
    """For ``read_config``: the plugin sources, the committed one first; the targets, the
    written ``[tool.poetry-torch.targets]`` merged with the form's; the form (None when the
    project did not opt in or uses no such list)."""

    form = read_poetry_form(data, sources, variant) if active else None
    if form is not None and form.default is not None:
        first = form.default
        sources = tuple(sorted(sources, key=lambda source: source.name != first))
    targets, form = merge_targets(parse_targets(written), form)
    return sources, targets, form


def merge_targets(
    explicit: tuple[tuple[str, str], ...], form: PoetryForm | None
) -> tuple[tuple[tuple[str, str], ...], PoetryForm | None]:
    """``[tool.poetry-torch.targets]`` plus what the Poetry form says, and the form with only
    the pairs it added (an explicit entry with the same key wins: it agrees); ConfigError when
    the two name different values for the same machine kind (the form has no ``no-gpu``)."""
    if form is None:
        return explicit, None

    for kind, (sys_platform, _, machine, _) in PLATFORMS.items():
        mine = match_target(explicit, sys_platform, machine, lambda: True)
        theirs = match_target(form.targets, sys_platform, machine, lambda: True)
        if mine is not None and theirs is not None and mine[1] != theirs[1]:
            where = dict(form.details)[theirs[0]]
            raise ConfigError(
                f'[tool.poetry-torch.targets] {mine[0]} = "{mine[1]}" and {where} ("{theirs[1]}")'
                f" disagree on {kind}",
                kept="nothing was changed",
                next=f"Fix pyproject.toml: make them agree, or remove the {mine[0]} entry from"
                " [tool.poetry-torch.targets].",
            )
    from poetry_torch_plugin.core.record import replace

    keys = {key for key, _ in explicit}
    added = tuple(pair for pair in form.targets if pair[0] not in keys)
    return explicit + added, replace(form, targets=added)


def refuse_rewrite(form: PoetryForm | None, committed: Source | None, variant: str) -> None:
    """``poetry torch install --cuda X.Y`` (a committed switch) on a project whose several
    plugin sources the multiple-constraints entries name: only the committed variant is
    accepted, since any other would mean rewriting the user's entries."""
    if form is None or len(form.referenced) < 2 or committed is None:
        return  # one plugin source: a switch renames it and points its entries at the new one
    if committed.variant is not None and committed.variant.index_name == variant:
        return
    raise ConfigError(
        "pyproject.toml chooses torch's build per machine kind in Poetry's multiple-constraints"
        f" form (committed source {committed.name}), which `poetry torch install` does not rewrite",
        kept="nothing was changed",
        next="Change the entries' sources in pyproject.toml yourself, or run"
        f" POETRY_TORCH_VARIANT={variant} poetry install to install {variant} on this machine"
        " only.",
    )


# --- which variant this machine installs -----------------------------------------------------
# Which variant this machine installs, and which rule chose it.
#
# Pure: the caller hands in what each rule sees (the environment variable, the uncommitted
# poetry.toml, pyproject.toml) and a callable that runs the hardware rules of ``--cuda auto``.
# Precedence, first that says something wins:
#
# 1. ``POETRY_TORCH_VARIANT`` (this shell, this command),
# 2. ``[poetry-torch] variant`` in the project's ``poetry.toml`` (this checkout; not committed),
# 3. pyproject.toml's ``[tool.poetry-torch.targets]`` entry for this kind of machine
#    (``core.targets``: ``linux-x86_64 = "cu129"``, ``macos = "cpu"``, ``no-gpu = "cpu"``),
# 4. pyproject.toml: ``[tool.poetry-torch] variant``, else the plugin's source's variant,
# 5. ``auto``: this machine's driver and GPUs, where a rule above says ``"auto"``.
#
# 3 and 4 are committed; 1, 2 and 5 are machine-local and recorded nowhere in committed files.
# A target's variant other than the source's is installed like a machine-local choice: from a
# source derived for it, without writing pyproject.toml or poetry-torch.lock.


VARIANT_ENV = "POETRY_TORCH_VARIANT"
LOCAL_FILE = "poetry.toml"
LOCAL_TABLE = "poetry-torch"
AUTO = "auto"

ENV, LOCAL, TARGET, PYPROJECT = "env", "local config", "target", "pyproject"
RULES = (ENV, LOCAL, TARGET, PYPROJECT, AUTO)


@record
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
            f"{where} = {value!r} is not a string",
            kept="nothing was changed",
            next=f'{fix} (a variant such as "cu129", "cpu", "rocm6.4", or "auto").',
        )
    text = value.strip().lower()
    if not text:
        return None
    if text != AUTO and from_index_name(text) is None:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ConfigError(
            f"{where} = {shown!r} is not a PyTorch variant",
            kept="nothing was changed",
            next=f'{fix} (a variant such as "cu129", "cpu", "rocm6.4", or "auto").',
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
