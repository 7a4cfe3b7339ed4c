"""What every ``poetry torch`` command shares: locating the project and reporting errors."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import option
from poetry.console.commands.command import Command


if TYPE_CHECKING:
    from pathlib import Path

    from cleo.io.inputs.option import Option

    from poetry_torch_plugin.env.installed import TargetEnv


class TorchCommand(Command):
    """Base of the ``poetry torch`` commands.

    It deliberately is not an ``EnvCommand``: Poetry would parse pyproject.toml and create the
    environment before ``handle()`` runs, and a malformed file would end in Poetry's own error
    instead of ours.
    """

    shared_options: ClassVar[list[Option]] = [
        option(
            "index-base",
            None,
            "Base URL of the PyTorch index, written into the project's source for everyone"
            " (default: index-base, else https://download.pytorch.org/whl; for a mirror on"
            " this machine only, set POETRY_TORCH_INDEX_BASE).",
            flag=False,
        ),
    ]

    def pyproject_path(self) -> Path:
        from poetry.core.factory import Factory

        from poetry_torch_plugin.errors import ConfigError
        from poetry_torch_plugin.seam.locate import project_directory

        directory = project_directory(self.get_application())
        try:
            return Factory.locate(directory)
        except RuntimeError:
            raise ConfigError(
                f"no pyproject.toml in {directory} or its parents",
                kept="nothing was changed",
                next="Run the command inside a Poetry project (or `poetry init` first).",
            ) from None

    def project_env(self, *, create: bool) -> TargetEnv:
        """The environment Poetry uses for this project, created when missing if asked.

        An existing virtual environment that Poetry would pick without looking for
        interpreters (the active one, ``.venv``, the one ``envs.toml`` records) is taken as
        it is, as ``poetry torch check`` does: building Poetry's project object to ask its
        EnvManager costs ~0.3 s (schema validation, dependency parsing).
        """
        found = self._existing_venv()
        if found is not None:
            return found
        from poetry.utils.env import EnvManager

        from poetry_torch_plugin.seam.locate import target_of

        manager = EnvManager(self.poetry, io=self.io)
        env = manager.create_venv() if create else manager.get()
        return target_of(env)

    def _existing_venv(self) -> TargetEnv | None:
        from poetry_torch_plugin.env.installed import TargetEnv
        from poetry_torch_plugin.env.installed import env_python
        from poetry_torch_plugin.env.installed import site_packages_of
        from poetry_torch_plugin.project.files import read_project
        from poetry_torch_plugin.seam.locate import locate_existing_venv

        pyproject = self.pyproject_path()
        root = locate_existing_venv(pyproject.parent, read_project(pyproject).name)
        if root is None:
            return None
        python, site_packages = env_python(root), site_packages_of(root)
        if python is None or not site_packages:
            return None
        return TargetEnv(root, python, site_packages)

    def fail(self, error: Exception) -> int:
        """One line on stderr, prefixed as the hook's messages are, and exit code 1."""
        self.line_error(f"<error>poetry-torch: {error}</error>")
        return 1
