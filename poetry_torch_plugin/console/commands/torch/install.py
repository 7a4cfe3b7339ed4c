"""``poetry torch install``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import argument
from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from cleo.io.inputs.argument import Argument
    from cleo.io.inputs.option import Option

    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.service.install import InstallPlan


class TorchInstallCommand(TorchCommand):
    name = "torch install"
    description = (
        "Configure the PyTorch index for this project and install torch, torchvision and"
        " torchaudio from it."
    )
    arguments: ClassVar[list[Argument]] = [
        argument(
            "requirements",
            "PEP 508 requirements to install from the PyTorch index (e.g. 'torch>=2.7,<2.9').",
            optional=True,
            multiple=True,
        )
    ]
    options: ClassVar[list[Option]] = [
        option("cuda", None, "CUDA version (12.9 or cu129), or 'auto'.", flag=False),
        option("cpu", None, "Use the CPU-only build."),
        option("rocm", None, "ROCm version (6.4 or rocm6.4).", flag=False),
        option(
            "installer",
            None,
            "auto, pip or uv (default: [tool.poetry-torch] installer, else auto).",
            flag=False,
        ),
        *TorchCommand.shared_options,
        option("dry-run", None, "Print the plan and the exact installer command; change nothing."),
        option(
            "upgrade",
            None,
            "Resolve again within the constraints instead of replaying poetry-torch.lock.",
        ),
    ]
    help = """Writes the explicit <c1>pytorch_*</c1> source and <c1>[tool.poetry-torch]</c1> to
pyproject.toml, then installs the packages from that index only, in one transaction.

  <c1>poetry torch install --cuda 12.9</c1>
  <c1>poetry torch install --cpu "torch>=2.7,<2.9"</c1>
  <c1>poetry torch install</c1>            (re-install what the existing source says)
  <c1>poetry torch install --upgrade</c1>  (newest builds the constraints allow; rewrite the lock)
"""

    def _variant(self) -> Variant | None:
        from poetry_torch_plugin.core.variants import CPU
        from poetry_torch_plugin.core.variants import parse_cuda
        from poetry_torch_plugin.core.variants import parse_rocm
        from poetry_torch_plugin.errors import VariantError

        cuda, rocm, cpu = self.option("cuda"), self.option("rocm"), self.option("cpu")
        if sum(bool(value) for value in (cuda, rocm, cpu)) > 1:
            raise VariantError(
                "--cuda, --rocm and --cpu exclude each other; nothing was changed."
                " Run `poetry torch install` with only one of them."
            )
        if cuda is not None and cuda.strip().lower() == "auto":
            from poetry_torch_plugin.core.auto import choose
            from poetry_torch_plugin.machine.detect import detect_machine
            from poetry_torch_plugin.project.read import configured_packages

            configured = configured_packages(self.pyproject_path())
            choice = choose(
                detect_machine(),
                self.argument("requirements") or (),
                configured,
                self._installed_torch(),
            )
            self.line(f"--cuda auto: <c2>{choice.variant}</c2> ({choice.reason})")
            return choice.variant
        if cuda is not None:
            return parse_cuda(cuda)
        if rocm is not None:
            return parse_rocm(rocm)
        return CPU if cpu else None

    def _lock_plan(self, plan: InstallPlan) -> str:
        from poetry_torch_plugin.core.lockfile import LOCK_NAME
        from poetry_torch_plugin.project.lockstate import lock_state

        state = lock_state(plan.pyproject.path, plan.source, plan.settings)
        if state.fresh and not self.option("upgrade"):
            return f"Would install the builds pinned in {LOCK_NAME}, hash-checked."
        return f"Would resolve the packages afresh and write {LOCK_NAME}."

    def _dry_run_target(self) -> TargetEnv:
        """The environment the install would use.  When there is none yet, a placeholder:
        the install creates it first (as ``poetry install`` would), so naming the interpreter
        Poetry runs on would show the wrong ``--python``."""
        from pathlib import Path

        from poetry_torch_plugin.env.installed import TargetEnv
        from poetry_torch_plugin.project.read import read_project
        from poetry_torch_plugin.seam.locate import locate_project_env

        pyproject = self.pyproject_path()
        if locate_project_env(pyproject.parent, read_project(pyproject).name) is not None:
            return self.project_env(create=False)
        self.line("Would create the project's virtual environment first.")
        new = Path("<new virtualenv>")
        return TargetEnv(new, new / "bin" / "python", ())

    def _installed_torch(self) -> str | None:
        from poetry_torch_plugin.env.installed import installed_distributions

        try:
            target = self.project_env(create=False)
        except Exception:
            return None
        dist = installed_distributions(target.site_packages).get("torch")
        return dist.version if dist else None

    def handle(self) -> int:
        from poetry_torch_plugin.core.urls import redact
        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.install.select import get_backend
        from poetry_torch_plugin.service.install import execute_install
        from poetry_torch_plugin.service.install import plan_install
        from poetry_torch_plugin.service.settings import access_for
        from poetry_torch_plugin.service.settings import request_for

        try:
            variant = self._variant()
            plan = plan_install(
                self.pyproject_path(),
                variant=variant,
                requested=self.argument("requirements") or (),
                index_base=self.option("index-base"),
            )
            backend = get_backend(self.option("installer") or plan.settings.installer)
            self.line(
                f"Installing <c1>{', '.join(plan.settings.packages)}</c1> for"
                f" <c2>{plan.variant.describe()}</c2> from <info>{plan.source.name}</info>"
                f" ({redact(plan.index_url)})"
            )
            if self.option("dry-run"):
                target = self._dry_run_target()
                access = access_for(plan.settings, plan.source)
                request = request_for(access, plan.settings.packages)
                login = f"{backend.login_variable}={access.shown} "
                prefix = login if access.has_credentials else ""
                self.line(f"Would run: {prefix}{' '.join(backend.command(target, request))}")
                self.line(self._lock_plan(plan))
                if plan.edit.changed:
                    self.line(f"Would update {plan.pyproject.path.name}.")
                return 0
            target = self.project_env(create=True)
            execute_install(
                plan,
                target,
                backend,
                quiet=self.io.output.is_quiet(),
                verbose=self.io.is_verbose(),
                upgrade=self.option("upgrade"),
            )
        except TorchPluginError as error:
            return self.fail(error)
        if plan.edit.changed:
            self.line(
                f"Updated {plan.pyproject.path.name}: source <info>{plan.source.name}</info>."
            )
        self.line(f"<info>torch ready:</info> {plan.variant.describe()}")
        return 0
