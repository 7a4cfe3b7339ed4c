"""Whether an explicitly chosen build (``--cuda 13.0``, ``--rocm 6.4``) can run on this machine,
decided before anything is downloaded.

Only checked facts refuse; an unchecked row (facts.json says which) only warns.  With no GPU at
all (CI runners, images built on CPU hosts) the install goes ahead with a one-line note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.auto import choose_auto_variant
from poetry_torch_plugin.core.auto import gfx_fits
from poetry_torch_plugin.core.auto import gpu_names
from poetry_torch_plugin.core.facts import arch_row
from poetry_torch_plugin.core.facts import arch_supported
from poetry_torch_plugin.core.facts import build_for
from poetry_torch_plugin.core.facts import driver_at_least
from poetry_torch_plugin.core.facts import driver_floor
from poetry_torch_plugin.core.facts import os_of
from poetry_torch_plugin.core.machine import jetson_line
from poetry_torch_plugin.core.variants import from_index_name


if TYPE_CHECKING:
    from collections.abc import Iterable

    from poetry_torch_plugin.core.facts import Facts
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant


@dataclass(frozen=True)
class Finding:
    """One reason a build may not run here, worded once for install and check alike:
    ``code`` is check's verdict code, ``checked`` whether the fact behind it was checked
    (only those refuse; the others warn)."""

    code: str
    text: str
    checked: bool


@dataclass(frozen=True)
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
) -> str:
    """What to run instead: ``--cuda auto`` and the build it would pick here."""
    name, _ = choose_auto_variant(facts, machine, torch_version, companions=companions)
    picked = from_index_name(name)
    if picked is None or picked == variant:
        return "run `poetry torch install --cuda auto`"
    if picked.kind == "cuda":
        older = f"--cuda {picked.dotted}"
    elif picked.kind == "rocm":
        older = f"--rocm {picked.dotted}"
    elif picked.kind == "xpu":
        older = "--xpu"
    else:
        older = "--cpu"
    return (
        f"run `poetry torch install --cuda auto` (picks {picked.index_name} here)"
        f" or `poetry torch install {older}`"
    )


def judge_variant(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: Iterable[str] = (),
    *,
    option: str | None = None,
) -> Fit:
    """Whether ``variant`` of that torch (None: the newest the facts list it for) can run here.

    Refuses when a checked fact says the NVIDIA driver is older than the build's floor, or a
    detected GPU's architecture is not among the build's; ``option`` is how the user asked for
    it (``--cuda 13.0``), for the message.
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
        return _judge_rocm(facts, machine, variant, torch_version, list(companions), asked)
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
    return _decided(facts, machine, variant, torch_version, companions, asked, findings)


def _decided(
    facts: Facts,
    machine: Machine,
    variant: Variant,
    torch_version: str | None,
    companions: list[str],
    asked: str,
    findings: list[Finding],
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
    instead = _instead(facts, machine, variant, torch_version, companions)
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
    return _decided(facts, machine, variant, torch_version, companions, asked, findings)
