"""Whether an explicitly chosen build (``--cuda 13.0``, ``--rocm 6.4``) can run on this machine,
decided before anything is downloaded; and which build ``--cuda auto`` picks, and why.

Only checked facts refuse; an unchecked row (facts.json says which) only warns.  With no GPU at
all (CI runners, images built on CPU hosts) the install goes ahead with a one-line note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from poetry_torch_plugin.core.facts import arch_row
from poetry_torch_plugin.core.facts import arch_supported
from poetry_torch_plugin.core.facts import archs_for
from poetry_torch_plugin.core.facts import build_for
from poetry_torch_plugin.core.facts import companion_published
from poetry_torch_plugin.core.facts import driver_at_least
from poetry_torch_plugin.core.facts import driver_floor
from poetry_torch_plugin.core.facts import driver_supports
from poetry_torch_plugin.core.facts import is_newer_than_table
from poetry_torch_plugin.core.facts import min_driver_for_cuda
from poetry_torch_plugin.core.facts import mps_macos_floor
from poetry_torch_plugin.core.facts import newest_release
from poetry_torch_plugin.core.facts import os_of
from poetry_torch_plugin.core.facts import release_for
from poetry_torch_plugin.core.facts import torch_minor
from poetry_torch_plugin.core.machine import jetson_line
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import from_index_name


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.core.facts import Facts
    from poetry_torch_plugin.core.machine import AmdGpu
    from poetry_torch_plugin.core.machine import Gpu
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant


@record
class Finding:
    """One reason a build may not run here, worded once for install and check alike:
    ``code`` is check's verdict code, ``checked`` whether the fact behind it was checked
    (only those refuse; the others warn)."""

    code: str
    text: str
    checked: bool


@record
class Fit:
    """The decision: ``refusal`` (one line, the install stops) or go ahead, with ``notes``
    (one line each: unchecked facts that say it may not run, or no GPU to check against)."""

    refusal: str | None = None
    notes: tuple[str, ...] = ()
    problem: str | None = None  # what was found against what is needed, for --force's warning
    forcible: bool = True  # False where --force cannot help (no such build for this OS)
    findings: tuple[Finding, ...] = ()  # what check reports as verdicts, in the same words

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def _instead(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: Iterable[str],
    pick: Variant | None = None,
) -> str:
    """What to run instead: ``--cuda auto`` and the build it would pick here (``pick``, when
    the caller judged it against the lock or the index; else from the facts)."""
    picked = pick
    if picked is None:
        name, _ = choose_auto_variant(facts, machine, torch_version, companions=companions)
        picked = from_index_name(name)
    if picked is None or picked == variant:
        return "run `poetry torch install --cuda auto`"
    return (
        f"run `poetry torch install --cuda auto` (picks {picked.index_name} here)"
        f" or `poetry torch install {picked.option}`"
    )


def judge_variant(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: Iterable[str] = (),
    *,
    option: str | None = None,
    pick: Variant | None = None,
) -> Fit:
    """Whether ``variant`` of that torch (None: the newest the facts list it for) can run here.

    Refuses when a checked fact says the NVIDIA driver is older than the build's floor, or a
    detected GPU's architecture is not among the build's; ``option`` is how the user asked for
    it (``--cuda 13.0``), for the message; ``pick``, what ``auto`` picks here (the refusal
    names it; by default the facts' pick for that release).
    """
    asked = option or f"--{variant.kind} {variant.dotted}".rstrip()
    if machine.platform.lower().startswith("darwin") and variant.kind != "cpu":
        mps = "Apple MPS available" if machine.mps else "no Apple MPS"
        macos = f"macOS {machine.macos}, " if machine.macos else ""
        return Fit(
            refusal=(
                f"{asked}: PyTorch publishes no {variant.kind.upper()} builds for macOS (this is"
                f" {machine.platform}, {macos}{mps}); nothing was changed. Run `poetry torch"
                " install --cpu` (or `--cuda auto`, which picks it): the macOS wheels, the same"
                f" as PyPI's{', include MPS' if machine.mps else ''}."
            ),
            problem=f"no {variant.kind.upper()} builds for macOS",
            forcible=False,
        )
    if variant.kind == "xpu":
        if any(gpu.xpu for gpu in machine.intel_gpus):
            return Fit()
        if machine.intel_gpus:
            found = ", ".join(f"{gpu.name} ({gpu.device_id})" for gpu in machine.intel_gpus)
            return Fit(
                notes=(
                    f"{found} is not among the Intel GPUs PyTorch's xpu builds support (Arc,"
                    " Data Center GPU Max/Flex, Core Ultra graphics): installing xpu anyway.",
                )
            )
        return Fit(
            notes=(
                "No Intel GPU found on this machine: installing xpu anyway, unchecked (torch"
                " will fall back to the CPU here).",
            )
        )
    jetson = machine.jetpack_only
    if jetson is not None and variant.kind == "cuda":
        text = jetson_line(jetson)
        finding = Finding("jetson-needs-jetpack", text, True)
        return Fit(
            refusal=(
                f"{asked} cannot run on this machine: {text}. Nothing was downloaded or"
                " changed; run `poetry torch install --cpu` (what `--cuda auto` picks here) and"
                f" take torch for the GPU from NVIDIA's JetPack wheels, or add --force to"
                f" install {variant} anyway."
            ),
            problem=text,
            findings=(finding,),
        )
    if variant.kind == "rocm":
        return _judge_rocm(facts, machine, variant, torch_version, list(companions), asked, pick)
    if variant.kind != "cuda":
        return Fit()
    nvidia = machine.nvidia
    if nvidia is None or not nvidia.gpus:
        return Fit(
            notes=(
                f"No NVIDIA GPU found on this machine: installing {variant} anyway, unchecked"
                " (torch will fall back to the CPU here).",
            )
        )
    companions = list(companions)
    cuda = (variant.version[0], variant.version[1])
    findings: list[Finding] = []
    row = driver_floor(facts, cuda, os_of(machine.platform))
    reported = nvidia.cuda_driver_version
    runs = f" (it runs CUDA up to {reported[0]}.{reported[1]})" if reported else ""
    if row is not None and row.driver is not None:
        if not driver_at_least(nvidia.driver_version, row.driver):
            text = (
                f"NVIDIA driver {nvidia.driver_version} (for {gpu_names(nvidia.gpus)}) is older"
                f" than the {row.driver} that CUDA {cuda[0]}.x builds need{runs}"
            )
            checked = row.checked or (reported is not None and reported < cuda)
            findings.append(Finding("driver-too-old", text, checked))
    elif reported is not None and reported[0] < cuda[0]:
        text = (
            f"NVIDIA driver {nvidia.driver_version} runs CUDA up to"
            f" {reported[0]}.{reported[1]}, older than {variant.dotted}"
        )
        findings.append(Finding("driver-too-old", text, True))
    archs = arch_row(facts, variant.index_name, torch_version, machine.platform)
    if archs is not None and archs.value:
        for gpu in nvidia.gpus:
            cc = gpu.compute_capability
            if cc is None or arch_supported(archs.value, cc):
                continue
            text = (
                f"GPU {gpu.index} ({gpu.name}, sm_{cc[0]}{cc[1]}) is not among the"
                f" architectures of {variant} ({' '.join(archs.value)})"
            )
            findings.append(Finding("arch-not-in-build", text, archs.checked))
            break
    return _decided(facts, machine, variant, torch_version, companions, asked, findings, pick)


def _decided(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: list[str],
    asked: str,
    findings: list[Finding],
    pick: Variant | None = None,
) -> Fit:
    """Checked findings refuse (one line); unchecked ones are notes."""
    problems = [finding.text for finding in findings if finding.checked]
    notes = tuple(
        f"{finding.text} (an unchecked fact): installing {variant} anyway."
        for finding in findings
        if not finding.checked
    )
    if not problems:
        return Fit(notes=notes, findings=tuple(findings))
    instead = _instead(facts, machine, variant, torch_version, companions, pick)
    return Fit(
        refusal=(
            f"{asked} cannot run on this machine: {'; '.join(problems)}. Nothing was"
            f" downloaded or changed; {instead}, or add --force to install {variant} anyway."
        ),
        notes=notes,
        problem="; ".join(problems),
        findings=tuple(findings),
    )


def _judge_rocm(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: list[str],
    asked: str,
    pick: Variant | None = None,
) -> Fit:
    """A ROCm build runs where every AMD GPU's gfx target is in its list."""
    gpus = machine.amd_gpus
    if not gpus:
        if machine.rocm is not None:
            return Fit()
        return Fit(
            notes=(
                f"No AMD GPU or ROCm runtime found on this machine: installing {variant} anyway,"
                " unchecked (torch will fall back to the CPU here).",
            )
        )
    build = build_for(facts, variant.index_name, torch_version)
    gfx = build.gfx if build is not None else None
    if gfx is None or not gfx.value:
        return Fit()
    missing = [gpu for gpu in gpus if not gfx_fits(gfx.value, (gpu,))]
    if not missing:
        return Fit()
    findings = [
        Finding(
            "gfx-not-in-build",
            f"AMD GPU {gpu.index} ({gpu.name}, {gpu.gfx}) is not among the gfx targets of"
            f" {variant} ({' '.join(gfx.value)})",
            gfx.checked,
        )
        for gpu in missing
    ]
    return _decided(facts, machine, variant, torch_version, companions, asked, findings, pick)


# --- --cuda auto -----------------------------------------------------------------------------
# ``poetry torch install --cuda auto``: which build this machine should get, and why.


COMPANIONS = ("torchvision", "torchaudio")


@record
class Exact:
    """The exact torch release each candidate build would install, and where that was read
    (``poetry-torch.lock`` or ``the index``): what ``auto`` and the refusal judge by."""

    releases: Mapping[str, str]  # index name -> torch version (public: ``2.8.0``)
    where: str  # "in poetry-torch.lock", "on the index"

    def basis(self, name: str | None = None) -> str:
        """``torch 2.8.0 on the index`` (one build's, or every release named)."""
        if name is not None:
            return f"torch {self.releases[name]} {self.where}"
        versions = sorted(set(self.releases.values()), key=Version, reverse=True)
        return f"torch {', '.join(versions)} {self.where}"


@record
class AutoChoice:
    variant: Variant
    reason: str
    torch_version: str | None
    # candidates the live index ruled out, one line each: "cu130: torchaudio is not published on …"
    dropped: tuple[str, ...] = ()


def pinned_torch_version(requirements: Iterable[str]) -> str | None:
    """``2.8.0`` from ``torch==2.8.0`` (or ``2.8`` from ``torch==2.8.*``); None otherwise.

    Requirements that do not parse are skipped: ``torch install`` reports them itself.
    """
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != "torch":
            continue
        for spec in requirement.specifier:
            if spec.operator in ("==", "==="):
                return spec.version.removesuffix(".*").split("+", 1)[0]
    return None


def requirement_names(requirements: Iterable[str]) -> set[str]:
    """The canonical project names of the requirements that parse."""
    names: set[str] = set()
    for text in requirements:
        try:
            names.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    return names


def target_torch_version(
    requested: Iterable[str], configured: Iterable[str], installed: str | None
) -> str | None:
    """The torch release an install is for: a pin on the command line beats the configured
    one, which beats the torch already installed; None when there is none of them."""
    return (
        pinned_torch_version(requested)
        or pinned_torch_version(configured)
        or (installed.split("+", 1)[0] if installed else None)
    )


def choose(
    facts: Facts,
    machine: Machine,
    requested: Iterable[str] = (),
    configured: Iterable[str] = (),
    installed: str | None = None,
    published: Callable[[Variant], str | None] | None = None,
    exact: Exact | None = None,
) -> AutoChoice:
    """The newest build for this machine, for the torch release that will be installed.

    A torch pin on the command line beats the configured one, which beats the torch already
    installed (a switch keeps the release); with none of them, the newest release in the table.
    ``published`` is the live index's word on a candidate (see ``Published``).
    """
    requested, configured = list(requested), list(configured)
    version = target_torch_version(requested, configured, installed)
    companions = requirement_names([*requested, *configured]) & set(COMPANIONS)
    dropped: list[str] = []
    name, reason = choose_auto_variant(
        facts,
        machine,
        version,
        companions=sorted(companions),
        published=published,
        dropped=dropped,
        exact=exact,
    )
    variant = from_index_name(name) or CPU
    if exact is not None:
        version = exact.releases.get(variant.index_name, version)
    return AutoChoice(variant, reason, version, tuple(dropped))


def _candidates(
    facts: Facts,
    torch_version: str | None,
    available: Iterable[str] | None,
    exact: Exact | None = None,
) -> tuple[list[Variant], str]:
    """The builds to choose from, stable before experimental, each newest first, and how to
    name their torch in a reason.  With ``exact`` releases (the lock's, the index's), the
    builds are those it names, the newest (release, variant) pair first."""
    if exact is not None:
        releases = exact.releases
        builds = {v for v in map(from_index_name, releases) if v is not None}

        def pair(variant: Variant) -> tuple[Version, tuple[int, tuple[int, ...]]]:
            return (Version(releases[variant.index_name]), variant.sort_key())

        return sorted(builds, key=pair, reverse=True), exact.basis()
    minor = torch_minor(torch_version)
    basis = f"torch {minor}" if minor is not None else "torch"
    release = release_for(facts, torch_version)
    if release is None:
        newest = newest_release(facts).torch
        if minor is None:
            basis = f"the newest torch in the table ({newest})"
        elif is_newer_than_table(facts, torch_version):
            basis = f"torch {minor} (not in the table; assuming the builds of {newest})"
        release = newest_release(facts)
    names: Iterable[str] = (
        available if available is not None else (build.name for build in release.builds)
    )
    parsed = (from_index_name(name) for name in names)
    found = {variant for variant in parsed if variant is not None}

    def key(variant: Variant) -> tuple[bool, tuple[int, tuple[int, ...]]]:
        build = build_for(facts, variant.index_name, torch_version)
        return (build is None or build.status == "stable", variant.sort_key())

    return sorted(found, key=key, reverse=True), basis


def gpu_names(gpus: Sequence[Gpu]) -> str:
    shown = []
    for gpu in gpus:
        cc = gpu.compute_capability
        text = gpu.name if cc is None else f"{gpu.name} (sm_{cc[0]}{cc[1]})"
        if text not in shown:
            shown.append(text)
    return ", ".join(shown)


def gfx_fits(gfx: tuple[str, ...] | None, gpus: Sequence[AmdGpu]) -> bool:
    """Whether a ROCm build with that gfx list has kernels for every AMD GPU; an unknown list,
    or a GPU whose target is unknown, is trusted."""
    return gfx is None or all(gpu.gfx is None or gpu.gfx in gfx for gpu in gpus)


def _amd_names(gpus: Sequence[AmdGpu]) -> str:
    shown: list[str] = []
    for gpu in gpus:
        name = gpu.name if "AMD" in gpu.name.upper() else f"AMD {gpu.name}"
        text = name if gpu.gfx is None else f"{name} ({gpu.gfx})"
        if text not in shown:
            shown.append(text)
    return ", ".join(shown)


def _without_nvidia_gpu(
    facts: Facts,
    machine: Machine,
    builds: Sequence[Variant],
    basis: str,
    torch_version: str | None,
    usable: Callable[[Variant], bool],
    release: Callable[[Variant], str | None] | None = None,
) -> tuple[str, str]:
    if machine.rocm is not None or machine.amd_gpus:
        found = _amd_names(machine.amd_gpus) if machine.amd_gpus else f"ROCm {machine.rocm}"
        rocms = [build for build in builds if build.kind == "rocm"]
        fitting = False
        for rocm in rocms:
            exact = release(rocm) if release is not None else torch_version
            row = build_for(facts, rocm.index_name, exact)
            gfx = row.gfx.value if row is not None and row.gfx is not None else None
            if not gfx_fits(gfx, machine.amd_gpus):
                continue
            fitting = True
            if usable(rocm):
                return rocm.index_name, (
                    f"{found} found and no NVIDIA GPU;"
                    f" {rocm.index_name} is the newest ROCm build of {basis}"
                    + (" with kernels for it" if gfx and machine.amd_gpus else "")
                )
        if fitting:
            return (
                "cpu",
                f"{found} found, but no ROCm build of {basis} has every configured package",
            )
        if rocms:
            return "cpu", f"{found} found, but no ROCm build of {basis} has kernels for it"
        return "cpu", f"{found} found, but {basis} has no ROCm build"
    xpu_gpus = [gpu for gpu in machine.intel_gpus if gpu.xpu]
    if xpu_gpus:
        names = ", ".join(sorted({f"{gpu.name} ({gpu.device_id})" for gpu in xpu_gpus}))
        xpu = [build for build in builds if build.kind == "xpu"]
        if xpu and usable(xpu[0]):
            return (
                "xpu",
                f"{names} found and no NVIDIA or AMD GPU; xpu is {basis}'s Intel GPU build",
            )
        if xpu:
            return "cpu", f"{names} found, but {basis}'s xpu build lacks a configured package"
        return "cpu", f"{names} found, but {basis} has no xpu build"
    if machine.mps:
        floor = mps_macos_floor(facts, torch_version)
        old = (
            floor is not None
            and machine.macos is not None
            and version_tuple(machine.macos) < version_tuple(floor.macos)
        )
        return "cpu", (
            f"Apple Silicon{f', macOS {machine.macos}' if machine.macos else ''}: the macOS"
            " wheels of the cpu index (the same as PyPI's) include MPS"
            + (f", though {basis}'s needs macOS >= {floor.macos}" if old and floor else "")
        )
    if machine.platform.lower().startswith("darwin"):
        return "cpu", "no Apple MPS here: PyTorch's macOS wheels (the cpu index's) run on the CPU"
    if machine.nvidia is not None:
        return "cpu", f"NVIDIA driver {machine.nvidia.driver_version} found, but no GPU is visible"
    return "cpu", "no NVIDIA GPU found"


def _no_cuda_fits(
    facts: Facts, machine: Machine, cuda: Sequence[Variant], basis: str, runnable: bool
) -> str:
    nvidia = machine.nvidia
    assert nvidia is not None
    driver = nvidia.driver_version
    if not runnable:
        oldest = min(cuda, key=lambda variant: variant.sort_key())
        version = (oldest.version[0], oldest.version[1])
        floor = min_driver_for_cuda(facts, version, os_of(machine.platform))
        return (
            f"driver {driver} is too old for every CUDA build of {basis}"
            f" (the oldest, {oldest.index_name}, needs >= {floor}); upgrade the driver to use"
            f" {gpu_names(nvidia.gpus)}"
        )
    return (
        f"no CUDA build of {basis} that driver {driver} runs has kernels for"
        f" {gpu_names(nvidia.gpus)}"
    )


def _fits_gpus(archs: tuple[str, ...] | None, gpus: Sequence[Gpu]) -> bool:
    # An unknown arch list is trusted only where no GPU's compute capability is known.
    return all(
        gpu.compute_capability is None
        or (archs is not None and arch_supported(archs, gpu.compute_capability))
        for gpu in gpus
    )


def _companions_missing(
    facts: Facts, build: Variant, torch_version: str | None, companions: Iterable[str]
) -> list[str]:
    """The configured companions that the facts say are not published for ``build``."""
    return [
        name
        for name in companions
        if companion_published(facts, name, build.index_name, torch_version) is False
    ]


def choose_auto_variant(
    facts: Facts,
    machine: Machine,
    torch_version: str | None,
    available: Iterable[str] | None = None,
    companions: Iterable[str] = (),
    published: Callable[[Variant], str | None] | None = None,
    dropped: list[str] | None = None,
    exact: Exact | None = None,
) -> tuple[str, str]:
    """The variant ``--cuda auto`` installs, and a one-line reason.

    The newest stable (then experimental) CUDA build that exists for that torch (``available``,
    the index names the index lists, else the facts), that the driver runs, whose kernels cover
    every GPU, and for which every configured companion (torchaudio, torchvision) is published.
    ROCm without an NVIDIA GPU picks the newest ROCm build; everything else gets ``cpu``, and
    the reason says why.

    ``published`` asks the live index whether a candidate has a wheel of every configured
    package for the target (its answer, when it has one, beats the facts' companion table);
    each candidate it rules out is appended to ``dropped`` as ``"cu130: <why>"``.

    ``exact``: each candidate's own release (poetry-torch.lock's, or the newest on its index
    page that the project admits); the builds are those, judged by their own release's facts.
    """
    builds, basis = _candidates(facts, torch_version, available, exact)

    def release(build: Variant) -> str | None:
        if exact is not None:
            return exact.releases.get(build.index_name, torch_version)
        return torch_version

    def build_basis(build: Variant) -> str:
        return exact.basis(build.index_name) if exact is not None else basis

    companions = list(companions)
    jetson = machine.jetpack_only
    if jetson is not None:
        return "cpu", f"{jetson_line(jetson)}; cpu is the build of this index that runs here"
    gone = dropped if dropped is not None else []

    def live(build: Variant) -> str | None:
        """The index's objection to ``build`` ("" none), None when it was not asked."""
        answer = published(build) if published is not None else None
        if answer:
            gone.append(f"{build.index_name}: {answer}")
        return answer

    def usable(build: Variant) -> bool:
        answer = live(build)
        if answer is not None:
            return not answer
        return not _companions_missing(facts, build, release(build), companions)

    nvidia = machine.nvidia
    if nvidia is None or not nvidia.gpus:
        return _without_nvidia_gpu(facts, machine, builds, basis, torch_version, usable, release)
    cuda = [build for build in builds if build.kind == "cuda"]
    if not cuda:
        return "cpu", f"{basis} has no CUDA build"
    os_name = os_of(machine.platform)
    runnable = False
    skipped: list[str] = []
    for build in cuda:
        version = (build.version[0], build.version[1])
        if not driver_supports(facts, nvidia.driver_version, version, os_name):
            continue
        runnable = True
        archs = archs_for(facts, build.index_name, release(build), machine.platform)
        if not _fits_gpus(archs, nvidia.gpus):
            continue
        answer = live(build)
        if answer:
            skipped.append(f"{build.index_name} (not on the index)")
            continue
        missing = (
            [] if answer == "" else _companions_missing(facts, build, release(build), companions)
        )
        if missing:
            skipped.append(f"{build.index_name} (no {', '.join(missing)})")
            continue
        note = f"; skipped {', '.join(skipped)}" if skipped else ""
        return build.index_name, (
            f"{build.index_name} is the newest CUDA build of {build_basis(build)} that driver"
            f" {nvidia.driver_version} runs (needs >= {min_driver_for_cuda(facts, version, os_name)})"
            f" with kernels for {gpu_names(nvidia.gpus)}{note}"
        )
    reason = _no_cuda_fits(facts, machine, cuda, basis, runnable)
    if skipped:
        reason += f"; skipped {', '.join(skipped)}"
    return "cpu", reason
