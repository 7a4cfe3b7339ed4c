"""What ``poetry torch check`` reports: the machine, the project environment, the configuration,
and the verdicts that compare them.

Everything is read from disk: the environment's ``*.dist-info`` and ``torch/version.py``,
never ``import torch`` (``--runtime`` is the one exception, and lives in ``env/runtime.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.machine import machine_to_dict
from poetry_torch_plugin.service.verdict import COMPANIONS
from poetry_torch_plugin.service.verdict import ERROR
from poetry_torch_plugin.service.verdict import FIX_INSTALL
from poetry_torch_plugin.service.verdict import OK
from poetry_torch_plugin.service.verdict import SHOWN
from poetry_torch_plugin.service.verdict import Verdict
from poetry_torch_plugin.service.verdict import torch_pin
from poetry_torch_plugin.service.verdicts import _Verdicts


if TYPE_CHECKING:
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.targets import VariantChoice
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.env.installed import EnvState
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.project.files import ProjectState


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
                "variant_choice": _choice_dict(settings.choice if settings else None),
                "installer": _installer_dict(settings.installer) if settings else None,
            },
            "runtime": self.runtime.to_dict() if self.runtime else None,
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
        }


def _source_dict(source: Source | None) -> dict[str, str] | None:
    if source is None:
        return None
    from poetry_torch_plugin.core.urls import redact
    from poetry_torch_plugin.core.variants import channel_of

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
        from poetry_torch_plugin.installer.uv import find_uv

        path = find_uv()  # None for "uv": the hook will fail, and check says so beforehand
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
        verdicts.environment(project.settings, variant, source)
        verdicts.lock(project, source)
    if runtime is not None:
        verdicts.runtime(runtime)
    if not any(verdict.level == ERROR for verdict in verdicts.found):
        verdicts.found.insert(0, Verdict("ok", OK, verdicts.summary(variant, source)))
    return Report(
        machine, environment, project, tuple(verdicts.found), runtime, require_gpu=require_gpu
    )
