"""``poetry torch export``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from cleo.io.inputs.option import Option


class TorchExportCommand(TorchCommand):
    name = "torch export"
    description = (
        "Export the builds pinned in poetry-torch.lock as a requirements file for plain pip."
    )
    options: ClassVar[list[Option]] = [
        option(
            "output",
            "o",
            "The file to write, relative to the project (default: standard output).",
            flag=False,
        ),
        option(
            "target",
            "t",
            "Export the builds locked for one [tool.poetry-torch.targets] key (linux-aarch64,"
            " macos, no-gpu, ...; default: the committed source's), each pin with its"
            " machines' marker.",
            flag=False,
        ),
        option(
            "all",
            None,
            "Export every locked target at once, each pin with its marker (refused where two"
            " variants share a platform, as GPU and no-GPU machines do).",
        ),
        option(
            "format",
            "f",
            "requirements (for pip, the default) or pylock (PEP 751, e.g. for"
            " `uv pip install -r pylock.torch.toml`).",
            flag=False,
        ),
    ]
    help = """Writes <c1>--index-url</c1> and every locked package with its hashes, so that a
Docker build or a CI job without Poetry installs the same builds:

  <c1>poetry torch export -o requirements-torch.txt</c1>
  <c1>pip install -r requirements-torch.txt</c1>

Or as a PEP 751 lock file:

  <c1>poetry torch export --format pylock -o pylock.torch.toml</c1>
  <c1>uv pip install -r pylock.torch.toml</c1>

With <c1>[tool.poetry-torch.targets]</c1>, one kind of machine at a time:

  <c1>poetry torch export --target linux-aarch64 -o requirements-aarch64.txt</c1>
  <c1>poetry torch export --target macos --format pylock -o pylock.macos.toml</c1>

The rest of the dependencies come from <c1>poetry export</c1> (poetry-plugin-export).
"""

    def handle(self) -> int:
        from cleo.formatters.formatter import Formatter
        from cleo.io.outputs.output import Type

        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.lock import export

        try:
            text = export(
                self.pyproject_path(),
                self.option("output"),
                self.option("format"),
                self.option("target"),
                self.option("all"),
            )
        except TorchPluginError as error:
            return self.fail(error)
        if text is not None:
            self.io.write(text, type=Type.RAW)
        else:  # written to -o FILE: say so (standard output carried nothing else)
            self.line(f"Wrote <info>{Formatter.escape(self.option('output'))}</info>")
        return 0
