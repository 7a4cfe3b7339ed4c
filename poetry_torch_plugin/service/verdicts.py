"""The verdicts of ``poetry torch check``, each with the command that fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.env.layout import EnvState
from poetry_torch_plugin.env.layout import env_python
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from poetry_torch_plugin.core.config import Source
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import InstalledDist
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.project.read import ProjectState


from poetry_torch_plugin.service.machine_fit import gpus_text
from poetry_torch_plugin.service.machine_fit import machine_fit
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.verdict import ERROR
from poetry_torch_plugin.service.verdict import FIX_AUTO
from poetry_torch_plugin.service.verdict import FIX_INSTALL
from poetry_torch_plugin.service.verdict import SHOWN
from poetry_torch_plugin.service.verdict import WARNING
from poetry_torch_plugin.service.verdict import Verdict


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
        if settings is not None and variant is not None and source is not None:
            self.origin(settings, source)
        if torch is not None and torch.is_complete():
            self.companions(torch)
            self.machine_fit(torch, variant)

    def origin(self, settings: TorchConfig, source: Source) -> None:
        """One line for every build of the family that did not come from the configured
        source (e.g. installed while the plugin was missing)."""
        from poetry_torch_plugin.service.verify import foreign_builds

        dists = {n: d for n, d in self.env.dists.items() if n in SHOWN and n not in self.flagged}
        foreign = foreign_builds(settings, source, dists)
        if foreign:  # a provenance warning: the other verdicts still judge these builds
            self.add(
                "foreign-build",
                WARNING,
                f"{'; '.join(foreign)} did not come from {source.name}"
                " (maybe installed while the plugin was missing): run"
                f" `{FIX_INSTALL}` to put the configured build back",
                FIX_INSTALL,
            )

    def lock(self, project: ProjectState, source: Source | None) -> None:
        """Drift between the part of poetry-torch.lock this machine replays and the
        environment (nothing without a lock)."""
        from poetry_torch_plugin.env.drift import lock_drift
        from poetry_torch_plugin.env.installed import TargetEnv
        from poetry_torch_plugin.project.lockstate import lock_state

        if project.settings is None or source is None:
            return
        try:
            state = lock_state(project.pyproject, source, project.settings)
        except TorchPluginError:
            return
        root = self.env.root
        target = TargetEnv(root, env_python(root) or root, self.env.site_packages) if root else None
        part = machine_part(state, project.settings, target)
        if part.missing:
            self.add("lock-no-entry", WARNING, part.problem or "", part.fix)
        elif part.problem is not None and part.choice is None:
            self.add("lock-stale", WARNING, part.problem, part.fix)
        if part.lock is not None:
            for text in lock_drift(part.lock, self.env.dists):
                self.add("lock-drift", WARNING, text, FIX_INSTALL)

    def companions(self, torch: InstalledDist) -> None:
        """The same verdict the hook acts on (``verify.companion_mismatches``)."""
        from poetry_torch_plugin.service.verify import companion_mismatches

        del torch  # read from the environment, as the hook reads it
        for problem in companion_mismatches(self.env.dists):
            if problem.name not in self.flagged:
                self.add("companion-mismatch", ERROR, problem.text, FIX_INSTALL)

    def machine_fit(self, torch: InstalledDist, configured: Variant | None) -> None:
        machine_fit(self, torch, configured)

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
                f" {gpus_text(self.machine)}{detail}",
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
