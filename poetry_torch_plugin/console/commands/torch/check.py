"""``poetry torch check``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from pathlib import Path

    from cleo.io.inputs.option import Option

    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.env.runtime import RuntimeResult
    from poetry_torch_plugin.service.report import Report

_LEVEL_TAGS = {"ok": "info", "warning": "comment", "error": "error"}


def _e(text: object) -> str:
    """Escape a value for cleo's formatter (requirements such as torch<2.9 hold '<')."""
    from cleo.formatters.formatter import Formatter

    return Formatter.escape(str(text))


def _pair(value: tuple[int, int] | None) -> str:
    return f"{value[0]}.{value[1]}" if value else "unknown"


class TorchCheckCommand(TorchCommand):
    name = "torch check"
    description = (
        "Report this machine's GPUs and driver, the torch build in the project environment,"
        " and whether they match the configuration."
    )
    options: ClassVar[list[Option]] = [
        option("json", None, "Print the report as JSON."),
        option(
            "require-gpu",
            None,
            "Fail when no GPU is usable (without it, no GPU is a warning, as on CI runners).",
        ),
        option(
            "runtime",
            None,
            "Also import torch in the project environment (a subprocess, at most 120 s) and run"
            " a tiny tensor operation on the GPU.",
        ),
    ]
    help = """Reads the installed torch, torchvision and torchaudio from the environment's files,
without importing torch, and compares them with the <c1>pytorch_*</c1> source and with this
machine's driver and GPUs. Exits 0 only when the environment matches the configuration.

  <c1>poetry torch check</c1>
  <c1>poetry torch check --json</c1>
  <c1>poetry torch check --runtime --require-gpu</c1>
"""

    def handle(self) -> int:
        import json

        from cleo.io.outputs.output import Type

        from poetry_torch_plugin.env.layout import read_environment
        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.machine.detect import detect_machine
        from poetry_torch_plugin.project.read import read_project
        from poetry_torch_plugin.seam.locate import locate_project_env
        from poetry_torch_plugin.service.report import build_report

        try:
            pyproject = self.pyproject_path()
            project = read_project(pyproject)
            root = locate_project_env(pyproject.parent, project.name)
            environment = read_environment(root)
            machine = detect_machine()
        except TorchPluginError as error:
            return self.fail(error)
        runtime = self._runtime(root) if self.option("runtime") else None
        result = build_report(
            machine, environment, project, runtime=runtime, require_gpu=self.option("require-gpu")
        )
        if self.option("json"):
            self.io.write_line(json.dumps(result.to_dict(), indent=2), type=Type.RAW)
        else:
            self._render(result)
        return result.exit_code

    def _runtime(self, root: Path | None) -> RuntimeResult:
        from cleo.io.outputs.output import Verbosity

        from poetry_torch_plugin.env.layout import env_python
        from poetry_torch_plugin.env.runtime import RuntimeResult
        from poetry_torch_plugin.env.runtime import probe

        python = env_python(root) if root is not None else None
        if python is None:
            return RuntimeResult("", 0.0, error="the project environment has no Python")
        if not self.option("json"):
            self.line_error(f"Running torch in {_e(python)} ...", verbosity=Verbosity.VERBOSE)
        return probe(python)

    def _render(self, result: Report) -> None:
        self._machine(result.machine)
        self._environment(result)
        self._project(result)
        if result.runtime is not None:
            self._runtime_section(result.runtime)
        self.line("")
        self.line("<b>Verdict</b>")
        for verdict in result.verdicts:
            tag = _LEVEL_TAGS.get(verdict.level, "info")
            self.line(f"  <{tag}>{verdict.level}</{tag}>: {_e(verdict.message)}")
            if verdict.fix:
                self.line(f"      fix: <c1>{_e(verdict.fix)}</c1>")

    def _row(self, label: str, value: str) -> None:
        self.line(f"  <comment>{label:<14}</comment> {value}")

    def _machine(self, machine: Machine) -> None:
        self.line("<b>Machine</b>")
        nvidia = machine.nvidia
        if nvidia is None:
            self._row("NVIDIA driver", "none found")
        else:
            runs = (
                f" (runs CUDA up to {_pair(nvidia.cuda_driver_version)})"
                if nvidia.cuda_driver_version
                else ""
            )
            self._row("NVIDIA driver", f"{_e(nvidia.driver_version)}{runs}, via {nvidia.source}")
            if not nvidia.gpus:
                self._row("GPUs", "none visible")
            for gpu in nvidia.gpus:
                cc = gpu.compute_capability
                arch = f" (sm_{cc[0]}{cc[1]})" if cc else ""
                memory = f", {gpu.memory_mib} MiB" if gpu.memory_mib is not None else ""
                mig = ", MIG on" if gpu.mig else ""
                self._row(
                    f"GPU {gpu.index}",
                    f"<c2>{_e(gpu.name)}</c2>, compute capability {_pair(cc)}{arch}{memory}{mig}",
                )
        if machine.rocm is not None:
            self._row("ROCm", _e(machine.rocm))
        if machine.mps:
            self._row("Apple MPS", "available")
        if machine.nvcc is not None:
            self._row(
                "CUDA toolkit",
                f"nvcc {_e(machine.nvcc.full)} (builds extensions; torch brings its own CUDA"
                " runtime, so this is not what torch uses)",
            )
        self._row("Platform", _e(machine.platform))

    def _environment(self, result: Report) -> None:
        env = result.environment
        self.line("")
        if env.root is None:
            self.line("<b>Environment</b>: none found")
            return
        self.line(f"<b>Environment</b> {_e(env.root)}")
        self._row("Python", _e(env.python_version or "unknown"))
        for row in result.packages():
            if not row["installed"]:
                self._row(row["name"], "not installed")
                continue
            variant = row["variant_description"] or "variant unknown"
            extra = "" if row["complete"] else ", <error>half-installed</error>"
            pin = f", requires torch{row['requires_torch']}" if row["requires_torch"] else ""
            self._row(row["name"], f"<c2>{_e(row['build'])}</c2> {_e(variant)}{_e(pin)}{extra}")

    def _project(self, result: Report) -> None:
        data = result.to_dict()["project"]
        self.line("")
        self.line(f"<b>Project</b> {_e(data['pyproject'])}")
        source = data["source"]
        if source is not None:
            self._row("Source", f"<info>{_e(source['name'])}</info> ({_e(source['url'])})")
        else:
            self._row("Source", "none" if data["error"] is None else "unreadable")
        if data["packages"]:
            self._row("Packages", _e(", ".join(data["packages"])))

    def _runtime_section(self, runtime: RuntimeResult) -> None:
        self.line("")
        self.line(
            f"<b>Runtime</b> (torch imported by {_e(runtime.python)}, {runtime.seconds:.1f} s)"
        )
        if runtime.error is not None:
            self._row("error", f"<error>{_e(runtime.error)}</error>")
            return
        self._row("torch", _e(f"{runtime.torch_version} (CUDA {runtime.cuda_version or 'none'})"))
        available = "<info>True</info>" if runtime.cuda_available else "<comment>False</comment>"
        self._row("cuda available", available)
        if runtime.cuda_error:
            self._row("cuda error", f"<error>{_e(runtime.cuda_error)}</error>")
        if runtime.device_name:
            self._row(
                "device 0", _e(f"{runtime.device_name}, capability {_pair(runtime.capability)}")
            )
        if runtime.arch_list:
            self._row("arch list", _e(" ".join(runtime.arch_list)))
        if runtime.op_ok is not None:
            outcome = (
                "<info>ok</info>"
                if runtime.op_ok
                else f"<error>failed: {_e(runtime.op_error or 'wrong result')}</error>"
            )
            self._row("GPU tensor op", outcome)
        for warning in runtime.warnings:
            self._row("warning", _e(warning))
