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
explicit entry must agree with them for every machine kind they cover."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.poetry_form import PoetryForm

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
    from poetry_torch_plugin.core.choice import parse_variant

    where = "[tool.poetry-torch.targets]"
    if value is None:
        return ()
    if not hasattr(value, "items"):
        raise ConfigError(
            f"{where} must be a table of machine kinds and variants"
            ' (linux-x86_64 = "cu129", macos = "cpu", no-gpu = "cpu"); nothing was changed.'
            " Fix pyproject.toml."
        )
    pairs: list[tuple[str, str]] = []
    items: Any = value.items()
    for key, variant in items:
        name = str(key).strip().lower()
        if name not in KEYS:
            raise ConfigError(
                f"{where} has unknown machine kind {str(key)!r} (known: {', '.join(KEYS)});"
                " nothing was changed. Fix pyproject.toml."
            )
        if name in dict(pairs):
            raise ConfigError(
                f"{where} names {name} twice (keys differ only in case or spaces); nothing was"
                " changed. Keep one of them in pyproject.toml."
            )
        parsed = parse_variant(variant, where=f"{where} {name}", fix="Fix pyproject.toml")
        if parsed is None:
            raise ConfigError(
                f"{where} {name} is empty; nothing was changed. Give it a variant"
                ' ("cu129", "cpu", …) or "auto", or remove it.'
            )
        if name.startswith("macos") and parsed not in ("cpu", "auto"):
            raise ConfigError(
                f'{where} {name} = "{parsed}", but PyTorch publishes only the cpu build (with'
                ' MPS) for macOS; nothing was changed. Set it to "cpu" or "auto".'
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
    from poetry_torch_plugin.core.poetry_form import read_poetry_form

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
    from poetry_torch_plugin.core.poetry_form import PLATFORMS

    for kind, (sys_platform, _, machine, _) in PLATFORMS.items():
        mine = match_target(explicit, sys_platform, machine, lambda: True)
        theirs = match_target(form.targets, sys_platform, machine, lambda: True)
        if mine is not None and theirs is not None and mine[1] != theirs[1]:
            where = dict(form.details)[theirs[0]]
            raise ConfigError(
                f'[tool.poetry-torch.targets] {mine[0]} = "{mine[1]}" and {where}'
                f' ("{theirs[1]}") disagree on {kind}; nothing was changed. Fix pyproject.toml:'
                f" make them agree, or remove the {mine[0]} entry from [tool.poetry-torch.targets]."
            )
    from dataclasses import replace

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
        f" form (committed source {committed.name}), which `poetry torch install` does not"
        " rewrite; nothing was changed. Change the entries' sources in pyproject.toml yourself,"
        f" or run POETRY_TORCH_VARIANT={variant} poetry install to install {variant} on this"
        " machine only."
    )
