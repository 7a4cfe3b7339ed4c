"""What ``poetry torch check`` reports: the machine, the project environment, the configuration,
and the verdicts that compare them, each with the command that fixes it.

Everything is read from disk: the environment's ``*.dist-info`` and ``torch/version.py``,
never ``import torch`` (``--runtime`` is the one exception, and lives in ``runtime.py``).
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from poetry_torch_plugin import facts
from poetry_torch_plugin.detection import machine_to_dict
from poetry_torch_plugin.environment import InstalledDist
from poetry_torch_plugin.environment import installed_distributions
from poetry_torch_plugin.environment import requires_of
from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.config import Source
    from poetry_torch_plugin.config import TorchConfig
    from poetry_torch_plugin.detection import Machine
    from poetry_torch_plugin.runtime import RuntimeResult
    from poetry_torch_plugin.variants import Variant

OK, WARNING, ERROR = "ok", "warning", "error"
# The packages shown in the environment section, whatever the configuration lists.
SHOWN = ("torch", "torchvision", "torchaudio")
COMPANIONS = ("torchvision", "torchaudio")
FIX_INSTALL = "poetry torch install"
FIX_AUTO = "poetry torch install --cuda auto"
_PYVENV_VERSION = re.compile(r"^\s*(?:version|version_info)\s*=\s*(\d+\.\d+(?:\.\d+)?)", re.M)
_LIB_PYTHON = re.compile(r"python(\d+\.\d+)")


@dataclass(frozen=True)
class Verdict:
    """One finding: ``code`` is stable (for --json), ``fix`` the command that repairs it."""

    code: str
    level: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class ProjectState:
    """pyproject.toml as far as check needs it; ``error`` when it cannot be understood."""

    pyproject: Path
    name: str | None
    settings: TorchConfig | None
    error: str | None = None

    @property
    def source(self) -> Source | None:
        if self.settings is None or len(self.settings.sources) != 1:
            return None
        return self.settings.sources[0]


@dataclass(frozen=True)
class EnvState:
    """The project environment read from disk; ``root`` is None when there is none yet."""

    root: Path | None
    python_version: str | None = None
    site_packages: tuple[Path, ...] = ()
    dists: dict[str, InstalledDist] = field(default_factory=dict, compare=False)


def _load_toml(path: Path) -> dict[str, Any]:
    from poetry_torch_plugin.config import parse_toml

    return parse_toml(path.read_bytes().decode("utf-8"))


def read_project(pyproject: Path) -> ProjectState:
    """Parse pyproject.toml (tomllib, tomlkit before 3.11) and read its torch configuration."""
    from poetry_torch_plugin.config import read_config

    try:
        data = _load_toml(pyproject)
    except OSError as exc:
        return ProjectState(pyproject, None, None, f"cannot read {pyproject}: {exc.strerror}")
    except Exception as exc:  # tomllib, tomlkit and UnicodeDecodeError disagree on their types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ProjectState(pyproject, None, None, f"{pyproject.name} is not valid TOML ({reason})")
    project = data.get("project")
    poetry = data.get("tool", {}).get("poetry") if isinstance(data.get("tool"), dict) else None
    name = (project or {}).get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) and isinstance(poetry, dict):
        name = poetry.get("name")
    name = name if isinstance(name, str) else None
    try:
        return ProjectState(pyproject, name, read_config(data))
    except TorchPluginError as exc:
        return ProjectState(pyproject, name, None, str(exc))


def site_packages_of(root: Path) -> tuple[Path, ...]:
    """``lib/python*/site-packages`` (and ``lib64``), ``Lib/site-packages`` on Windows, else
    Debian's ``dist-packages``."""
    found = [*sorted(root.glob("lib/python*/site-packages")), *root.glob("Lib/site-packages")]
    lib64 = sorted(root.glob("lib64/python*/site-packages"))
    found += [path for path in lib64 if path.resolve() not in {p.resolve() for p in found}]
    if not found:
        # A Debian/Ubuntu system Python (virtualenvs.create = false, root /usr): pip installs
        # into /usr/local/lib/python3.X/dist-packages, the distribution into lib/python3/...
        found = [
            *sorted((root / "local").glob("lib/python3*/dist-packages")),
            *sorted(root.glob("lib/python3*/dist-packages")),
        ]
    return tuple(found)


def python_version_of(root: Path, site_packages: tuple[Path, ...] = ()) -> str | None:
    """From ``pyvenv.cfg`` (venv, virtualenv and uv write it), else the ``lib/pythonX.Y`` name."""
    try:
        match = _PYVENV_VERSION.search((root / "pyvenv.cfg").read_text(encoding="utf-8"))
    except OSError:
        match = None
    if match is not None:
        return match.group(1)
    named = (_LIB_PYTHON.search(str(path)) for path in site_packages)
    return next((found.group(1) for found in named if found is not None), None)


def read_environment(root: Path | None) -> EnvState:
    if root is None:
        return EnvState(None)
    site = site_packages_of(root)
    return EnvState(root, python_version_of(root, site), site, installed_distributions(site))


def env_python(root: Path) -> Path | None:
    """The interpreter of an environment root (no Python is run to find it)."""
    for candidate in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
        path = root / candidate
        if path.is_file():
            return path
    return None


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


@dataclass(frozen=True)
class Report:
    machine: Machine
    environment: EnvState
    project: ProjectState
    verdicts: tuple[Verdict, ...]
    runtime: RuntimeResult | None = None
    require_gpu: bool = False

    @property
    def ok(self) -> bool:
        return all(verdict.level != ERROR for verdict in self.verdicts)

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
            },
            "runtime": self.runtime.to_dict() if self.runtime else None,
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
        }


def _source_dict(source: Source | None) -> dict[str, str] | None:
    if source is None:
        return None
    from poetry_torch_plugin.index import redact

    return {"name": source.name, "url": redact(source.url), "priority": source.priority}


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
        verdicts.environment(project.settings, variant, source)
        verdicts.lock(project, source)
    if runtime is not None:
        verdicts.runtime(runtime)
    if not any(verdict.level == ERROR for verdict in verdicts.found):
        verdicts.found.insert(0, Verdict("ok", OK, verdicts.summary(variant, source)))
    return Report(
        machine, environment, project, tuple(verdicts.found), runtime, require_gpu=require_gpu
    )


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
        from poetry_torch_plugin.environment import TargetEnv
        from poetry_torch_plugin.service import verify

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
        from poetry_torch_plugin import torchlock

        if project.settings is None or source is None:
            return
        try:
            state = torchlock.lock_state(project.pyproject, source, project.settings)
        except TorchPluginError:
            return
        problem = state.problem()
        if problem is not None:
            self.add("lock-stale", WARNING, problem, "poetry torch lock")
        elif state.lock is not None:
            for text in torchlock.lock_drift(state.lock, self.env.dists):
                self.add("lock-drift", WARNING, text, FIX_INSTALL)

    def companions(self, torch: InstalledDist) -> None:
        torch_version = _version(torch.version)
        torch_variant = torch.variant()
        for name in COMPANIONS:
            dist = self.env.dists.get(name)
            if dist is None or name in self.flagged:
                continue
            pin = torch_pin(dist)
            if (
                pin is not None
                and torch_version is not None
                and not pin.specifier.contains(torch_version, prereleases=True)
            ):
                self.add(
                    "companion-mismatch",
                    ERROR,
                    f"{name} {dist.build_version()} requires torch{pin.specifier}, but torch is"
                    f" {torch.build_version()}",
                    FIX_INSTALL,
                )
                continue
            found = dist.variant()
            if found is not None and torch_variant is not None and found != torch_variant:
                self.add(
                    "companion-mismatch",
                    ERROR,
                    f"{name} {dist.build_version()} is a {found} build, but torch"
                    f" {torch.build_version()} is a {torch_variant} build",
                    FIX_INSTALL,
                )

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
        floor = facts.min_driver_for_cuda(cuda)
        known_too_old = floor is not None and not facts.driver_supports(nvidia.driver_version, cuda)
        reported = nvidia.cuda_driver_version
        if known_too_old or (floor is None and reported is not None and reported[0] < cuda[0]):
            runs = f" (runs CUDA up to {reported[0]}.{reported[1]})" if reported else ""
            needs = f" needs a driver >= {floor}" if floor else f" needs CUDA {build.dotted}"
            self.add(
                "driver-too-old",
                ERROR,
                f"NVIDIA driver {nvidia.driver_version}{runs} is too old for {subject},"
                f" which{needs}; upgrade the driver, or install a build this driver runs",
                FIX_AUTO,
            )
        archs = facts.archs_for(build.index_name, version)
        if archs is None:
            return
        for gpu in nvidia.gpus:
            cc = gpu.compute_capability
            if cc is not None and not facts.arch_supported(archs, cc):
                self.add(
                    "arch-not-in-build",
                    ERROR,
                    f"GPU {gpu.index} ({gpu.name}, sm_{cc[0]}{cc[1]}) is not among the"
                    f" architectures of {subject} ({' '.join(archs)})",
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
