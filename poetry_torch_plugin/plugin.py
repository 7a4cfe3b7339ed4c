"""The entry point: the ``poetry torch`` commands and the listeners around Poetry's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry.plugins.application_plugin import ApplicationPlugin


if TYPE_CHECKING:
    from poetry.console.application import Application
    from poetry.console.commands.command import Command


class TorchApplicationPlugin(ApplicationPlugin):
    @property
    def commands(self) -> list[type[Command]]:
        from poetry_torch_plugin.console.commands.torch.check import TorchCheckCommand
        from poetry_torch_plugin.console.commands.torch.export import TorchExportCommand
        from poetry_torch_plugin.console.commands.torch.install import TorchInstallCommand
        from poetry_torch_plugin.console.commands.torch.lock import TorchLockCommand
        from poetry_torch_plugin.console.commands.torch.overview import TorchOverviewCommand
        from poetry_torch_plugin.console.commands.torch.wheelhouse import TorchWheelhouseCommand

        return [
            TorchOverviewCommand,
            TorchInstallCommand,
            TorchCheckCommand,
            TorchLockCommand,
            TorchExportCommand,
            TorchWheelhouseCommand,
        ]

    def activate(self, application: Application) -> None:
        from cleo.events.console_events import COMMAND
        from cleo.events.console_events import TERMINATE

        from poetry_torch_plugin.console.listeners import on_command
        from poetry_torch_plugin.console.listeners import on_terminate

        super().activate(application)
        dispatcher = application.event_dispatcher
        if dispatcher is None:
            return
        dispatcher.add_listener(COMMAND, on_command)
        dispatcher.add_listener(TERMINATE, on_terminate)
