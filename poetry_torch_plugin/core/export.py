"""``poetry torch export``'s requirements text: the index, then every pin with its hashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import cast

from poetry_torch_plugin.core.lockentries import DEFAULT
from poetry_torch_plugin.core.lockentries import key_of
from poetry_torch_plugin.core.lockentries import machines_marker
from poetry_torch_plugin.core.lockentries import wanted
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.errors import ConfigError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.lockfile import TorchLock


def export_text(lock: TorchLock) -> str:
    """A requirements file for plain pip: the index, then every locked pin with its hashes."""
    lines = [
        f"# The PyTorch builds pinned in {LOCK_NAME}, written by `poetry torch export`.",
        f"# Source {lock.inputs.source_name}; resolved for {lock.resolved_for or 'unknown'}.",
        "# Install them before the rest of the project: pip install -r THIS_FILE",
        f"--index-url {without_login(lock.inputs.source_url)}",
        "",
        *requirement_lines(lock, continuation=True),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Selected:
    """One locked closure and the (platform, Python) it is for (None: the only one)."""

    lock: TorchLock
    where: tuple[str, str] | None
    variant: str

    @property
    def marker(self) -> str | None:
        return machines_marker([self.where]) if self.where is not None else None


def _first_part_key(lock: TorchLock) -> tuple[str, str, str] | None:
    """(variant, platform, Python) of the lock's first part."""
    from poetry_torch_plugin.core.variants import from_url

    found = key_of(lock.resolved_for)
    variant = from_url(lock.inputs.source_url)
    if found is None or variant is None:
        return None
    return variant.index_name, found[0], found[1]


def target_keys(lock: TorchLock) -> tuple[str, ...]:
    """The keys ``--target`` accepts for this lock: its targets, and ``default``."""
    return (*(text.split("=", 1)[0] for text in lock.targets), DEFAULT)


def select(lock: TorchLock, target: str | None, every: bool) -> list[Selected]:
    """The closures ``export --target KEY`` (or ``--all``) writes, each with its marker;
    ConfigError (one line) for an unknown key or an ``--all`` that markers cannot express."""
    first = _first_part_key(lock)
    parts: list[tuple[tuple[str, str, str] | None, TorchLock]] = [(first, lock)]
    parts += [((e.variant, e.platform, e.python), e.lock) for e in lock.entries]
    if target is None and not every:
        return [Selected(lock, None, first[0] if first else "")]
    if first is None:
        raise ConfigError(
            f"{LOCK_NAME} does not say which machine its first part is for; nothing was"
            " exported. Run `poetry torch lock` to write it again."
        )
    targets = tuple(tuple(text.split("=", 1)) for text in lock.targets)
    pairs = cast("tuple[tuple[str, str], ...]", targets)
    keys_of = {
        (w.variant, w.platform): w.keys for w in wanted(pairs, first[0], first[1], lock.added)
    }
    chosen: list[Selected] = []
    seen: dict[tuple[str, str], str] = {}
    for key, part in parts:
        assert key is not None
        variant, platform, python = key
        if target is not None and target not in keys_of.get((variant, platform), ()):
            continue
        other = seen.setdefault((platform, python), variant)
        if other != variant:
            raise ConfigError(
                f"{LOCK_NAME} holds {other} and {variant} for {platform}, Python {python}"
                " (a GPU machine and one without, or an added variant), and markers cannot"
                " tell such machines apart; nothing was exported. Export one target at a"
                f" time: --target {' | --target '.join(target_keys(lock))}."
            )
        chosen.append(Selected(part, (platform, python), variant))
    if not chosen:
        raise ConfigError(
            f"{LOCK_NAME} holds nothing for target {target!r} (it has:"
            f" {', '.join(target_keys(lock))}); nothing was exported. Name one of them, or run"
            " `poetry torch lock` if pyproject.toml's targets changed."
        )
    return chosen


def merged(chosen: list[Selected]) -> list[tuple[str, str, str, str | None, dict[str, str]]]:
    """(name, version, index URL, marker, {file: sha256}) per package of the selection; a
    package pinned alike in several closures appears once, with one marker for all of them."""
    groups: dict[tuple[str, str, str], tuple[list[tuple[str, str]], dict[str, str]]] = {}
    for part in chosen:
        index = without_login(part.lock.inputs.source_url).rstrip("/")
        for package in part.lock.packages:
            where, files = groups.setdefault((package.name, package.version, index), ([], {}))
            if part.where is not None:
                where.append(part.where)
            files.update(package.files)
    return [
        (name, version, index, machines_marker(where) if where else None, files)
        for (name, version, index), (where, files) in sorted(groups.items())
    ]


def export_selected(chosen: list[Selected], what: str) -> str:
    """Requirements text for ``--target``/``--all``: every index, then each pin with its
    marker and hashes (each pin has its build's local label, so no index can stand in)."""
    packages = merged(chosen)
    indexes = list(dict.fromkeys(index for _, _, index, _, _ in packages))
    lines = [
        f"# The PyTorch builds pinned in {LOCK_NAME} for {what}, written by `poetry torch export`.",
        "# Every pin carries its machines' marker and its sha256 hashes: pip install -r THIS_FILE",
        *(
            f"{'--index-url' if n == 0 else '--extra-index-url'} {index}"
            for n, index in enumerate(indexes)
        ),
        "",
    ]
    for name, version, _, marker, files in packages:
        head = f"{name}=={version}" + (f" ; {marker}" if marker else "")
        hashes = [f"--hash=sha256:{digest}" for digest in sorted(set(files.values()))]
        lines.append(" \\\n    ".join([head, *hashes]))
    return "\n".join(lines) + "\n"
