"""The facts file (``poetry_torch_plugin/data/facts.json``), parsed into :class:`Facts`.

Pure: it takes the JSON already read; ``poetry_torch_plugin.data`` reads the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import cast

from poetry_torch_plugin.core.facts import OSES
from poetry_torch_plugin.core.facts import PLATFORMS
from poetry_torch_plugin.core.facts import STATUSES
from poetry_torch_plugin.core.facts import Build
from poetry_torch_plugin.core.facts import Checked
from poetry_torch_plugin.core.facts import Driver
from poetry_torch_plugin.core.facts import Facts
from poetry_torch_plugin.core.facts import MacosFloor
from poetry_torch_plugin.core.facts import Release


if TYPE_CHECKING:
    from collections.abc import Mapping


class FactsError(ValueError):
    """The facts file does not have the expected shape (a packaging or editing mistake)."""


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.split("."))


def _dict(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise FactsError(f"facts: {where} is not a table")
    return cast("dict[str, object]", value)


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise FactsError(f"facts: {where} is not a list")
    return cast("list[object]", value)


def _str(row: dict[str, object], key: str, where: str, *, optional: bool = False) -> str:
    value = row.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value:
        raise FactsError(f"facts: {where}.{key} is not a non-empty string")
    return value


def _bool(row: dict[str, object], key: str, where: str) -> bool:
    value = row.get(key)
    if not isinstance(value, bool):
        raise FactsError(f"facts: {where}.{key} is not true or false")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise FactsError(f"facts: {where} holds something other than strings")
    return tuple(cast("list[str]", items))


def _set(sets: dict[str, object], name: object, where: str) -> tuple[str, ...]:
    if not isinstance(name, str) or name not in sets:
        raise FactsError(f"facts: {where} names no known set ({name!r})")
    return _strings(sets[name], f"{where} ({name})")


def _build(
    row: dict[str, object], arch_sets: dict[str, object], gfx_sets: dict[str, object]
) -> Build:
    where = f"variant {row.get('name')!r}"
    status = _str(row, "status", where)
    if status not in STATUSES:
        raise FactsError(f"facts: {where}.status is {status!r}, not one of {STATUSES}")
    archs: dict[str, Checked] = {}
    if "archs" in row:
        source, checked = _str(row, "archs_source", where), _bool(row, "archs_checked", where)
        for platform, name in _dict(row["archs"], f"{where}.archs").items():
            if platform not in PLATFORMS:
                raise FactsError(f"facts: {where}.archs has unknown platform {platform!r}")
            if name is not None:
                archs[platform] = Checked(_set(arch_sets, name, where), source, checked)
    gfx = None
    if "gfx" in row:
        value = _set(gfx_sets, row["gfx"], where)
        gfx = Checked(value, _str(row, "gfx_source", where), _bool(row, "gfx_checked", where))
    return Build(
        _str(row, "name", where),
        status,
        _str(row, "source", where),
        _bool(row, "checked", where),
        archs,
        gfx,
    )


def _cuda_key(text: str, where: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise FactsError(f"facts: {where} has CUDA version {text!r}")
    return int(major), int(minor)


def _driver(row: dict[str, object], where: str) -> tuple[str, Driver]:
    os_name = _str(row, "os", where)
    if os_name not in OSES:
        raise FactsError(f"facts: {where}.os is {os_name!r}")
    driver = row.get("driver")
    if driver is not None and not isinstance(driver, str):
        raise FactsError(f"facts: {where}.driver is not a string")
    return os_name, Driver(driver, _str(row, "source", where), _bool(row, "checked", where))


def parse_facts(data: Mapping[str, object]) -> Facts:
    """The parsed facts file as values; FactsError names the first thing out of shape."""
    top = _dict(dict(data), "the file")
    arch_sets, gfx_sets = (
        _dict(top.get("arch_sets"), "arch_sets"),
        _dict(top.get("gfx_sets"), "gfx_sets"),
    )
    releases = []
    for item in _list(top.get("releases"), "releases"):
        row = _dict(item, "a release")
        where = f"release {row.get('torch')!r}"
        builds = tuple(
            _build(_dict(build, where), arch_sets, gfx_sets)
            for build in _list(row.get("variants"), f"{where}.variants")
        )
        pair = _dict(row.get("torchvision"), f"{where}.torchvision")
        audio = _dict(row.get("torchaudio"), f"{where}.torchaudio")
        releases.append(
            Release(
                _str(row, "torch", where),
                _str(row, "source", where),
                _bool(row, "checked", where),
                builds,
                _str(pair, "version", where),
                _str(audio, "version", where),
            )
        )
    drivers = _dict(top.get("drivers"), "drivers")
    tables: dict[str, dict[tuple[str, object], Driver]] = {}
    for table in ("minor_compat", "exact", "toolkit"):
        tables[table] = {}
        for item in _list(drivers.get(table), f"drivers.{table}"):
            row = _dict(item, f"drivers.{table}")
            os_name, driver = _driver(row, f"drivers.{table}")
            major = row.get("cuda_major")
            key: object = (
                major if isinstance(major, int) else _cuda_key(_str(row, "cuda", table), table)
            )
            tables[table][(os_name, key)] = driver
    audio = _dict(top.get("torchaudio_decoupled"), "torchaudio_decoupled")
    mps: dict[str, MacosFloor] = {}
    for item in _list(top.get("mps_macos", []), "mps_macos"):
        row = _dict(item, "mps_macos")
        where = f"mps_macos {row.get('torch')!r}"
        mps[_str(row, "torch", where)] = MacosFloor(
            _str(row, "macos", where), _str(row, "source", where), _bool(row, "checked", where)
        )
    return Facts(
        releases=tuple(sorted(releases, key=lambda release: _minor_key(release.torch))),
        sources={key: str(value) for key, value in _dict(top.get("sources"), "sources").items()},
        minor_compat=cast("dict[tuple[str, int], Driver]", tables["minor_compat"]),
        exact=cast("dict[tuple[str, tuple[int, int]], Driver]", tables["exact"]),
        toolkit=cast("dict[tuple[str, tuple[int, int]], Driver]", tables["toolkit"]),
        torchaudio_last=_str(audio, "version", "torchaudio_decoupled"),
        torchaudio_variants=Checked(
            _strings(audio.get("variants"), "torchaudio_decoupled.variants"),
            _str(audio, "variants_source", "torchaudio_decoupled"),
            _bool(audio, "variants_checked", "torchaudio_decoupled"),
        ),
        mps_macos=mps,
    )
