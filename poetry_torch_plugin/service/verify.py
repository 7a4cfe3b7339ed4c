"""Every way the environment differs from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.core.variants import from_cuda_version
from poetry_torch_plugin.core.variants import from_local_label
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.env.installed import requires_of


if TYPE_CHECKING:
    from collections.abc import Mapping

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import InstalledDist
    from poetry_torch_plugin.env.installed import TargetEnv


# Packages whose builds differ per variant (their version or version.py names it).
_VARIANT_BUILDS = frozenset({"torch", "torchvision", "torchaudio"})


@record
class Problem:
    name: str
    text: str


def verify(
    settings: TorchConfig, target: TargetEnv, variant: Variant, *, companions: bool = False
) -> list[Problem]:
    """Every way the environment differs from the configuration (empty when all is right);
    with ``companions`` (the hook), also a configured torchvision/torchaudio that does not
    belong with the installed torch, which a reinstall of the configured packages repairs."""
    installed = installed_distributions(target.site_packages)
    problems: list[Problem] = []
    for requirement in settings.requirements:
        name = canonicalize_name(requirement.name)
        dist = installed.get(name)
        if dist is None:
            problems.append(Problem(name, f"{name} is not installed"))
            continue
        if not dist.is_complete():
            problems.append(Problem(name, f"{name} {dist.version} is half-installed"))
            continue
        try:
            version = Version(dist.version)
        except InvalidVersion:
            problems.append(Problem(name, f"{name} has an unreadable version {dist.version!r}"))
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append(Problem(name, f"{name} {dist.version} does not satisfy {requirement}"))
            continue
        found = dist.variant()
        if found is not None and found != variant and name in _VARIANT_BUILDS:
            problems.append(
                Problem(name, f"{name} {dist.build_version()} is a {found} build, not {variant}")
            )
            continue
        inside = dist.runtime_variant() if name == "torch" else None
        pip_rocm = rocm_package(installed) if variant.kind == "rocm" else None
        if name == "torch" and pip_rocm is not None:
            # ROCm 7.14 and later come as pip packages (``rocm``), not inside torch's files
            inside = from_cuda_version(None, pip_rocm.version)
        if inside is not None and not _built_for(inside, variant):
            # the label says the right variant, the files another (torch.version.cuda/hip)
            problems.append(
                Problem(
                    name,
                    f"{name} {dist.version} is labelled {found or variant} but its files were"
                    f" built for {_runtime(inside)}, not {variant}",
                )
            )
    if companions:
        flagged = {problem.name for problem in problems}
        configured = {canonicalize_name(req.name) for req in settings.requirements}
        problems += [
            p
            for p in companion_mismatches(installed)
            if p.name not in flagged and p.name in configured
        ]
    return problems


def rocm_package(installed: Mapping[str, InstalledDist]) -> InstalledDist | None:
    """The pip-installed ROCm (``rocm``, else ``rocm-sdk-core``) that torch 2.14's ROCm 7.14
    builds and later require instead of bundling it; None for a build that bundles ROCm."""
    return installed.get("rocm") or installed.get("rocm-sdk-core")


def _built_for(inside: Variant, variant: Variant) -> bool:
    """Whether version.py's CUDA/HIP version fits ``variant``: the same CUDA X.Y; a HIP
    version's X.Y for ROCm (``rocm6.2.4`` builds say hip 6.2.x); no CUDA or HIP for the CPU and
    Intel (xpu) builds."""
    if variant.kind in ("cpu", "xpu"):
        return inside.kind == "cpu"
    return inside.kind == variant.kind and inside.version[:2] == variant.version[:2]


def _runtime(inside: Variant) -> str:
    if inside.kind == "cuda":
        return f"CUDA {inside.dotted} (torch.version.cuda)"
    if inside.kind == "rocm":
        return f"ROCm {inside.dotted} (torch.version.hip)"
    return "no GPU runtime (torch.version.cuda and hip are None)"


COMPANIONS = ("torchvision", "torchaudio")


def companion_mismatches(installed: Mapping[str, InstalledDist]) -> list[Problem]:
    """torchvision/torchaudio that do not belong with the installed torch (their
    ``Requires-Dist: torch==X`` or their build label): the one verdict ``poetry torch check``
    and the hook both use (issue 12, item 18)."""
    torch = installed.get("torch")
    if torch is None:
        return []
    return _mismatches(installed, torch.version, torch.variant(), torch.build_version())


def companions_left(
    installed: Mapping[str, InstalledDist], locked: Mapping[str, str]
) -> list[Problem]:
    """The installed torchvision/torchaudio that installing ``locked`` (``{name: version}``,
    the versions with their labels) would leave behind, not belonging with the torch it
    installs: the verdict ``companion_mismatches`` would give once the install is done."""
    version = locked.get("torch")
    if version is None:
        return []
    rest = {name: dist for name, dist in installed.items() if name not in locked}
    return _mismatches(rest, version, from_local_label(version), version)


def _mismatches(
    installed: Mapping[str, InstalledDist],
    version: str,
    torch_variant: Variant | None,
    shown: str,
) -> list[Problem]:
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        torch_version: Version | None = Version(version)
    except InvalidVersion:
        torch_version = None
    problems: list[Problem] = []
    for name in COMPANIONS:
        dist = installed.get(name)
        if dist is None:
            continue
        pin = None
        for line in requires_of(dist):
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if canonicalize_name(requirement.name) == "torch" and requirement.specifier:
                pin = requirement
                break
        if (
            pin is not None
            and torch_version is not None
            and not pin.specifier.contains(torch_version, prereleases=True)
        ):
            problems.append(
                Problem(
                    name,
                    f"{name} {dist.build_version()} requires torch{pin.specifier}, but torch is"
                    f" {shown}",
                )
            )
            continue
        found = dist.variant()
        if found is not None and torch_variant is not None and found != torch_variant:
            problems.append(
                Problem(
                    name,
                    f"{name} {dist.build_version()} is a {found} build, but torch"
                    f" {shown} is a {torch_variant} build",
                )
            )
    return problems


def foreign_builds(
    settings: TorchConfig,
    source: Source,
    dists: Mapping[str, InstalledDist],
    elsewhere: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """The configured packages in ``dists`` that did not come from ``source``, grouped by where
    they came from: PyPI's builds (an untagged dist-info version whose version.py names a
    build) or a direct URL or file install from elsewhere (its ``direct_url.json``).  Each text
    names the packages, the origin and the tool that installed them (``INSTALLER``)."""
    # the URL as written and without its login (pip records the latter); only the URL is
    # needed, so no credentials are looked up (Poetry's keyring costs ~0.1 s offline)
    prefixes = [source.url.rstrip("/") + "/", without_login(source.url).rstrip("/") + "/"]
    groups: dict[str, list[str]] = {}
    for name in (canonicalize_name(n) for n in settings.package_names):
        dist = dists.get(name)
        if dist is None or not dist.is_complete():
            continue
        url = dist.direct_url()
        if url is not None and without_login(url) in (elsewhere or {}).get(name, frozenset()):
            continue
        if url is not None and not url.startswith(tuple(prefixes)):
            where = f"installed from {redact(url)}"  # a login in the URL is never shown
        elif url is None and dist.build_version().startswith(f"{dist.version}+"):
            # PyPI publishes 2.8.0 whose version.py says 2.8.0+cu128; PyTorch's indexes
            # publish 2.8.0+cu128 (only macOS builds carry no label, in either place).  A
            # version.py of another version is a leftover, not this build's.
            where = "untagged, as PyPI publishes them"
        else:
            continue
        by = dist.installer()
        groups.setdefault(f"{where}, by {by}" if by else where, []).append(f"{name} {dist.version}")
    return [f"{', '.join(names)} ({where})" for where, names in groups.items()]
