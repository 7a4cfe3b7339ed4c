"""``poetry-torch.lock`` as a PEP 751 ``pylock.toml``, for installers that read the standard
lock format (``uv pip install -r pylock.torch.toml``).  Pure: the text only."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import quote

from poetry_torch_plugin.core.lockfile import LOCK_NAME


if TYPE_CHECKING:
    from poetry_torch_plugin.core.export import Selected
    from poetry_torch_plugin.core.lockfile import TorchLock

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
    (the file beside the index's pages, as download.pytorch.org and its mirrors serve them)
    and sha256.  The closure was resolved for one environment, which ``environments`` says;
    ``chosen`` (``export --target``/``--all``): those closures instead, each package with the
    marker of the machines it is for."""
    import tomlkit

    from poetry_torch_plugin.core.export import Selected
    from poetry_torch_plugin.core.export import merged

    selection = chosen if chosen is not None else [Selected(lock, None, "")]
    document = tomlkit.document()
    document.add(tomlkit.comment(f"The PyTorch builds pinned in {LOCK_NAME} (PEP 751)."))
    document.add(tomlkit.comment("Written by `poetry torch export --format pylock`; do not edit."))
    document.add("lock-version", "1.0")
    from poetry_torch_plugin.core.lockentries import machines_marker

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
    for name, version, index, package_marker, files in merged(selection):
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
                    "url": f"{index}/{quote(filename)}",
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
