"""``./dev facts``: compare the published variants in facts.json with an index listing.

Reads ``<base>/torch/`` (download.pytorch.org's page of every torch wheel; ``base`` is
POETRY_TORCH_INDEX_BASE or https://download.pytorch.org/whl), or, where that page lists no
wheels (a mirror of per-variant indexes), ``<base>/<variant>/torch/`` for every variant
``<base>/`` lists.  ``--listing FILE_OR_DIR`` reads saved copies of those pages instead (a
file, or a folder of them, e.g. ``whl/torch/index.html`` and ``whl/cu130/torch/index.html``):
a saved listing speaks only for the variants it names, so a folder of some variants' pages
never removes the others.  Prints the differences; ``--write`` applies them to the variants
of the releases facts.json already has (added ones as experimental, to be reviewed).  Exit 0
when the listing was read, 2 when the index cannot be reached or the saved listing read
(one line).
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import os
import re
import sys
import urllib.parse
import urllib.request

from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename
from packaging.utils import parse_wheel_filename

from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.pages import fetch_listing


FACTS = Path(__file__).resolve().parents[1] / "poetry_torch_plugin" / "data" / "facts.json"
DEFAULT_BASE = "https://download.pytorch.org/whl"
VARIANT = re.compile(r"^(cpu|xpu|cu1\d\d|rocm\d+\.\d+(\.\d+)?)$")
ANCHOR = re.compile(r"<a\s[^>]*href=[\"']([^\"']+)[\"']", re.IGNORECASE)
TIMESTAMP = re.compile(r"<!--\s*TIMESTAMP\s+(\d+)\s*-->")
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


class SavedListingError(Exception):
    """A saved listing that cannot be read, or that names no torch wheel."""


def _variant_of(parts: tuple[str, ...]) -> str | None:
    """The nearest folder name that is a variant (``whl/cu130/torch/index.html``: cu130)."""
    return next((part for part in reversed(parts) if VARIANT.match(part)), None)


def saved_variants(path: Path) -> tuple[dict[str, set[str]], set[str], str]:
    """torch minor -> variants, as saved pages of an index say; the variants they speak for;
    and what was read (for the source line).  SavedListingError in one line otherwise.

    A wheel's variant is its local label (``+cu130``), else the folder its link points into
    (PyTorch's pages link ``https://download-r2.pytorch.org/whl/cu130/torch-…`` or
    ``/whl/cpu/torch-…``), else the folder the page was saved in.
    """
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        pages = [(page, page.read_text(encoding="utf-8", errors="replace")) for page in files]
    except OSError as exc:
        raise SavedListingError(f"cannot read the saved listing {path} ({exc})") from None
    found: dict[str, set[str]] = {}
    stamps: list[int] = []
    for page, body in pages:
        where = page.relative_to(path).parts[:-1] if path.is_dir() else page.parts[:-1]
        stamps += [int(stamp) for stamp in TIMESTAMP.findall(body)]
        for href in ANCHOR.findall(body):
            link = urllib.parse.urlsplit(html.unescape(href)).path
            folders, _, filename = link.rpartition("/")
            variant = _variant_of(tuple(folders.split("/"))) or _variant_of(where)
            _published([urllib.parse.unquote(filename)], found, variant)
    if not found:
        raise SavedListingError(
            f"the saved listing {path} names no torch wheel (save <base>/torch/ or"
            " <base>/<variant>/torch/, not the page of projects)"
        )
    when = ""
    if stamps:
        days = sorted(
            {datetime.datetime.fromtimestamp(s, datetime.timezone.utc).date() for s in stamps}
        )
        when = f", pages dated {days[0]}" + (f" to {days[-1]}" if len(days) > 1 else "")
    covered = set().union(*found.values())
    return found, covered, f"a saved listing ({path.name}{when}) read by ./dev facts --listing"


def diff(
    data: dict[str, object], live: dict[str, set[str]], covered: set[str] | None = None
) -> list[str]:
    """The differences, ``covered`` (None: every variant) limiting what may be missing."""
    rows: list[dict[str, Any]] = data["releases"]  # type: ignore[assignment]
    releases = {str(r["torch"]): r for r in rows}
    lines = []
    for minor in sorted(live, key=lambda m: tuple(int(p) for p in m.split("."))):
        if minor not in releases:
            lines.append(f"+ {minor}: {' '.join(sorted(live[minor]))} (a release facts.json lacks)")
            continue
        known = {variant["name"] for variant in releases[minor]["variants"]}
        judged = known if covered is None else known & covered
        lines += [f"+ {minor} {name}" for name in sorted(live[minor] - known)]
        lines += [f"- {minor} {name}" for name in sorted(judged - live[minor])]
    return lines


def write(
    data: dict[str, object],
    live: dict[str, set[str]],
    described: str,
    covered: set[str] | None = None,
) -> None:
    sources = data["sources"]
    assert isinstance(sources, dict)
    sources[SOURCE] = described
    for release in data["releases"]:  # type: ignore[attr-defined]
        published = live.get(release["torch"])
        if published is None:
            continue
        release["variants"] = [
            v
            for v in release["variants"]
            if v["name"] in published or (covered is not None and v["name"] not in covered)
        ]
        for variant in release["variants"]:
            if covered is None or variant["name"] in covered:
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
    parser.add_argument(
        "--listing",
        metavar="FILE_OR_DIR",
        type=Path,
        help="read saved copies of the index pages instead of the live index",
    )
    args = parser.parse_args(argv)
    covered: set[str] | None = None
    if args.listing is not None:
        try:
            live, covered, described = saved_variants(args.listing)
        except SavedListingError as exc:
            sys.stdout.write(f"{exc}; facts.json unchanged\n")
            return 2
        shown = str(args.listing)
    else:
        base = os.environ.get("POETRY_TORCH_INDEX_BASE", DEFAULT_BASE).rstrip("/")
        try:
            live = live_variants(base)
        except IndexAccessError as exc:
            reason = str(exc).split(";", 1)[0]
            sys.stdout.write(f"offline: {reason}; facts.json unchanged\n")
            return 2
        shown, described = base, f"a live listing of {base}/torch/ read by ./dev facts"
    data = json.loads(FACTS.read_text(encoding="utf-8"))
    lines = diff(data, live, covered)
    sys.stdout.write(("\n".join(lines) if lines else f"facts.json agrees with {shown}") + "\n")
    if args.write and lines:
        write(data, live, described, covered)
        sys.stdout.write(f"wrote {FACTS}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
