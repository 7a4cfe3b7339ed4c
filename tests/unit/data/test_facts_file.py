"""The shipped facts file is internally consistent, and every row names a known source."""

from __future__ import annotations

import json
import re
import zipfile

from pathlib import Path
from typing import Any

import pytest

from poetry_torch_plugin.core.facts import PLATFORMS
from poetry_torch_plugin.core.facts import FactsError
from poetry_torch_plugin.core.facts import parse_facts
from poetry_torch_plugin.data import facts_text
from poetry_torch_plugin.data import load_facts


RAW: dict[str, Any] = json.loads(facts_text())
FACTS = load_facts()
VARIANT = re.compile(r"^(cpu|xpu|cu1\d\d|rocm\d+\.\d+(\.\d+)?)$")
DRIVER = re.compile(r"^\d+(\.\d+)*$")


def key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def rows(node: Any) -> list[dict[str, Any]]:
    """Every table in the file, at any depth."""
    if isinstance(node, dict):
        return [node, *(row for value in node.values() for row in rows(value))]
    if isinstance(node, list):
        return [row for value in node for row in rows(value)]
    return []


def test_releases_cover_2_0_to_2_15_in_order() -> None:
    releases = [release["torch"] for release in RAW["releases"]]
    assert releases == [f"2.{minor}" for minor in range(16)]


def test_every_source_named_exists_and_every_row_says_whether_it_was_checked() -> None:
    for row in rows(RAW):
        for name, value in row.items():
            if name == "source" or name.endswith("_source"):
                assert value in RAW["sources"], row
                checked = "checked" if name == "source" else name.replace("_source", "_checked")
                assert isinstance(row.get(checked), bool), (name, row)


@pytest.mark.parametrize("release", RAW["releases"], ids=lambda release: release["torch"])
def test_release_rows(release: dict[str, Any]) -> None:
    names = [variant["name"] for variant in release["variants"]]
    assert "cpu" in names and len(names) == len(set(names))
    for variant in release["variants"]:
        name = variant["name"]
        assert VARIANT.match(name), name
        assert variant["status"] in ("stable", "experimental")
        if name.startswith("cu"):
            archs = variant["archs"]
            assert set(archs) == set(PLATFORMS), name
            assert archs["linux-x86_64"] and archs["windows"], f"{release['torch']} {name}"
            for platform, set_name in archs.items():
                if set_name is None:
                    continue  # unknown for that platform: never used to refuse
                values = RAW["arch_sets"][set_name]
                assert all(re.fullmatch(r"sm_\d+", arch) for arch in values), platform
                assert [key(a[3:]) for a in values] == sorted(key(a[3:]) for a in values)
            major = int(name[2:-1])
            floors = [r for r in RAW["drivers"]["minor_compat"] if r["cuda_major"] == major]
            assert any(r["os"] == "linux" and r["checked"] for r in floors), name
        elif name.startswith("rocm"):
            assert variant["gfx"] in RAW["gfx_sets"], name
        else:
            assert "archs" not in variant and "gfx" not in variant


def test_companions_follow_torch() -> None:
    visions = [key(release["torchvision"]["version"]) for release in RAW["releases"]]
    assert visions == sorted(visions) and len(set(visions)) == len(visions)
    decoupled = RAW["torchaudio_decoupled"]
    last = ".".join(decoupled["version"].split(".")[:2])
    for release in RAW["releases"]:
        audio = release["torchaudio"]["version"]
        assert audio == (release["torch"] if key(release["torch"]) < key(last) else last)
    carrier = next(release for release in RAW["releases"] if release["torch"] == last)
    assert set(decoupled["variants"]) <= {variant["name"] for variant in carrier["variants"]}


def test_driver_rows() -> None:
    drivers = RAW["drivers"]
    for table in ("minor_compat", "exact", "toolkit"):
        for row in drivers[table]:
            assert row["os"] in ("linux", "windows")
            assert row["driver"] is None or DRIVER.match(row["driver"]), row
            assert row["driver"] is not None or not row["checked"], row
    toolkit = {(row["os"], row["cuda"]) for row in drivers["toolkit"]}
    for cuda in ("11.8", "12.0", "12.6", "12.8", "12.9", "13.0", "13.1", "13.2"):
        assert {("linux", cuda), ("windows", cuda)} <= toolkit


def test_sets_are_all_used() -> None:
    used = {
        name
        for release in RAW["releases"]
        for variant in release["variants"]
        for name in [*variant.get("archs", {}).values(), variant.get("gfx")]
    }
    assert set(RAW["arch_sets"]) | set(RAW["gfx_sets"]) <= used


def test_parse_names_what_is_out_of_shape() -> None:
    broken = json.loads(facts_text())
    broken["releases"][3]["variants"][0]["status"] = "beta"
    with pytest.raises(FactsError, match="status"):
        parse_facts(broken)
    broken = json.loads(facts_text())
    broken["releases"][3]["variants"][0]["archs"]["linux-x86_64"] = "no_such_set"
    with pytest.raises(FactsError, match="no_such_set"):
        parse_facts(broken)


def test_parsed_facts_match_the_file() -> None:
    assert [release.torch for release in FACTS.releases] == [
        release["torch"] for release in RAW["releases"]
    ]
    assert FACTS.torchaudio_last == "2.11.1"


def test_the_wheel_ships_the_facts_file(tmp_path: Path) -> None:
    from poetry.core.factory import Factory
    from poetry.core.masonry.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parents[3]
    wheel = WheelBuilder(Factory().create_poetry(root)).build(tmp_path)
    with zipfile.ZipFile(tmp_path / wheel) as archive:
        assert "poetry_torch_plugin/data/facts.json" in archive.namelist()


def test_mps_macos_rows() -> None:
    """Every release says which macOS its MPS needs; never less than the one before."""
    table = RAW["mps_macos"]
    assert [row["torch"] for row in table] == [release["torch"] for release in RAW["releases"]]
    floors = [key(row["macos"]) for row in table]
    assert floors == sorted(floors) and floors[0] >= (12, 3)
    assert {minor: floor.macos for minor, floor in FACTS.mps_macos.items()} == {
        row["torch"]: row["macos"] for row in table
    }
    # an assumption is never a checked fact
    assert all(not row["checked"] for row in table if row["source"] == "assumed")
