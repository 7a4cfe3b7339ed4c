"""The pip installer: ``pip install`` into the project environment, from one index only."""

from __future__ import annotations

import json
import re
import sys
import tempfile

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import clean_environment
from poetry_torch_plugin.installer.backend import install_failure
from poetry_torch_plugin.installer.backend import show_command
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from poetry_torch_plugin.env.installed import TargetEnv


# pip before 25.3 downloads every wheel of an ``install --dry-run`` even where the index serves
# PEP 658 metadata (measured on a local index: 23.2.1, 24.0, 25.0.1, 25.1.1 and 25.2 fetch each
# wheel, 25.3 and 26.0.1 only the .metadata files); Poetry 2.1 seeds project venvs with 25.1.1.
DRY_RUN_WITHOUT_DOWNLOADS = (25, 3)


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = []
    for part in text.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts) or None


def _progress() -> list[str]:
    """pip's output goes to ours only at ``-v`` (otherwise the plugin says in one line what
    changed): on a terminal its progress bars stay; anywhere else (CI, a log file)
    ``--progress-bar off`` leaves one ``Downloading …`` line per file."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        terminal = bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        terminal = False
    return [] if terminal else ["--progress-bar", "off"]


class PipBackend:
    """pip in the project environment; pip from Poetry's own environment when it has none."""

    name = "pip"
    login_variable = "PIP_INDEX_URL"

    def __init__(self, *, compile_bytecode: bool = False) -> None:
        # pip compiles every installed .py file unless told not to (for torch, ~2,300 files:
        # 40 % of its install's CPU here); Poetry and uv compile only when asked (``--compile``)
        self.compile_bytecode = compile_bytecode

    def version(self, target: TargetEnv) -> tuple[int, ...] | None:
        """The version of the pip that runs for ``target`` (its ``pip-X.dist-info``, else
        Poetry's own pip); None when there is none or it cannot tell."""
        for path in target.site_packages:
            if (path / "pip").is_dir():
                for info in sorted(path.glob("pip-*.dist-info")):
                    return _version_tuple(info.name[len("pip-") : -len(".dist-info")])
                return None
        try:
            import pip
        except ImportError:
            return None
        return _version_tuple(str(getattr(pip, "__version__", "")))

    def resolving_downloads(self, target: TargetEnv) -> bool:
        """Whether this pip's dry run (``report``) downloads every wheel it resolves, even
        where the index serves PEP 658 metadata: pip older than 25.3, or one of unknown age."""
        found = self.version(target)
        return found is None or found < DRY_RUN_WITHOUT_DOWNLOADS

    def _base(self, target: TargetEnv) -> list[str]:
        if any((path / "pip").is_dir() for path in target.site_packages):
            return [str(target.python), "-m", "pip"]
        try:
            import pip  # noqa: F401
        except ImportError:
            raise TargetEnvError(
                f"the environment {target.root} has no pip, and neither has Poetry's own"
                " environment",
                kept="nothing was changed",
                next="Run `poetry run python -m ensurepip`, then `poetry torch install`.",
            ) from None
        return [sys.executable, "-m", "pip", "--python", str(target.python)]

    def index_args(self, request: Request) -> list[str]:
        pre = ["--pre"] if request.prereleases else []
        if request.find_links is not None:
            return ["--no-index", "--find-links", request.find_links, *pre]
        # With a login, the URL travels in PIP_INDEX_URL (see environment()), never in argv.
        return [*([] if request.credentials else ["--index-url", request.index_url]), *pre]

    def environment(self, request: Request) -> dict[str, str]:
        env = clean_environment()
        if request.credentials and request.find_links is None:
            env[self.login_variable] = request.index_url_with_credentials()
        return env

    def command(self, target: TargetEnv, request: Request) -> list[str]:
        command = [*self._base(target), "install", *self.index_args(request), *request.options]
        compiling = ["--compile" if self.compile_bytecode else "--no-compile"]
        return [*command, *compiling, *request.loudness(), *_progress(), *request.requirements]

    def report_command(self, target: TargetEnv, request: Request, folder: Path) -> list[str]:
        """The resolving command: a dry run that ignores what is installed, reported as JSON
        into ``folder``/report.json."""
        return [
            *self._base(target),
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(folder / "report.json"),
            *self.index_args(request),
            *request.options,
            *request.requirements,
        ]

    def report(self, target: TargetEnv, request: Request) -> dict[str, Any]:
        """pip's own ``--report`` of a dry run that ignores what is installed."""
        with tempfile.TemporaryDirectory(prefix="poetry-torch-") as tmp:
            command = self.report_command(target, request, Path(tmp))
            show_command(command, request)
            finished = run(command, env=self.environment(request), echo_stderr=request.verbose)
            if finished.code != 0:
                raise install_failure(finished.stderr, request, target, self.name)
            report = Path(tmp) / "report.json"
            data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data

    def download_command(self, target: TargetEnv, request: Request, dest: Path) -> list[str]:
        return [
            *self._base(target),
            "download",
            "--dest",
            str(dest),
            *self.index_args(request),
            *request.options,
            *request.loudness(),
            *_progress(),
            *request.requirements,
        ]

    def download(self, target: TargetEnv, request: Request, dest: Path) -> None:
        """``pip download`` the closure of ``request`` into ``dest``: pip resolves for the
        target interpreter (ignoring what is installed, as ``report`` does) and checks every
        file against the index's ``#sha256=``; each file crosses the network once."""
        code, stderr = self.fetch(target, request, dest)
        if code != 0:
            raise install_failure(stderr, request, target, self.name)

    def fetch(self, target: TargetEnv, request: Request, dest: Path) -> tuple[int, str]:
        """``download``, returning the exit code and the error output instead of raising."""
        return self._run(self.download_command(target, request, dest), request)

    def run(self, target: TargetEnv, request: Request) -> tuple[int, str]:
        return self._run(self.command(target, request), request)

    def _run(self, command: list[str], request: Request) -> tuple[int, str]:
        """Run one pip command: shown first, its output echoed only at -v."""
        show_command(command, request)
        finished = run(
            command,
            env=self.environment(request),
            echo_stdout=request.verbose,
            echo_stderr=request.verbose,
        )
        return finished.code, finished.stderr

    def install(self, target: TargetEnv, request: Request) -> None:
        code, stderr = self.run(target, request)
        if code != 0:
            raise install_failure(stderr, request, target, self.name)
