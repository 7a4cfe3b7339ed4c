"""The verdicts of ``poetry torch check``, each with the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.facts import arch_row
from poetry_torch_plugin.core.facts import arch_supported
from poetry_torch_plugin.core.facts import driver_at_least
from poetry_torch_plugin.core.facts import driver_floor
from poetry_torch_plugin.core.facts import os_of
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import InstalledDist
from poetry_torch_plugin.env.installed import requires_of
from poetry_torch_plugin.env.layout import EnvState
from poetry_torch_plugin.env.layout import env_python
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.project.read import ProjectState


# The packages shown in the environment section, whatever the configuration lists.
OK, WARNING, ERROR = "ok", "warning", "error"
SHOWN = ("torch", "torchvision", "torchaudio")
COMPANIONS = ("torchvision", "torchaudio")
FIX_INSTALL = "poetry torch install"
FIX_AUTO = "poetry torch install --cuda auto"


@dataclass(frozen=True)
class Verdict:
    """One finding: ``code`` is stable (for --json), ``fix`` the command that repairs it."""

    code: str
    level: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "message": self.message, "fix": self.fix}


def torch_pin(dist: InstalledDist) -> Requirement | None:
    """The ``Requires-Dist: torch==X`` of a companion (torchvision, torchaudio), if any."""
    for line in requires_of(dist):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == "torch" and requirement.specifier:
            return requirement
    return None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


class _Verdicts:
    def __init__(self, machine: Machine, environment: EnvState, require_gpu: bool) -> None:
        self.machine = machine
        self.env = environment
        self.require_gpu = require_gpu
        self.found: list[Verdict] = []
        self.flagged: set[str] = set()

    def add(self, code: str, level: str, message: str, fix: str | None = None) -> None:
        self.found.append(Verdict(code, level, message, fix))

    def project(self, project: ProjectState) -> tuple[Source | None, Variant | None]:
        settings = project.settings
        if project.error is not None or settings is None:
            self.add("config-error", ERROR, project.error or "unreadable pyproject.toml")
            return None, None
        if not settings.sources:
            self.add(
                "not-configured",
                ERROR,
                "pyproject.toml has no pytorch source, so there is nothing to check against",
                FIX_AUTO,
            )
            return None, None
        try:
            source = settings.source()
        except TorchPluginError as exc:
            self.add("config-error", ERROR, str(exc), "poetry torch install --cuda X.Y")
            return None, None
        if source is None or source.variant is None:
            self.add("config-error", ERROR, "the pytorch source names no variant", FIX_AUTO)
            return source, None
        return source, source.variant

    def environment(
        self, settings: TorchConfig | None, variant: Variant | None, source: Source | None
    ) -> None:
        from poetry_torch_plugin.env.installed import TargetEnv
        from poetry_torch_plugin.service.verify import verify

        dists = self.env.dists
        names = {*SHOWN, *(settings.package_names if settings else ())}
        for name in sorted(names):
            dist = dists.get(name)
            if dist is not None and not dist.is_complete():
                self.flagged.add(name)
                self.add(
                    "half-installed",
                    ERROR,
                    f"{name} {dist.version} is half-installed ({dist.dist_info.name} has no"
                    " RECORD or METADATA: an interrupted pip)",
                    FIX_INSTALL,
                )
        torch = dists.get("torch")
        if torch is None:
            self.flagged.add("torch")
            self.add(
                "torch-missing", ERROR, "torch is not installed in the environment", FIX_INSTALL
            )
        if settings is not None and variant is not None and self.env.root is not None:
            root = self.env.root
            target = TargetEnv(root, env_python(root) or root, self.env.site_packages)
            for problem in verify(settings, target, variant):
                if problem.name in self.flagged:
                    continue
                self.flagged.add(problem.name)
                where = source.name if source else variant.index_name
                self.add(
                    "build-mismatch",
                    ERROR,
                    f"{problem.text} (configured: {where}, {variant.describe()})",
                    FIX_INSTALL,
                )
        if torch is not None and torch.is_complete():
            self.companions(torch)
            self.machine_fit(torch, variant)

    def lock(self, project: ProjectState, source: Source | None) -> None:
        """Drift between poetry-torch.lock and the environment (nothing without a lock)."""
        from poetry_torch_plugin.env.drift import lock_drift
        from poetry_torch_plugin.project.lockstate import lock_state

        if project.settings is None or source is None:
            return
        try:
            state = lock_state(project.pyproject, source, project.settings)
        except TorchPluginError:
            return
        problem = state.problem()
        if problem is not None:
            from poetry_torch_plugin.core.lockfile import UPGRADE

            fix = UPGRADE if state.newer else "poetry torch lock"
            self.add("lock-stale", WARNING, problem, fix)
        elif state.lock is not None:
            for text in lock_drift(state.lock, self.env.dists):
                self.add("lock-drift", WARNING, text, FIX_INSTALL)

    def companions(self, torch: InstalledDist) -> None:
        """The same verdict the hook acts on (``verify.companion_mismatches``)."""
        from poetry_torch_plugin.service.verify import companion_mismatches

        del torch  # read from the environment, as the hook reads it
        for problem in companion_mismatches(self.env.dists):
            if problem.name not in self.flagged:
                self.add("companion-mismatch", ERROR, problem.text, FIX_INSTALL)

    def machine_fit(self, torch: InstalledDist, configured: Variant | None) -> None:
        """Whether this machine can run the build: the installed one, or, when that is about
        to be replaced (it does not match the configuration), the configured one."""
        machine = self.machine
        if not machine.has_gpu:
            self.add(
                "no-gpu",
                ERROR if self.require_gpu else WARNING,
                "no GPU found on this machine: torch runs on the CPU here (expected on CI runners)",
                None,
            )
            return
        if "torch" in self.flagged:
            build, subject, version = configured, f"the configured {configured} build", None
        else:
            build, subject = torch.variant(), f"torch {torch.build_version()}"
            version = torch.version
        nvidia = machine.nvidia
        if build is None:
            return
        if build.kind == "cpu" and (machine.has_nvidia_gpu or machine.rocm is not None):
            self.add(
                "cpu-build-on-gpu",
                ERROR if self.require_gpu else WARNING,
                f"{subject} is a CPU-only build, but this machine has {_gpus_text(machine)}",
                FIX_AUTO,
            )
            return
        if build.kind != "cuda" or nvidia is None or not nvidia.gpus:
            return
        cuda = (build.version[0], build.version[1])
        facts = load_facts()
        row = driver_floor(facts, cuda, os_of(machine.platform))
        floor = row.driver if row is not None else None
        known_too_old = floor is not None and not driver_at_least(nvidia.driver_version, floor)
        reported = nvidia.cuda_driver_version
        if known_too_old or (floor is None and reported is not None and reported[0] < cuda[0]):
            runs = f" (runs CUDA up to {reported[0]}.{reported[1]})" if reported else ""
            needs = f" needs a driver >= {floor}" if floor else f" needs CUDA {build.dotted}"
            # A floor not checked against its source only warns (facts.json says which).
            unchecked = (
                row is not None
                and not row.checked
                and not (reported is not None and reported[0] < cuda[0])
            )
            self.add(
                "driver-too-old",
                WARNING if unchecked else ERROR,
                f"NVIDIA driver {nvidia.driver_version}{runs} is too old for {subject},"
                f" which{needs}{' (unchecked fact)' if unchecked else ''}; upgrade the driver,"
                " or install a build this driver runs",
                FIX_AUTO,
            )
        archs = arch_row(facts, build.index_name, version, machine.platform)
        if archs is None or not archs.value:
            return
        for gpu in nvidia.gpus:
            cc = gpu.compute_capability
            if cc is not None and not arch_supported(archs.value, cc):
                self.add(
                    "arch-not-in-build",
                    ERROR if archs.checked else WARNING,
                    f"GPU {gpu.index} ({gpu.name}, sm_{cc[0]}{cc[1]}) is not among the"
                    f" architectures of {subject} ({' '.join(archs.value)})"
                    f"{'' if archs.checked else ' (unchecked fact)'}",
                    FIX_AUTO,
                )

    def runtime(self, runtime: RuntimeResult) -> None:
        if runtime.error is not None:
            self.add(
                "runtime-failed", ERROR, f"torch failed at run time: {runtime.error}", FIX_INSTALL
            )
            return
        torch = self.env.dists.get("torch")
        build = torch.variant() if torch is not None else None
        gpu_build = runtime.cuda_version is not None or (build is not None and build.kind == "cuda")
        if self.machine.has_nvidia_gpu and gpu_build and not runtime.cuda_available:
            detail = f": {runtime.cuda_error}" if runtime.cuda_error else ""
            self.add(
                "cuda-unavailable",
                ERROR,
                f"torch.cuda.is_available() is False although this machine has"
                f" {_gpus_text(self.machine)}{detail}",
                FIX_AUTO,
            )
        if runtime.op_ok is False:
            self.add(
                "gpu-op-failed",
                ERROR,
                f"a tiny tensor operation on {runtime.device_name or 'the GPU'} failed:"
                f" {runtime.op_error or 'wrong result'}",
                FIX_AUTO,
            )

    def summary(self, variant: Variant | None, source: Source | None) -> str:
        shown = [
            f"{name} {dist.build_version()}"
            for name in SHOWN
            if (dist := self.env.dists.get(name)) is not None
        ]
        where = (
            f"{source.name}, {variant.describe()}" if source and variant else "the configuration"
        )
        fits = " and this machine" if self.machine.has_gpu else ""
        return f"{', '.join(shown) or 'the environment'} match {where}{fits}"


def _gpus_text(machine: Machine) -> str:
    if machine.nvidia is not None and machine.nvidia.gpus:
        names = sorted({gpu.name for gpu in machine.nvidia.gpus})
        count = len(machine.nvidia.gpus)
        return f"{count} NVIDIA GPU{'s' if count > 1 else ''} ({', '.join(names)})"
    if machine.rocm is not None:
        return f"ROCm {machine.rocm}"
    return "a GPU"
