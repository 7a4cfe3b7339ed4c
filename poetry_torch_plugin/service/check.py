"""``poetry torch check``: read the project, its environment and the machine, and judge them: one
``Verdict`` each (its level and the command that fixes it), gathered in a ``Report``
(``service.render`` prints it as text or JSON).

Everything is read from disk: the environment's ``*.dist-info`` and ``torch/version.py``,
never ``import torch`` (``--runtime`` is the one exception, and lives in ``env/runtime.py``).
The lock verdicts judge the part of poetry-torch.lock this machine replays
(``service.plan.machine_part``), as the install and the hook do; a build that is not installed
is judged by the machine verdict of the plan they would apply (``service.choose.plan_for``)."""

from __future__ import annotations

import contextlib

from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin.core.facts import mps_macos_floor
from poetry_torch_plugin.core.facts import torch_minor
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import NewerLockError
from poetry_torch_plugin.core.machine import MPS_FIRST_MACOS
from poetry_torch_plugin.core.machine import jetson_line
from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.core.machine import version_tuple
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.variants import channel_of
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import EnvState
from poetry_torch_plugin.env.installed import InstalledDist
from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.env.installed import drift
from poetry_torch_plugin.env.installed import env_python
from poetry_torch_plugin.env.installed import read_environment
from poetry_torch_plugin.env.installed import requires_of
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.machine.detect import detect_machine
from poetry_torch_plugin.machine.detect import nvml_pending
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.seam.locate import locate_project_env
from poetry_torch_plugin.service.plan import as_built
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import with_choice
from poetry_torch_plugin.service.verify import companion_mismatches
from poetry_torch_plugin.service.verify import foreign_builds
from poetry_torch_plugin.service.verify import rocm_package
from poetry_torch_plugin.service.verify import verify


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.targets import VariantChoice
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.project.files import ProjectState
    from poetry_torch_plugin.service.plan import MachinePart
    from poetry_torch_plugin.service.plan import MachineVerdict


# Verdict levels: ``ok`` and ``info`` inform, a ``warning`` passes, an ``error`` fails check.
OK, INFO, WARNING, ERROR = "ok", "info", "warning", "error"
# The packages shown in the environment section, whatever the configuration lists.
SHOWN = ("torch", "torchvision", "torchaudio")
COMPANIONS = ("torchvision", "torchaudio")
FIX_INSTALL = "poetry torch install"
FIX_AUTO = "poetry torch install --cuda auto"


@record
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


def machine_fit(verdicts: _Verdicts, torch: InstalledDist, configured: Variant | None) -> None:
    """Whether this machine can run the build: the installed one, or, when that is about
    to be replaced (it does not match the configuration), the configured one."""
    machine = verdicts.machine
    if machine.platform.lower().startswith("darwin"):
        mps_fit(verdicts, torch.version if "torch" not in verdicts.flagged else None)
    if not machine.has_gpu:
        if configured is not None and configured.kind == "cpu" and not verdicts.require_gpu:
            return  # the project chose the CPU build: nothing is missing here
        verdicts.add(
            "no-gpu",
            ERROR if verdicts.require_gpu else WARNING,
            "no GPU found on this machine: torch runs on the CPU here (expected on CI runners)",
            None,
        )
        return
    planned = None
    if "torch" in verdicts.flagged:
        build, subject, version = configured, f"the configured {configured} build", None
        if build is not None and build.kind in ("cuda", "rocm"):
            # the verdict of the plan the install and the hook would apply here, not a guess
            planned = verdicts.planned(build)
            if planned is not None:
                subject = f"{subject} ({planned.judged_by})"
    else:
        build, subject = torch.variant(), f"torch {torch.build_version()}"
        version = torch.version
    if build is None:
        return
    jetson = machine.jetpack_only
    if build.kind == "cpu" and jetson is not None:
        verdicts.add(
            "jetson-needs-jetpack", WARNING, f"{subject} runs on the CPU: {jetson_line(jetson)}"
        )
        return
    if build.kind == "cpu" and (
        machine.has_nvidia_gpu
        or machine.rocm is not None
        or bool(machine.amd_gpus)
        or any(gpu.xpu for gpu in machine.intel_gpus)
    ):
        verdicts.add(
            "cpu-build-on-gpu",
            ERROR if verdicts.require_gpu else WARNING,
            f"{subject} is a CPU-only build, but this machine has {gpus_text(machine)}",
            FIX_AUTO,
        )
        return
    if build.kind not in ("cuda", "rocm"):
        return
    # The same decision, in the same words, as an explicit `poetry torch install --cuda X.Y`.
    fit = planned.fit if planned is not None and planned.fit is not None else None
    fit = fit or judge_variant(load_facts(), machine, build, version)
    for finding in fit.findings:
        verdicts.add(
            finding.code,
            ERROR if finding.checked else WARNING,
            f"{subject} cannot run here: {finding.text}"
            f"{'' if finding.checked else ' (an unchecked fact)'}",
            FIX_AUTO,
        )


def mps_fit(verdicts: _Verdicts, version: str | None) -> None:
    """On macOS: whether MPS is there, and the macOS that this torch release's MPS needs."""
    machine = verdicts.machine
    floor = mps_macos_floor(load_facts(), version)
    minor = torch_minor(version)
    release = f"torch {minor}" if minor else "the newest torch"
    needs = (
        f"{release}'s MPS needs macOS >= {floor.macos} ({floor.source}"
        f"{'' if floor.checked else ', unchecked'})"
        if floor is not None
        else f"the facts do not say which macOS {release}'s MPS needs"
    )
    macos = f"macOS {machine.macos}" if machine.macos else "this macOS"
    if not machine.mps:
        why = (
            "it needs Apple Silicon and an arm64 Python"
            if version_tuple(machine.macos) >= MPS_FIRST_MACOS or machine.macos is None
            else "it needs macOS 12.3 or newer"
        )
        verdicts.add("mps", WARNING, f"no Apple MPS on {macos}: {why}; {needs}")
        return
    if (
        machine.macos is not None
        and floor is not None
        and version_tuple(machine.macos) < version_tuple(floor.macos)
    ):
        verdicts.add(
            "mps-macos-too-old",
            ERROR if floor.checked else WARNING,
            f"{macos} is older than {floor.macos}: {needs}, so torch runs on the CPU here;"
            " upgrade macOS, or pin an older torch",
            None,
        )
        return
    verdicts.add("mps", OK, f"Apple MPS available on {macos}; {needs}")


def gpus_text(machine: Machine) -> str:
    if machine.nvidia is not None and machine.nvidia.gpus:
        names = sorted({gpu.name for gpu in machine.nvidia.gpus})
        count = len(machine.nvidia.gpus)
        return f"{count} NVIDIA GPU{'s' if count > 1 else ''} ({', '.join(names)})"
    if machine.amd_gpus:
        names = sorted({gpu.name for gpu in machine.amd_gpus})
        count = len(machine.amd_gpus)
        return f"{count} AMD GPU{'s' if count > 1 else ''} ({', '.join(names)})"
    if machine.rocm is not None:
        return f"ROCm {machine.rocm}"
    xpu = sorted({gpu.name for gpu in machine.intel_gpus if gpu.xpu})
    if xpu:
        return f"an Intel GPU ({', '.join(xpu)})"
    return "a GPU"


class _Verdicts:
    def __init__(self, machine: Machine, environment: EnvState, require_gpu: bool) -> None:
        self.machine = machine
        self.env = environment
        self.require_gpu = require_gpu
        self.found: list[Verdict] = []
        self.flagged: set[str] = set()
        # what ``lock_part`` read: the plan ``planned`` builds from them
        self.settings: TorchConfig | None = None
        self.source: Source | None = None
        self.part: MachinePart | None = None
        self.target: TargetEnv | None = None

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
        self,
        settings: TorchConfig | None,
        variant: Variant | None,
        source: Source | None,
        lock: TorchLock | None = None,
    ) -> None:
        if settings is not None and lock is not None:
            built = as_built(settings, lock)
            for name in sorted(set(settings.package_names) - set(built.package_names)):
                self.add(
                    "family-left-out",
                    INFO,
                    f"{name} is not part of this build ({LOCK_NAME} holds none: the variant's"
                    " index has no build of it that pairs with this torch)",
                )
            for package in lock.packages:
                if package.index:
                    self.add(
                        "family-elsewhere",
                        INFO,
                        f"{package.name} {package.version} comes from {redact(package.index)}"
                        " (the variant's index has no build of it that pairs with this torch)",
                    )
            settings = built

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
        pip_rocm = rocm_package(dists) if variant is not None and variant.kind == "rocm" else None
        if pip_rocm is not None and "torch" not in self.flagged:
            # ROCm 7.14 and later: torch requires ROCm as pip packages instead of bundling it
            self.add(
                "rocm-packages",
                INFO,
                f"ROCm {pip_rocm.version} comes from the {pip_rocm.name} package in the"
                " environment (the torch build requires it; it bundles no ROCm)",
            )
        if settings is not None and variant is not None and source is not None:
            self.origin(settings, source, lock)
        if torch is not None and torch.is_complete():
            self.companions(torch)
            self.machine_fit(torch, variant)

    def origin(self, settings: TorchConfig, source: Source, lock: TorchLock | None) -> None:
        """One line for every build of the family that did not come from the configured
        source (e.g. installed while the plugin was missing); a package the lock takes from
        another index (``service.family``) is not foreign when it came from its locked file."""
        dists = {n: d for n, d in self.env.dists.items() if n in SHOWN and n not in self.flagged}
        elsewhere = {
            p.name: frozenset(url for _, url in p.urls)
            for p in (lock.packages if lock is not None else ())
            if p.index
        }
        foreign = foreign_builds(settings, source, dists, elsewhere)
        if foreign:  # an error: the other verdicts still judge these builds
            self.add(
                "foreign-build",
                ERROR,
                f"{'; '.join(foreign)} did not come from {source.name}"
                " (maybe installed while the plugin was missing)",
                FIX_INSTALL,
            )

    def lock_part(self, project: ProjectState, source: Source | None) -> MachinePart | None:
        """The part of poetry-torch.lock this machine replays (None: nothing to read)."""
        if project.settings is None or source is None:
            return None
        try:
            state = lock_state(project.pyproject, source, project.settings)
        except NewerLockError:
            raise  # a newer plugin's lock: `check` stops in one line, as every command does
        except TorchPluginError:
            return None
        root = self.env.root
        target = TargetEnv(root, env_python(root) or root, self.env.site_packages) if root else None
        self.part = machine_part(state, project.settings, target)
        self.settings, self.source, self.target = project.settings, source, target
        return self.part

    def planned(self, variant: Variant) -> MachineVerdict | None:
        """The machine verdict of the ``Plan`` that ``poetry torch install`` and the hook would
        apply here (``service.choose.plan_for``, the one planner): ``variant`` judged for the
        release this machine's part of poetry-torch.lock pins, else the facts' guess (``check``
        reads no index).  None when there is no configuration or lock to plan from."""
        if self.settings is None or self.source is None:
            return None
        # the planner's module reads indexes: loaded only when a build not installed is judged
        from poetry_torch_plugin.service.choose import plan_for

        part = self.part.lock if self.part is not None else None
        plan = plan_for(
            self.settings, variant, self.source, part, self.target, machine=self.machine
        )
        return plan.verdict

    def lock(self, part: MachinePart | None) -> None:
        """Drift between the part of poetry-torch.lock this machine replays and the
        environment (nothing without a lock)."""
        if part is None:
            return
        if part.missing:
            self.add("lock-no-entry", WARNING, part.problem or "", part.fix)
        elif part.problem is not None and part.choice is None:
            self.add("lock-stale", WARNING, part.problem, part.fix)
        if part.lock is not None:
            # what the lock pins, missing or at another version, fails; a torch-family
            # package the lock does not hold is only named (an install leaves it there)
            for item in drift(part.lock, self.env.dists):
                level = WARNING if item.kind == "unlocked" else ERROR
                self.add("lock-drift", level, item.text, FIX_INSTALL if level == ERROR else None)

    def companions(self, torch: InstalledDist) -> None:
        """The same verdict the hook acts on (``verify.companion_mismatches``)."""
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


@record
class Report:
    machine: Machine
    environment: EnvState
    project: ProjectState
    verdicts: tuple[Verdict, ...]
    runtime: RuntimeResult | None = None
    require_gpu: bool = False
    # what matches (``Verdicts.summary``): the first verdict says it when nothing fails
    summary: str = ""

    @property
    def ok(self) -> bool:
        return all(verdict.level != ERROR for verdict in self.verdicts)

    @property
    def status(self) -> str:
        """``ok`` (nothing but information), ``warning`` (passes, with warnings) or ``error``
        (fails): the word the text's first verdict starts with."""
        levels = {verdict.level for verdict in self.verdicts}
        return ERROR if ERROR in levels else WARNING if WARNING in levels else OK

    def fixes(self) -> list[str]:
        """Each distinct fix the verdicts name, in their order: one line each in the text."""
        return list(dict.fromkeys(verdict.fix for verdict in self.verdicts if verdict.fix))

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def packages(self) -> list[dict[str, Any]]:
        """The torch family as installed, one entry per package in SHOWN (None when absent)."""
        rows = []
        for name in SHOWN:
            dist = self.environment.dists.get(name)
            variant = dist.variant() if dist is not None else None
            pin = torch_pin(dist) if dist is not None and name in COMPANIONS else None
            rows.append(
                {
                    "name": name,
                    "installed": dist is not None,
                    "version": dist.version if dist else None,
                    "build": dist.build_version() if dist else None,
                    "variant": variant.index_name if variant else None,
                    "variant_description": variant.describe() if variant else None,
                    "complete": dist.is_complete() if dist else None,
                    "requires_torch": str(pin.specifier) if pin else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        env = self.environment
        source = self.project.source
        settings = self.project.settings
        return {
            "ok": self.ok,
            "status": self.status,
            "exit_code": self.exit_code,
            "require_gpu": self.require_gpu,
            "machine": machine_to_dict(self.machine),
            "environment": {
                "path": str(env.root) if env.root else None,
                "python": env.python_version,
                "site_packages": [str(path) for path in env.site_packages],
                "packages": self.packages(),
            },
            "project": {
                "pyproject": str(self.project.pyproject),
                "name": self.project.name,
                "error": self.project.error,
                "source": _source_dict(source),
                "variant": source.variant.index_name if source and source.variant else None,
                "packages": list(settings.packages) if settings else [],
                "variant_choice": _choice_dict(settings.choice if settings else None),
                "installer": _installer_dict(settings.installer) if settings else None,
            },
            "runtime": self.runtime.to_dict() if self.runtime else None,
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
            "fixes": self.fixes(),
        }


def _source_dict(source: Source | None) -> dict[str, str] | None:
    if source is None:
        return None

    return {
        "name": source.name,
        "url": redact(source.url),
        "priority": source.priority,
        "channel": channel_of(source.url),
    }


def _installer_dict(name: str) -> dict[str, str | None]:
    """The installer the project names and the one that runs: ``auto`` is uv when a uv
    executable is found (not run here: ``check`` stays fast), else pip."""
    runs, path = name, None
    if name in ("auto", "uv"):
        from poetry_torch_plugin.installer import uv  # check's start-up: only when uv may run

        path = uv.find_uv()  # None for "uv": the hook will fail, and check says so beforehand
        runs = "uv" if path is not None or name == "uv" else "pip"
    return {"configured": name, "runs": runs, "path": path}


def _choice_dict(choice: VariantChoice | None) -> dict[str, str | None] | None:
    """Which rule chose the variant: ``rule`` is env, local config, pyproject or auto."""
    if choice is None:
        return None
    committed = choice.committed.index_name if choice.committed is not None else None
    return {
        "variant": choice.variant.index_name,
        "rule": choice.rule,
        "detail": choice.detail,
        "committed": committed,
    }


def build_report(
    machine: Machine,
    environment: EnvState,
    project: ProjectState,
    *,
    runtime: RuntimeResult | None = None,
    require_gpu: bool = False,
) -> Report:
    """Compare the three parts; the report is ok when no verdict is an error."""
    verdicts = _Verdicts(machine, environment, require_gpu)
    source, variant = verdicts.project(project)
    if environment.root is None:
        verdicts.add(
            "no-environment",
            ERROR,
            "this project has no environment yet (looked for an active VIRTUAL_ENV, .venv and"
            " Poetry's virtualenvs folder)",
            FIX_INSTALL,
        )
    else:
        part = verdicts.lock_part(project, source)
        verdicts.environment(project.settings, variant, source, part.lock if part else None)
        verdicts.lock(part)
    if runtime is not None:
        verdicts.runtime(runtime)
    summary = verdicts.summary(variant, source)
    return Report(
        machine,
        environment,
        project,
        summarized(verdicts.found, summary),
        runtime,
        require_gpu=require_gpu,
        summary=summary,
    )


def summarized(found: Sequence[Verdict], summary: str) -> tuple[Verdict, ...]:
    """The verdicts after the one that opens them: ``ok`` when nothing but information
    follows; ``passed`` (information) when warnings follow, which ``check`` passes with;
    none when an error follows (the errors say it, and ``check`` fails)."""
    rest = tuple(verdict for verdict in found if verdict.code not in ("ok", "passed"))
    warnings = sum(verdict.level == WARNING for verdict in rest)
    if any(verdict.level == ERROR for verdict in rest):
        return rest
    if warnings:
        below = f"{warnings} warning{'s' if warnings > 1 else ''} below"
        return (Verdict("passed", INFO, f"{summary}; check passes with the {below}"), *rest)
    return (Verdict("ok", OK, summary), *rest)


def check(
    pyproject: Path,
    *,
    runtime: bool = False,
    require_gpu: bool = False,
    note: Callable[[str], None] | None = None,
    index: bool = False,
) -> Report:
    """The report; with ``runtime``, torch is also imported in the environment (``note`` hears
    which interpreter runs it); with ``index``, the configured index's pages are read (see
    ``index_verdicts``).  Raises only when the project or its environment
    cannot be read or located (a TorchPluginError)."""
    project = read_project(pyproject)
    root = locate_project_env(pyproject.parent, project.name)
    environment = read_environment(root)
    project = _chosen(project, environment)
    if "torch" in environment.dists and nvml_pending():
        # what a GPU's verdict reads, parsed while the driver answers; a broken facts file is
        # reported where a verdict reads it, as without this (lru_cache keeps no exception)
        with contextlib.suppress(Exception):
            load_facts()
    machine = detect_machine()
    probed = _runtime(root, note) if runtime else None
    report = build_report(machine, environment, project, runtime=probed, require_gpu=require_gpu)
    if index:
        report = index_verdicts(report)
    return report


def _runtime(root: Path | None, note: Callable[[str], None] | None) -> RuntimeResult:

    from poetry_torch_plugin.env.runtime import RuntimeResult  # only `check --runtime`
    from poetry_torch_plugin.env.runtime import probe

    python = env_python(root) if root is not None else None
    if python is None:
        return RuntimeResult("", 0.0, error="the project environment has no Python")
    if note is not None:
        note(f"Running torch in {python} ...")
    return probe(python)


def _chosen(project: ProjectState, environment: EnvState) -> ProjectState:
    """The project with this machine's variant decided (env > poetry.toml > pyproject > auto);
    an invalid override is reported like an invalid pyproject.toml."""
    settings = project.settings
    if settings is None or not settings.active or (project.source is None and settings.sources):
        return project  # the verdicts say what is wrong with the configuration
    target = (
        TargetEnv(environment.root, environment.root, environment.site_packages)
        if environment.root is not None
        else None
    )
    try:
        return replace(project, settings=with_choice(settings, project.pyproject, target))
    except TorchPluginError as exc:
        return replace(project, settings=None, error=str(exc))


def index_verdicts(report: Report) -> Report:
    """``poetry torch check --index``: the report with what the configured index says added.

    Whether the configured variant's index has a wheel of every configured package for the
    environment's Python and platform (an error when not), and which ``--cuda auto``
    candidates it rules out, one verdict each.  Reads the network, so only on request."""
    settings, source = report.project.settings, report.project.source
    if settings is None or source is None or source.variant is None:
        return report  # the verdicts already say what is wrong with the configuration
    # the index readers only for `check --index`: an offline check imports no network code
    from poetry_torch_plugin.index.access import mirror_url
    from poetry_torch_plugin.index.pages import wanted_packages
    from poetry_torch_plugin.service.choose import LiveIndex
    from poetry_torch_plugin.service.choose import index_base_for
    from poetry_torch_plugin.service.choose import judge_build
    from poetry_torch_plugin.service.choose import locked_here
    from poetry_torch_plugin.service.choose import pages_for
    from poetry_torch_plugin.service.choose import wheel_target
    from poetry_torch_plugin.service.family import decide

    env = report.environment
    python = env_python(env.root) if env.root is not None else None
    env_target = TargetEnv(env.root, python, env.site_packages) if env.root and python else None
    tags = wheel_target(env_target)
    pages = pages_for(settings)
    found: list[Verdict] = []
    try:
        why = pages.missing(source.url, wanted_packages(settings.must_publish), tags)
    except IndexAccessError as exc:
        found.append(Verdict("index-unreadable", WARNING, f"could not read the index: {exc.what}"))
        return replace(report, verdicts=summarized((*report.verdicts, *found), report.summary))
    if why is not None:
        message = f"{source.variant.index_name}: {why}"
        found.append(Verdict("index-missing", ERROR, message, FIX_AUTO))
    else:
        names = ", ".join(wanted_packages(settings.must_publish))
        shown = redact(mirror_url(source.url, settings.index_base) or source.url)
        found.append(Verdict("index-ok", OK, f"{shown} has {names} for {tags.short}"))
        # the default family's torchaudio: from the index, PyPI, or not part of this build,
        # as `poetry torch install` decides it
        family = decide(settings, pages, source.url, tags, access_for(settings, source))
        if family.line is not None:
            found.append(Verdict("index-family", INFO, family.line))
    base = index_base_for(settings, None)
    live = LiveIndex(pages, base, settings.must_publish, tags)
    torch = env.dists.get("torch")
    # the same decision as `poetry torch install --cuda auto`: the lock, the index, the facts
    choice = judge_build(
        report.machine,
        (),
        settings.must_publish,
        torch.version if torch else None,
        live=live,
        locked=locked_here(report.project.pyproject, env_target),
    )
    found += [Verdict("auto-dropped", INFO, f"--cuda auto drops {line}") for line in choice.dropped]
    picks = f"--cuda auto picks {choice.variant} (judged for {choice.judged_by})"
    found.append(Verdict("auto-choice", INFO, picks))
    return replace(report, verdicts=summarized((*report.verdicts, *found), report.summary))
