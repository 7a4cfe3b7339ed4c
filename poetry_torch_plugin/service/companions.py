"""Installed torchvision/torchaudio that ``poetry torch install`` does not name (issue 23,
item 1): when the torch it installs would leave them not belonging with it (``apply``'s
``CompanionsLeftError``, check's verdict), the same transaction takes them along from the same
index and keeps them in ``[tool.poetry-torch] packages``; a machine-local choice, which never
edits pyproject.toml, refuses instead.  ``--dry-run`` says so beforehand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.errors import InstallError


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

    from poetry_torch_plugin.env.installed import TargetEnv


class CompanionsLeftError(InstallError):
    """Installing the plan would leave installed companions (torchvision, torchaudio) that do
    not belong with the torch it installs; raised before anything is installed or written.
    ``names``: those companions; ``problems``: one text each (check's verdict)."""

    def __init__(self, names: tuple[str, ...], problems: tuple[str, ...]) -> None:
        self.names = names
        self.problems = problems
        super().__init__(
            "; ".join(problems),
            kept="nothing was installed and the files were left as they were",
            next=f"Install them with torch: `poetry torch install` naming {' and '.join(names)}"
            " too.",
        )


def taken_along(
    left: CompanionsLeftError,
    named: Sequence[str],
    say: Callable[[str], None],
    *,
    original: bytes,
    source: str,
    local: str | None,
) -> tuple[str, ...]:
    """The requirements to plan again: those named on the command line (else the configured
    ones, read from pyproject.toml's ``original`` bytes) and the companions ``left`` behind,
    said in one line (``source``: where they come from).  InstallError (one line, nothing
    changed) for a machine-local choice (``local``: its line)."""
    names = " and ".join(left.names)
    if local is not None:
        raise InstallError(
            f"{'; '.join(left.problems)}, and this machine's variant is {local}, which installs"
            " only what [tool.poetry-torch] packages names",
            kept="nothing was installed and the files were left as they were",
            next=f"Add {names} to packages, then run the command again.",
        ) from None
    named = tuple(named) or tuple(
        read_config(parse_toml(original.decode("utf-8")), declared=False).written
    )
    say(
        f"<comment>{'; '.join(left.problems)}: installing {names} with it from"
        f" {source}, kept in [tool.poetry-torch] packages.</comment>"
    )
    return (*named, *left.names)


def say_companions(
    wanted: Sequence[str],
    target: TargetEnv,
    say: Callable[[str], None],
    *,
    source: str,
    local: bool,
) -> None:
    """``--dry-run``: what the install does with an installed torchvision/torchaudio it does
    not name (``wanted``: the canonical names it installs), should the torch it installs not
    belong with them."""
    from poetry_torch_plugin.env.installed import installed_distributions
    from poetry_torch_plugin.service.verify import COMPANIONS

    installed = installed_distributions(target.site_packages)
    others = [
        f"{name} {installed[name].build_version()}"
        for name in COMPANIONS
        if name in installed and name not in wanted
    ]
    if not others:
        return
    then = (
        "the install would stop with nothing changed (this machine's variant installs only what"
        " packages names)"
        if local
        else f"they would be installed with it from {source} and kept in packages"
    )
    say(
        f"If the torch it installs does not belong with the installed {' and '.join(others)},"
        f" {then}."
    )
