"""PyTorch build variants: parse "12.9" / "cu129" / "cpu" / "rocm6.4" / "xpu" into one ordered
value."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.errors import VariantError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

# ``12.9``, or a bare major (``13``), which means its .0 release (``13.0``)
# (patterns as text: re compiles them on first use, not when the hook's modules load)
_CUDA_DOTTED = r"^(1\d)(?:\.(\d))?$"
_ROCM_DOTTED = r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{1,2}))?$"


@record
class Family:
    """One accelerator family as PyTorch publishes it: one index per version (``cu129``,
    ``rocm6.4``) or one index for the family (``cpu``, ``xpu``).

    ``index`` matches an index name (a pattern's text: compiled on first use, not when the
    hook's modules load), its groups the version parts, which ``separator`` joins
    back after ``prefix``; ``source_prefix`` starts the ``[[tool.poetry.source]]`` name
    (``pytorch_cuda_cu129``, with the index name's dots as underscores); ``option`` is
    ``poetry torch install``'s option; ``rank`` orders variants of different families
    (cpu < xpu < rocm < cuda, then by version); ``title`` starts the description."""

    kind: str
    index: str
    prefix: str
    separator: str
    source_prefix: str
    option: str
    rank: int
    title: str

    def match_index(self, name: str) -> tuple[int, ...] | None:
        """The version parts of an index name of this family (``()`` for cpu/xpu), else None.
        ``index`` begins with ``^`` and ``prefix`` (a test holds every row to it), so a name
        of another family is turned away before its pattern is compiled or run."""
        if not name.startswith(self.prefix):
            return None
        match = re.match(self.index, name)
        if match is None:
            return None
        return tuple(int(part) for part in match.groups() if part is not None)


# One row per accelerator family: a new family is one row here, a probe in machine/, a run rule
# in core.fit, and its option on `poetry torch install`.
FAMILIES = (
    Family(
        kind="cpu",
        index=r"^cpu$",
        prefix="cpu",
        separator="",
        source_prefix="pytorch_",
        option="--cpu",
        rank=0,
        title="CPU only",
    ),
    Family(
        kind="xpu",
        index=r"^xpu$",
        prefix="xpu",
        separator="",
        source_prefix="pytorch_",
        option="--xpu",
        rank=1,
        title="Intel GPU",
    ),
    Family(
        kind="rocm",
        index=r"^rocm(\d{1,2})\.(\d{1,2})(?:\.(\d{1,2}))?$",
        prefix="rocm",
        separator=".",
        source_prefix="pytorch_",
        option="--rocm",
        rank=2,
        title="ROCm",
    ),
    Family(
        kind="cuda",
        index=r"^cu(1\d)(\d)$",
        prefix="cu",
        separator="",
        source_prefix="pytorch_cuda_",
        option="--cuda",
        rank=3,
        title="CUDA",
    ),
)
_BY_KIND = {family.kind: family for family in FAMILIES}


@record
class Variant:
    """One PyTorch build flavour, as PyTorch's index names it (``cu129``, ``cpu``, ``rocm6.4``)."""

    kind: str
    version: tuple[int, ...] = ()

    @property
    def family(self) -> Family:
        return _BY_KIND[self.kind]

    @property
    def index_name(self) -> str:
        """The last path segment of the index URL, also the wheel's local version label."""
        family = self.family
        return family.prefix + family.separator.join(str(part) for part in self.version)

    @property
    def source_name(self) -> str:
        """The ``[[tool.poetry.source]]`` name the plugin writes for this variant
        (``pytorch_cuda_cu129``, ``pytorch_rocm6_4``, ``pytorch_cpu``)."""
        return self.family.source_prefix + self.index_name.replace(".", "_")

    @property
    def local_label(self) -> str:
        return self.index_name

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.version)

    @property
    def option(self) -> str:
        """``poetry torch install``'s option for this variant: ``--cuda 12.9``, ``--cpu``."""
        return f"{self.family.option} {self.dotted}" if self.version else self.family.option

    def describe(self) -> str:
        title = self.family.title
        return (
            f"{title} {self.dotted} ({self.index_name})"
            if self.version
            else f"{title} ({self.index_name})"
        )

    def sort_key(self) -> tuple[int, tuple[int, ...]]:
        return (self.family.rank, self.version)

    def __str__(self) -> str:
        return self.index_name


@record
class Source:
    name: str
    url: str
    priority: str

    @property
    def variant(self) -> Variant | None:
        return from_url(self.url) or from_source_name(self.name)


CPU = Variant("cpu")
XPU = Variant("xpu")


def _shown(value: str) -> str:
    """Quote a user value for an error message without letting it span lines."""
    clean = value.encode("unicode_escape").decode("ascii")
    return repr(clean if len(clean) <= 40 else clean[:37] + "...")


def parse_cuda(value: str, published: Callable[[], Sequence[Variant]] | None = None) -> Variant:
    """Parse ``12.9``, ``cu129`` or a bare major, ``13``, which means 13.0 (where
    ``published()`` lists no such build, it is refused like a typo); anything else raises
    VariantError, which names the CUDA builds ``published()`` returns and the nearest one."""
    text = value.strip().lower()
    match = re.match(_CUDA_DOTTED, text) or re.match(_BY_KIND["cuda"].index, text)
    variant = (
        Variant("cuda", (int(match.group(1)), int(match.group(2) or 0)))
        if match is not None
        else None
    )
    bare_major = match is not None and match.group(2) is None
    if variant is None or (bare_major and not _published_or_unknown(variant, published)):
        raise VariantError(
            f"invalid --cuda value {_shown(value)}: expected a CUDA version such as 12.9 or an"
            " index name such as cu129 (or 'auto')",
            kept="nothing was changed",
            next=_way_forward(text, "cuda", published),
        )
    return variant


def _published_or_unknown(
    variant: Variant, published: Callable[[], Sequence[Variant]] | None
) -> bool:
    """Whether ``variant`` is among the published builds of its family (True when there is no
    list to ask)."""
    known = [other for other in (published() if published else ()) if other.kind == variant.kind]
    return not known or variant in known


def _way_forward(text: str, kind: str, published: Callable[[], Sequence[Variant]] | None) -> str:
    """The ``next`` of an invalid-value refusal: the builds PyTorch publishes of that family
    and the one nearest to what was typed (``12.99`` -> 12.9), else where to look."""
    family = _BY_KIND[kind]
    known = sorted(published(), key=Variant.sort_key) if published is not None else []
    known = [variant for variant in known if variant.kind == kind]
    if not known:
        return "Run `poetry torch check` to see what this machine supports."
    listed = ", ".join(variant.dotted for variant in known)
    typed = re.match(rf"^(?:{family.prefix})?(\d+(?:\.\d+)*)", text)
    if typed is None:
        return (
            f"PyTorch publishes builds for {family.title} {listed}; run"
            f" `poetry torch install {family.option} auto` to pick the one this machine runs, or"
            " `poetry torch check` to see what it supports."
        )
    digits = typed.group(1)
    parts = [int(part) for part in digits.split(".")]
    if kind == "cuda" and "." not in digits and len(digits) >= 3:
        parts = [int(digits[:2]), int(digits[2:])]  # cu129's digits: 12 and 9

    def distance(variant: Variant) -> tuple[int, ...]:
        size = max(len(parts), len(variant.version))
        ours = parts + [0] * (size - len(parts))
        theirs = list(variant.version) + [0] * (size - len(variant.version))
        return tuple(abs(a - b) for a, b in zip(ours, theirs))

    same_major = [variant for variant in known if variant.version[:1] == tuple(parts[:1])]
    # "12.x", "cu12": the newest 12.*; else the one nearest part by part
    candidates = same_major[-1:] if len(parts) == 1 and same_major else known
    nearest = min(reversed(candidates), key=distance)
    return (
        f"PyTorch publishes builds for {family.title} {listed}; the nearest is {nearest.dotted}:"
        f" run `poetry torch install {nearest.option}`, or `poetry torch check` to see what this"
        " machine supports."
    )


def parse_rocm(value: str, published: Callable[[], Sequence[Variant]] | None = None) -> Variant:
    """Parse ``6.4`` or ``rocm6.4``; anything else raises VariantError, which names the ROCm
    builds ``published()`` returns and the nearest one when given."""
    text = value.strip().lower()
    match = re.match(_ROCM_DOTTED, text) or re.match(_BY_KIND["rocm"].index, text)
    if match is None:
        forward = _way_forward(text, "rocm", published) if published is not None else ""
        raise VariantError(
            f"invalid --rocm value {_shown(value)}: expected a ROCm version such as 6.4 or an"
            " index name such as rocm6.4",
            kept="nothing was changed",
            next=forward or "Run e.g. `poetry torch install --rocm 6.4`.",
        )
    parts = tuple(int(part) for part in match.groups() if part is not None)
    return Variant("rocm", parts)


def from_index_name(name: str) -> Variant | None:
    """``cu129`` / ``cpu`` / ``rocm6.4`` -> Variant; None for anything else."""
    text = name.strip().lower()
    for family in FAMILIES:
        version = family.match_index(text)
        if version is not None:
            return Variant(family.kind, version)
    return None


def from_local_label(version: str) -> Variant | None:
    """The variant in a version's local label: ``2.8.0+cu129`` -> cu129; None without one."""
    _, plus, label = version.partition("+")
    return from_index_name(label) if plus else None


def from_source_name(name: str) -> Variant | None:
    """``pytorch_cuda_cu129`` / ``pytorch_cpu`` / ``pytorch_xpu`` / ``pytorch_rocm6_4`` ->
    Variant: a family's source prefix, then its index name with underscores for dots."""
    text = name.strip().lower()
    for family in FAMILIES:
        rest = text[len(family.source_prefix) :]
        if not text.startswith(family.source_prefix) or "." in rest:
            continue
        version = family.match_index(rest.replace("_", "."))
        if version is not None:
            return Variant(family.kind, version)
    return None


def from_url(url: str) -> Variant | None:
    """The variant named by the last path segment of an index URL (``…/whl/cu129``)."""
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return from_index_name(path.rsplit("/", 1)[-1])


CHANNELS = ("stable", "test", "nightly")


def channel_of(url: str) -> str:
    """The PyTorch channel of an index URL: ``…/whl/nightly/cu130`` -> ``nightly``,
    ``…/whl/test/cu130`` -> ``test``, anything else ``stable``."""
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    segments = path.split("/")
    return segments[-2] if len(segments) >= 2 and segments[-2] in CHANNELS[1:] else "stable"


def parse_channel(value: str) -> str:
    """``--channel stable|test|nightly``; anything else raises VariantError."""
    text = value.strip().lower()
    if text not in CHANNELS:
        raise VariantError(
            f"invalid --channel value {_shown(value)}: expected stable, test or nightly",
            kept="nothing was changed",
            next="Run e.g. `poetry torch install --cuda 13.0 --channel nightly`.",
        )
    return text


def channel_base(index_base: str, channel: str) -> str:
    """The index base of a channel: ``…/whl`` + ``/test`` or ``/nightly``; stable unchanged."""
    base = index_base.rstrip("/")
    return base if channel == "stable" else f"{base}/{channel}"


def from_cuda_version(cuda: str | None, hip: str | None = None) -> Variant:
    """The variant of a build from ``torch.version.cuda`` / ``torch.version.hip`` values."""
    if cuda:
        parts = cuda.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return Variant("cuda", (int(parts[0]), int(parts[1])))
    if hip:
        parts = [part for part in hip.split(".")[:2] if part.isdigit()]
        if len(parts) == 2:
            return Variant("rocm", (int(parts[0]), int(parts[1])))
    return CPU
