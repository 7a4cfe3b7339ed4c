"""``poetry torch check``: read the project, its environment and the machine, and compare them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.env.installed import read_environment
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.seam.locate import locate_project_env
from poetry_torch_plugin.service.report import build_report


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from poetry_torch_plugin.env.installed import EnvState
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.project.files import ProjectState
    from poetry_torch_plugin.service.report import Report


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
    ``service.published.index_verdicts``).  Raises only when the project or its environment
    cannot be read or located (a TorchPluginError)."""
    from poetry_torch_plugin.machine.detect import detect_machine

    project = read_project(pyproject)
    root = locate_project_env(pyproject.parent, project.name)
    environment = read_environment(root)
    project = _chosen(project, environment)
    machine = detect_machine()
    probed = _runtime(root, note) if runtime else None
    report = build_report(machine, environment, project, runtime=probed, require_gpu=require_gpu)
    if index:
        from poetry_torch_plugin.service.published import index_verdicts

        report = index_verdicts(report)
    return report


def _runtime(root: Path | None, note: Callable[[str], None] | None) -> RuntimeResult:
    from poetry_torch_plugin.env.installed import env_python
    from poetry_torch_plugin.env.runtime import RuntimeResult
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
    from dataclasses import replace

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.errors import TorchPluginError
    from poetry_torch_plugin.service.settings import with_choice

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
