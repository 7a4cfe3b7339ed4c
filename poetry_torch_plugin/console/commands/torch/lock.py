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
            "add-variant",
            None,
            "Also lock this variant (cu128, cpu, ...) for this platform and every Python"
            " requires-python admits, keeping the rest of the lock: for a machine-local choice"
            " (POETRY_TORCH_VARIANT, poetry.toml, auto).",
            flag=False,
            multiple=True,
        ),
        option(
            "regenerate",
            None,
            "Resolve every entry afresh (by default, entries for other machines whose inputs"
            " did not change are kept).",
        ),
        option(
            "installer",
            None,
            "Resolve with auto, pip or uv (default: [tool.poetry-torch] installer, else pip).",
            flag=False,
        ),
    ]
    help = """Resolves the packages of <c1>[tool.poetry-torch]</c1> against the <c1>pytorch_*</c1>
source, as the installer (pip or uv) would install them into an empty environment, and records
every package of that closure with the sha256 of each wheel the index publishes for it.
<c1>poetry torch install</c1> and the hook after <c1>poetry install</c1> then install exactly these
builds, hash-checked.

With <c1>[tool.poetry-torch.targets]</c1> the lock also holds an entry for every target,
platform and Python that requires-python admits, resolved with
<c1>uv pip compile --python-platform</c1> (uv must be installed); each machine installs its own.

  <c1>poetry torch lock</c1>
  <c1>poetry torch lock --check</c1>     (for CI: is the lock up to date, for every target?)
  <c1>poetry torch lock --add-variant cu126</c1>   (for a machine-local choice)
"""

    def handle(self) -> int:
        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.lock import lock_or_check

        try:
            shown = lock_or_check(
                self.pyproject_path(),
                self.project_env,
                check=self.option("check"),
                installer=self.option("installer"),
                verbose=self.io.is_verbose(),
                add=tuple(self.option("add-variant") or ()),
                regenerate=self.option("regenerate"),
                say=self.line,
            )
        except TorchPluginError as error:
            return self.fail(error)
        except KeyboardInterrupt:
            # the lock is written once, at the end, atomically: nothing was written yet
            self.line_error(
                "<error>poetry-torch: interrupted (Ctrl-C); poetry-torch.lock and"
                " pyproject.toml were left as they were, and the resolutions running were"
                " stopped. Run `poetry torch lock` again to finish.</error>"
            )
            return 130
        self.line(shown)
        return 0
