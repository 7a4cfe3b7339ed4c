"""``poetry torch install``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import ClassVar

from cleo.helpers import argument
from cleo.helpers import option

from poetry_torch_plugin.console.commands.torch.base import TorchCommand


if TYPE_CHECKING:
    from pathlib import Path

    from cleo.io.inputs.argument import Argument
    from cleo.io.inputs.option import Option

    from poetry_torch_plugin.service.choose import InstallOptions


class TorchInstallCommand(TorchCommand):
    name = "torch install"
    description = (
        "Configure the PyTorch index for this project and install the torch family from it"
        " (the packages named, else [tool.poetry-torch] packages, else torch, torchvision and"
        " torchaudio)."
    )
    arguments: ClassVar[list[Argument]] = [
        argument(
            "requirements",
            "The packages to install from the PyTorch index, as PEP 508 requirements (e.g."
            " 'torch>=2.7,<2.9'); named, they replace [tool.poetry-torch] packages.",
            optional=True,
            multiple=True,
        )
    ]
    options: ClassVar[list[Option]] = [
        option("cuda", None, "CUDA version (12.9 or cu129), or 'auto'.", flag=False),
        option("cpu", None, "Use the CPU-only build."),
        option("rocm", None, "ROCm version (6.4, 6.4.1 or rocm6.4), or 'auto'.", flag=False),
        option("xpu", None, "Use the Intel GPU build (the xpu index)."),
        option(
            "channel",
            None,
            "stable, test (release candidates) or nightly: the index under …/whl, …/whl/test or"
            " …/whl/nightly (pre-releases allowed on the last two).",
            flag=False,
        ),
        option(
            "installer",
            None,
            "auto, pip or uv (default: [tool.poetry-torch] installer, else pip).",
            flag=False,
        ),
        *TorchCommand.shared_options,
        option("dry-run", None, "Print the plan and the exact installer command; change nothing."),
        option(
            "compile",
            None,
            "Compile the installed packages' Python files to bytecode, as `poetry install"
            " --compile` does (by default, as with Poetry, Python compiles each on first import).",
        ),
        option(
            "force",
            None,
            "Install an explicit --cuda/--rocm build even where this machine's driver or GPU"
            " cannot run it.",
        ),
        option(
            "upgrade",
            None,
            "Resolve again within the constraints instead of replaying poetry-torch.lock.",
        ),
        option(
            "for",
            None,
            "Set the [tool.poetry-torch.targets] entry for this kind of machine (linux,"
            " linux-x86_64, linux-aarch64, macos, windows, no-gpu, ...) to the variant given,"
            " leaving the others; install it only where this machine is of that kind.",
            flag=False,
        ),
        option(
            "wheelhouse",
            None,
            "Replay poetry-torch.lock from this folder (filled by `poetry torch wheelhouse`),"
            " with no index and no network (or POETRY_TORCH_WHEELHOUSE).",
            flag=False,
        ),
    ]
    help = """Writes the explicit <c1>pytorch_*</c1> source and <c1>[tool.poetry-torch]</c1> to
pyproject.toml, then installs the packages from that index only, in one transaction.

Named packages mean those packages, as with <c1>pip install torch</c1>: the requirements given
become <c1>[tool.poetry-torch] packages</c1>, exactly (torch is always kept, first, since the
others require it). With none named, the configured packages stay (by default torch,
torchvision and torchaudio); a variant switch alone never changes them. Packages the project
itself declares (say torchvision in [project.dependencies]) are installed from the index too.

  <c1>poetry torch install --cuda 12.9</c1>            (the configured packages, or the three)
  <c1>poetry torch install --cpu torch</c1>            (torch alone, recorded as packages = ["torch"])
  <c1>poetry torch install --cpu "torch>=2.7,<2.9" torchvision</c1>
  <c1>poetry torch install</c1>                        (re-install what the existing source says)
  <c1>poetry torch install --upgrade</c1>              (newest builds the constraints allow)
  <c1>poetry torch install --cpu --for no-gpu</c1>     (CI runners without a GPU get the CPU build)

The installer is pip, unless [tool.poetry-torch] installer or --installer says uv (auto: uv
when it is found). Each wheel is downloaded once, and the installer's own cache is reused;
-v prints the installer's exact commands and its own output, -q silences the
progress lines; without -v, one line at the end says what changed (each package's version
before and after, and the project files written).
"""

    def handle(self) -> int:
        import os

        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.choose import InstallOptions
        from poetry_torch_plugin.service.install import install_torch
        from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV

        options = InstallOptions(
            requirements=tuple(self.argument("requirements") or ()),
            cuda=self.option("cuda"),
            rocm=self.option("rocm"),
            cpu=self.option("cpu"),
            xpu=self.option("xpu"),
            installer=self.option("installer"),
            index_base=self.option("index-base"),
            dry_run=self.option("dry-run"),
            upgrade=self.option("upgrade"),
            force=self.option("force"),
            channel=self.option("channel"),
            for_kind=self.option("for"),
            compile_bytecode=self.option("compile"),
            quiet=self.io.output.is_quiet(),
            verbose=self.io.is_verbose(),
        )
        wheelhouse = self.option("wheelhouse")
        if wheelhouse is None and os.environ.get(WHEELHOUSE_ENV, "").strip():
            wheelhouse = os.environ[WHEELHOUSE_ENV]
        if wheelhouse is not None:  # an empty --wheelhouse "" is refused, not ignored
            return self._from_wheelhouse(wheelhouse, options)
        if options.dry_run:
            # A plan for a pyproject.toml Poetry itself refuses would be a plan for nothing:
            # Poetry's own validation speaks first, as it does for the real install.
            _ = self.poetry
        try:
            pyproject = self.pyproject_path()
        except TorchPluginError as error:
            return self.fail(error)
        files = (pyproject, pyproject.parent / "poetry-torch.lock")
        before = [_bytes_of(path) for path in files]
        try:
            install_torch(pyproject, options, self.project_env, self.line)
        except TorchPluginError as error:
            return self.fail(error)
        except KeyboardInterrupt:
            kept = [_bytes_of(path) for path in files] == before
            return self.interrupted(kept=kept)
        return 0

    def _from_wheelhouse(self, folder: str, options: InstallOptions) -> int:
        from poetry_torch_plugin.errors import ConfigError
        from poetry_torch_plugin.errors import TorchPluginError
        from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV
        from poetry_torch_plugin.service.wheelhouse import install_from

        given = [
            flag
            for flag, value in (
                ("--cuda", options.cuda),
                ("--rocm", options.rocm),
                ("--cpu", options.cpu),
                ("--xpu", options.xpu),
                ("--channel", options.channel),
                ("--index-base", options.index_base),
                ("--upgrade", options.upgrade),
                ("--for", options.for_kind),
                ("package names", options.requirements),
            )
            if value
        ]
        try:
            if given:
                raise ConfigError(
                    f"a wheelhouse replays poetry-torch.lock as it is, so {', '.join(given)}"
                    " cannot apply",
                    kept="nothing was changed",
                    next=f"Run without them (or without --wheelhouse / {WHEELHOUSE_ENV}).",
                )
            install_from(
                self.pyproject_path(),
                folder,  # a str: an empty one is refused, not read as '.'
                self.project_env,
                installer=options.installer,
                dry_run=options.dry_run,
                quiet=options.quiet,
                verbose=options.verbose,
                compile_bytecode=options.compile_bytecode,
                say=self.line,
            )
        except TorchPluginError as error:
            return self.fail(error)
        except KeyboardInterrupt:
            return self.interrupted(kept=True)  # a wheelhouse install writes no project file
        return 0  # (install_from's last line says what moved)

    def interrupted(self, *, kept: bool) -> int:
        """Ctrl-C: one line saying what was kept, and 130 as a shell reports SIGINT."""
        state = (
            "pyproject.toml and poetry-torch.lock were left as they were"
            if kept
            else "pyproject.toml or poetry-torch.lock was already updated"
        )
        self.line_error(
            f"<error>poetry-torch: interrupted (Ctrl-C); {state}, and the installer was"
            " stopped (pip and uv roll back a half-done package). Run `poetry torch check` to"
            " see what is installed; `poetry install` puts the configured build back.</error>"
        )
        return 130


def _bytes_of(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
