"""``poetry torch``: the list of the ``poetry torch`` commands.

Poetry 2.x answers a bare namespace (``poetry self``) with "The requested command does not
exist in the self namespace" and exit 1.  cleo picks the longest registered name that the
arguments start with, so a command named ``torch`` answers ``poetry torch`` and
``poetry torch --help`` while ``poetry torch install`` still finds its own command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import argument
from poetry.console.commands.command import Command


if TYPE_CHECKING:
    from cleo.io.inputs.argument import Argument


NAMESPACE = "torch"


INTRO = """Installs the PyTorch build that fits this machine (CUDA, ROCm or CPU) into a Poetry
project, from PyTorch's own index, and keeps it there across <c1>poetry install</c1>,
<c1>poetry update</c1> and <c1>poetry add</c1>."""
MORE = "Run <c1>poetry torch COMMAND --help</c1> for a command's options."


class TorchOverviewCommand(Command):
    name = NAMESPACE
    description = "List the poetry torch commands."
    arguments: ClassVar[list[Argument]] = [
        # a mistyped subcommand (``poetry torch instal``) lands here: cleo found only ``torch``
        argument(
            "unknown",
            "A mistyped command name: answered with the nearest poetry torch command.",
            optional=True,
        ),
    ]
    help = INTRO

    def subcommands(self) -> list[tuple[str, str]]:
        """``(name, description)`` of each ``torch ...`` command, in the order they were added."""
        application = self.application
        if application is None:
            return []
        return [
            (name, command.description)
            for name, command in application.all(NAMESPACE).items()
            if not command.hidden
        ]

    def listing(self) -> str:
        rows = self.subcommands()
        width = max((len(name) for name, _ in rows), default=0)
        lines = ["<b>Commands:</b>"]
        lines += [f"  <c1>{name.ljust(width)}</c1>  {text}" for name, text in rows]
        return "\n".join(lines)

    @property
    def processed_help(self) -> str:
        # ``poetry torch --help`` shows the help text: the list goes there too
        return self.overview()

    def overview(self) -> str:
        return f"{INTRO}\n\n{self.listing()}\n\n{MORE}"

    def handle(self) -> int:
        unknown = self.argument("unknown")
        if unknown:
            return self._unknown(unknown)
        self.line(self.overview())
        return 0

    def _unknown(self, word: str) -> int:
        from difflib import get_close_matches

        names = [name.split(" ", 1)[1] for name, _ in self.subcommands()]
        near = get_close_matches(word, names, n=1)
        hint = f"did you mean `poetry torch {near[0]}`? " if near else ""
        self.line_error(
            f"<error>poetry-torch: `poetry torch {word}` is not a command; {hint}`poetry torch`"
            " lists them.</error>"
        )
        return 1
