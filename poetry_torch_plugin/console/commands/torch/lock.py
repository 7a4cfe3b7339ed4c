"""``poetry torch lock``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from cleo.io.inputs.option import Option


class TorchLockCommand(TorchCommand):
    name = "torch lock"
    description = (
        "Resolve the configured PyTorch packages and write poetry-torch.lock, without"
        " installing anything."
    )
    options: ClassVar[list[Option]] = [
        option(
            "check",
            None,
            "Write nothing; exit 1 when poetry-torch.lock is missing or does not match"
            " pyproject.toml.",
        ),
        option(
            "installer",
            None,
            "Resolve with auto, pip or uv (default: [tool.poetry-torch] installer, else auto).",
            flag=False,
        ),
    ]
    help = """Resolves the packages of <c1>[tool.poetry-torch]</c1> against the <c1>pytorch_*</c1>
source, as the installer (pip or uv) would install them into an empty environment, and records
every package of that closure with the sha256 of each wheel the index publishes for it.
<c1>poetry torch install</c1> and the hook after <c1>poetry install</c1> then install exactly these
builds, hash-checked.

  <c1>poetry torch lock</c1>
  <c1>poetry torch lock --check</c1>     (for CI: is the lock up to date?)
"""

    def handle(self) -> int:
        from poetry_torch_plugin.core.lockfile import LOCK_NAME
        from poetry_torch_plugin.errors import ConfigError
        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.project.lockstate import check_project
        from poetry_torch_plugin.service.lock import lock_project

        try:
            pyproject = self.pyproject_path()
            if self.option("check"):
                state = check_project(pyproject)
                problem = state.problem()
                if problem is None and state.lock is None:
                    problem = f"there is no {LOCK_NAME}; run `poetry torch lock` to write it."
                if problem is not None:
                    return self.fail(ConfigError(problem))
                self.line(f"{LOCK_NAME} matches pyproject.toml.")
                return 0
            target = self.project_env(create=True)
            lock = lock_project(
                pyproject, target, self.option("installer"), verbose=self.io.is_verbose()
            )
        except TorchPluginError as error:
            return self.fail(error)
        requested = [f"{p.name} {p.version}" for p in lock.packages if p.requested]
        files = sum(len(p.files) for p in lock.packages)
        self.line(
            f"Wrote <info>{LOCK_NAME}</info>: {', '.join(requested)}"
            f" ({len(lock.packages)} packages, {files} files)"
        )
        return 0
