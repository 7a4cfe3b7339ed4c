"""``poetry torch wheelhouse``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import argument
from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from cleo.io.inputs.argument import Argument
    from cleo.io.inputs.option import Option


class TorchWheelhouseCommand(TorchCommand):
    name = "torch wheelhouse"
    description = (
        "Download every wheel poetry-torch.lock pins into a folder, each checked against its"
        " locked sha256, to install from later with no network."
    )
    arguments: ClassVar[list[Argument]] = [
        argument("folder", "The wheelhouse folder (created when missing; kept files are reused).")
    ]
    options: ClassVar[list[Option]] = [
        option(
            "all",
            None,
            "Every locked file (all Pythons and platforms), not only the ones this project's"
            " environment installs.",
        ),
    ]
    help = """For air-gapped clusters and container layer caches. Where the index is reachable:

  <c1>poetry torch wheelhouse /shared/wheels</c1>

then, on a machine with no network (the same poetry-torch.lock):

  <c1>poetry torch install --wheelhouse /shared/wheels</c1>
  (or POETRY_TORCH_WHEELHOUSE=/shared/wheels, which the hook after <c1>poetry install</c1> uses too)

The folder is flat (<c1>pip install --no-index --find-links</c1> reads it) and holds a PEP 503 tree
in <c1>simple/</c1>. Files already there with the locked hash are not downloaded again.
"""

    def handle(self) -> int:
        from pathlib import Path

        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.wheelhouse import fill

        try:
            pyproject = self.pyproject_path()
            folder = Path(self.argument("folder")).expanduser()
            if not folder.is_absolute():
                folder = Path.cwd() / folder
            filled = fill(
                pyproject,
                folder,
                self.project_env,
                every_file=self.option("all"),
                say=self.line if not self.io.output.is_quiet() else lambda _: None,
            )
        except TorchPluginError as error:
            return self.fail(error)
        except KeyboardInterrupt:
            self.line_error(
                "<error>poetry-torch: interrupted (Ctrl-C); the files already in the wheelhouse"
                " were kept and no half-written file was left. Run the command again to"
                " finish.</error>"
            )
            return 130
        self.line(
            f"<info>Wheelhouse ready:</info> {folder} ({filled.downloaded} downloaded,"
            f" {filled.present} already there, {filled.size / 1e6:.1f} MB)"
        )
        return 0
