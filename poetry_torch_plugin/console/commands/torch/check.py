"""``poetry torch check``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from cleo.io.inputs.option import Option


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
        option(
            "index",
            None,
            "Also read the configured index (network): whether it has a wheel of every"
            " configured package for the environment's Python and platform, and which"
            " --cuda auto candidates it rules out.",
        ),
    ]
    help = """Reads the installed torch, torchvision and torchaudio from the environment's files,
without importing torch, and compares them with the <c1>pytorch_*</c1> source and with this
machine's driver and GPUs, and with <c1>poetry-torch.lock</c1>. A CI gate: it exits 1 when a build
does not match the configuration, did not come from the configured source, or differs from
what poetry-torch.lock pins; the first verdict says <c1>ok</c1> only when nothing but information
follows (warnings, such as no GPU on a CI runner, pass). Each distinct fix is printed once.

  <c1>poetry torch check</c1>
  <c1>poetry torch check --json</c1>
  <c1>poetry torch check --runtime --require-gpu</c1>
  <c1>poetry torch check --index</c1>

Without <c1>--index</c1> nothing is read from the network, so the check stays well under a
second; <c1>--index</c1> reads <c1><base>/<variant>/<package>/</c1> for each configured package
(once each) and says, one line per candidate, why <c1>--cuda auto</c1> would drop it.
"""

    def handle(self) -> int:
        from poetry_torch_plugin.machine.detect import start_probes

        start_probes()  # NVML's init runs while the rest of check is imported
        from cleo.formatters.formatter import Formatter
        from cleo.io.outputs.output import Type
        from cleo.io.outputs.output import Verbosity

        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.check import check
        from poetry_torch_plugin.service.render import check_json
        from poetry_torch_plugin.service.render import check_text
        from poetry_torch_plugin.service.render import error_json

        as_json = self.option("json")

        def note(text: str) -> None:
            if not as_json:
                self.line_error(Formatter.escape(text), verbosity=Verbosity.VERBOSE)

        try:
            report = check(
                self.pyproject_path(),
                runtime=self.option("runtime"),
                require_gpu=self.option("require-gpu"),
                note=note,
                index=self.option("index"),
            )
        except TorchPluginError as error:
            if as_json:  # a JSON consumer always gets JSON, with the reason in "error"
                self.io.write_line(error_json(str(error)), type=Type.RAW)
            return self.fail(error)
        if as_json:
            self.io.write_line(check_json(report), type=Type.RAW)
        else:
            for line in check_text(report):
                self.line(line)
        return report.exit_code
