"""``./dev facts``: compare the published variants in facts.json with a live index listing.

Reads ``<base>/torch/`` (download.pytorch.org's page of every torch wheel; ``base`` is
POETRY_TORCH_INDEX_BASE or https://download.pytorch.org/whl), or, where that page lists no
wheels (a mirror of per-variant indexes), ``<base>/<variant>/torch/`` for every variant
``<base>/`` lists.  Prints the differences; ``--write`` applies them to the variants of the
releases facts.json already has (added ones as experimental, to be reviewed).  Exit 0 when
the listing was read, 2 when the index cannot be reached (one line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request

from pathlib import Path

from packaging.utils import InvalidWheelFilename
from packaging.utils import parse_wheel_filename

from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.pages import fetch_listing


FACTS = Path(__file__).resolve().parents[1] / "poetry_torch_plugin" / "data" / "facts.json"
DEFAULT_BASE = "https://download.pytorch.org/whl"
VARIANT = re.compile(r"^(cpu|xpu|cu1\d\d|rocm\d+\.\d+(\.\d+)?)$")
ANCHOR = re.compile(r"<a\s[^>]*href=[\"']([^\"']+)[\"']", re.IGNORECASE)
SOURCE = "index-listing"


def _published(filenames: list[str], into: dict[str, set[str]], variant: str | None) -> None:
    for filename in filenames:
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        label = version.local or variant
        if name != "torch" or version.is_prerelease or label is None or not VARIANT.match(label):
            continue
        into.setdefault(f"{version.major}.{version.minor}", set()).add(label)


def live_variants(base: str) -> dict[str, set[str]]:
    """torch minor -> the variants the index publishes it for; IndexAccessError offline."""
    found: dict[str, set[str]] = {}
    try:
        listing = fetch_listing(base, "torch")
    except IndexAccessError:
        listing = None  # no <base>/torch/ page (a mirror) or no network: the root tells
    if listing is not None:
        _published([filename for filename, _ in listing.files], found, None)
    if found:
        return found
    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/", timeout=15) as response:  # noqa: S310
            body = response.read().decode("utf-8", "replace")
    except OSError as exc:
        raise IndexAccessError(f"cannot read {base}/torch/ nor {base}/ ({exc})") from None
    names = {href.rstrip("/").rsplit("/", 1)[-1] for href in ANCHOR.findall(body)}
    for name in sorted(n for n in names if VARIANT.match(n)):
        try:
            variant_listing = fetch_listing(f"{base.rstrip('/')}/{name}", "torch")
        except IndexAccessError:
            continue
        _published([filename for filename, _ in variant_listing.files], found, name)
    return found


def diff(data: dict[str, object], live: dict[str, set[str]]) -> list[str]:
    releases = {r["torch"]: r for r in data["releases"]}  # type: ignore[attr-defined,index]
    lines = []
    for minor in sorted(live, key=lambda m: tuple(int(p) for p in m.split("."))):
        if minor not in releases:
            lines.append(f"+ {minor}: {' '.join(sorted(live[minor]))} (a release facts.json lacks)")
            continue
        known = {variant["name"] for variant in releases[minor]["variants"]}
        lines += [f"+ {minor} {name}" for name in sorted(live[minor] - known)]
        lines += [f"- {minor} {name}" for name in sorted(known - live[minor])]
    return lines


def write(data: dict[str, object], live: dict[str, set[str]], base: str) -> None:
    sources = data["sources"]
    assert isinstance(sources, dict)
    sources[SOURCE] = f"a live listing of {base}/torch/ read by ./dev facts"
    for release in data["releases"]:  # type: ignore[attr-defined]
        published = live.get(release["torch"])
        if published is None:
            continue
        release["variants"] = [v for v in release["variants"] if v["name"] in published]
        for variant in release["variants"]:
            variant["source"], variant["checked"] = SOURCE, True
        known = {variant["name"] for variant in release["variants"]}
        for name in sorted(published - known):
            release["variants"].append(
                {"name": name, "status": "experimental", "source": SOURCE, "checked": True}
            )
    FACTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev facts", description=__doc__)
    parser.add_argument("--write", action="store_true", help="apply the differences")
    args = parser.parse_args(argv)
    base = os.environ.get("POETRY_TORCH_INDEX_BASE", DEFAULT_BASE).rstrip("/")
    try:
        live = live_variants(base)
    except IndexAccessError as exc:
        reason = str(exc).split(";", 1)[0]
        sys.stdout.write(f"offline: {reason}; facts.json unchanged\n")
        return 2
    data = json.loads(FACTS.read_text(encoding="utf-8"))
    lines = diff(data, live)
    sys.stdout.write(("\n".join(lines) if lines else f"facts.json agrees with {base}") + "\n")
    if args.write and lines:
        write(data, live, base)
        sys.stdout.write(f"wrote {FACTS}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
