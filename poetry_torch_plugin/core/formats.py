"""``poetry-torch.lock`` in the formats other installers read: ``poetry torch export``'s
requirements text (the index, then every pin with its hashes) and a PEP 751 ``pylock.toml``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from poetry_torch_plugin.core.lockfile import DEFAULT
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import key_of
from poetry_torch_plugin.core.lockfile import machines_marker
from poetry_torch_plugin.core.lockfile import requirement_lines
from poetry_torch_plugin.core.lockfile import wanted
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.core.variants import from_url
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
        # a package the variant's index has no pairing build of (PyPI's torchaudio): its
        # pin and hashes still decide, so no other file of the family can come from there
        *(
            f"--extra-index-url {index}"
            for index in dict.fromkeys(p.index for p in lock.packages if p.index)
        ),
        "",
        *requirement_lines(lock, continuation=True),
    ]
    return "\n".join(lines) + "\n"


@record
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

    found = key_of(lock.resolved_for)
    variant = from_url(lock.inputs.source_url)
    if found is None or variant is None:
        return None
    return variant.index_name, found[0], found[1]


def _keys_of(
    lock: TorchLock, first: tuple[str, str, str]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """(variant, platform) -> the targets keys that lock it."""
    targets = tuple(tuple(text.split("=", 1)) for text in lock.targets)
    pairs = cast("tuple[tuple[str, str], ...]", targets)
    return {(w.variant, w.platform): w.keys for w in wanted(pairs, first[0], first[1], lock.added)}


def target_keys(lock: TorchLock) -> tuple[str, ...]:
    """The keys ``--target`` accepts for this lock: its targets, and ``default`` where some
    machine kind gets the committed build because no key decides for it (issue 23: never a
    key listed here that ``select`` then refuses)."""
    keys = [text.split("=", 1)[0] for text in lock.targets]
    first = _first_part_key(lock)
    if first is None or any(DEFAULT in found for found in _keys_of(lock, first).values()):
        keys.append(DEFAULT)
    return tuple(keys)


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
            f"{LOCK_NAME} does not say which machine its first part is for",
            kept="nothing was exported",
            next="Run `poetry torch lock` to write it again.",
        )
    keys_of = _keys_of(lock, first)
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
                f"{LOCK_NAME} holds {other} and {variant} for {platform}, Python {python} (a GPU"
                " machine and one without, or an added variant), and markers cannot tell such"
                " machines apart",
                kept="nothing was exported",
                next="Export one target at a time: --target"
                f" {' | --target '.join(target_keys(lock))}.",
            )
        chosen.append(Selected(part, (platform, python), variant))
    if not chosen:
        raise ConfigError(
            f"{LOCK_NAME} holds nothing for target {target!r} (it has:"
            f" {', '.join(target_keys(lock))})",
            kept="nothing was exported",
            next=(
                "Name one of them, or run `poetry torch lock` if pyproject.toml's targets changed."
            ),
        )
    return chosen


def merged(chosen: list[Selected]) -> list[tuple[str, str, str, str | None, dict[str, str]]]:
    """(name, version, index URL, marker, {file: sha256}) per package of the selection; a
    package pinned alike in several closures appears once, with one marker for all of them."""
    return [(n, v, i, m, files) for n, v, i, m, files, _ in merged_urls(chosen)]


def merged_urls(
    chosen: list[Selected],
) -> list[tuple[str, str, str, str | None, dict[str, str], dict[str, str]]]:
    """``merged``, each with ``{file: URL}``: where the index gave each file when it was
    locked (``LockedPackage.url_of``: beside the index's pages for an older lock)."""
    groups: dict[
        tuple[str, str, str], tuple[list[tuple[str, str]], dict[str, str], dict[str, str]]
    ] = {}
    for part in chosen:
        source = without_login(part.lock.inputs.source_url).rstrip("/")
        for package in part.lock.packages:
            index = package.index or source
            key = (package.name, package.version, index)
            where, files, urls = groups.setdefault(key, ([], {}, {}))
            if part.where is not None:
                where.append(part.where)
            files.update(package.files)
            urls.update((name, package.url_of(name, index)) for name, _ in package.files)
    return [
        (name, version, index, machines_marker(where) if where else None, files, urls)
        for (name, version, index), (where, files, urls) in sorted(groups.items())
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


# --- PEP 751 pylock.toml ---------------------------------------------------------------------
# ``poetry-torch.lock`` as a PEP 751 ``pylock.toml``, for installers that read the standard
# lock format (``uv pip install -r pylock.torch.toml``).  Pure: the text only.


# resolved-for's words, in order (``cpython 3.11 linux x86_64``), as PEP 508 markers
_MARKERS = ("implementation_name", "python_version", "sys_platform", "platform_machine")


def environment_marker(resolved_for: str) -> str | None:
    """The one environment the closure was resolved for, as a marker; None when unknown."""
    words = resolved_for.split()
    if len(words) != len(_MARKERS) or "?" in words:
        return None
    return " and ".join(f"{key} == '{value}'" for key, value in zip(_MARKERS, words))


def pep440_python(constraint: str) -> str | None:
    """The project's Python constraint as PEP 751's ``requires-python`` wants it (PEP 440);
    None (the key is optional) when it is empty or in Poetry's own syntax (``^3.10``,
    ``~3.11``, ``3.10 || 3.12``), which installers reading pylock.toml reject."""
    from packaging.specifiers import InvalidSpecifier
    from packaging.specifiers import SpecifierSet

    text = constraint.strip()
    if not text:
        return None
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return None
    return text


def pylock_text(lock: TorchLock, chosen: list[Selected] | None = None) -> str:
    """The lock as PEP 751 TOML: every package with its index and each locked wheel's URL
    (where the index's page linked it when it was locked: download.pytorch.org sends torch to
    another host; the file beside the index's pages for a lock that kept no URL) and sha256.  The closure was resolved for one environment, which ``environments`` says;
    ``chosen`` (``export --target``/``--all``): those closures instead, each package with the
    marker of the machines it is for."""
    import tomlkit

    selection = chosen if chosen is not None else [Selected(lock, None, "")]
    document = tomlkit.document()
    document.add(tomlkit.comment(f"The PyTorch builds pinned in {LOCK_NAME} (PEP 751)."))
    document.add(tomlkit.comment("Written by `poetry torch export --format pylock`; do not edit."))
    document.add("lock-version", "1.0")

    where = [part.where for part in selection if part.where is not None]
    markers = [
        machines_marker([w for w in where if w[0] == platform])
        for platform in dict.fromkeys(w[0] for w in where)
    ]
    marker = environment_marker(lock.resolved_for)
    if markers:
        document.add("environments", markers)
    elif marker is not None:
        document.add("environments", [marker])
    requires = pep440_python(lock.inputs.requires_python)
    if requires is not None:
        document.add("requires-python", requires)
    from poetry_torch_plugin import __version__

    document.add("created-by", f"poetry-torch-plugin {__version__}")
    packages = tomlkit.aot()
    for name, version, index, package_marker, files, urls in merged_urls(selection):
        table = tomlkit.table()
        table.add("name", name)
        table.add("version", version)
        if package_marker is not None:
            table.add("marker", package_marker)
        table.add("index", index)
        wheels = tomlkit.array()
        sdists: list[Any] = []
        for filename, digest in sorted(files.items()):
            entry = tomlkit.inline_table()
            entry.update(
                {
                    "name": filename,
                    "url": urls[filename],
                    "hashes": {"sha256": digest},
                }
            )
            (wheels if filename.endswith(".whl") else sdists).append(entry)
        if sdists:  # PEP 751: a source archive is the package's one ``sdist``, never a wheel
            table.add("sdist", sdists[0])
        if wheels:
            wheels.multiline(True)
            table.add("wheels", wheels)
        packages.append(table)
    document.add("packages", packages)
    return tomlkit.dumps(document)


def export_form(form: str | None, output: str | None) -> str:
    """The format ``poetry torch export`` writes: ``form`` as given, else what the ``-o`` file's
    name says (``pylock.torch.toml`` means PEP 751); ConfigError (one line) when the two
    disagree or the format is unknown."""
    name = output.replace("\\", "/").rsplit("/", 1)[-1] if output else None
    pylock_named = name is not None and _pylock_name(name)
    # -o pylock.torch.toml alone means the PEP 751 format: requirements text under that name
    # would be a file every installer rejects
    form = (form or ("pylock" if pylock_named else "requirements")).strip().lower()
    if form not in ("requirements", "pylock"):
        raise ConfigError(
            f"unknown export format {form!r}",
            kept="nothing was exported",
            next="Use --format requirements (the default) or --format pylock (PEP 751).",
        )
    if form == "pylock" and name is not None and not pylock_named:
        raise ConfigError(
            f"PEP 751 names a lock file pylock.toml or pylock.<name>.toml, not {name}",
            kept="nothing was exported",
            next="Use -o pylock.torch.toml.",
        )
    if form == "requirements" and pylock_named:
        raise ConfigError(
            f"{name} is a PEP 751 lock file name, but --format requirements writes a requirements"
            " file",
            kept="nothing was exported",
            next="Use --format pylock, or -o requirements-torch.txt.",
        )
    return form


def _pylock_name(name: str) -> bool:
    import re

    return re.fullmatch(r"pylock\.([^.]+\.)?toml", name) is not None
