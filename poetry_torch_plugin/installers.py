"""Installer backends (pip, uv) behind one small Protocol.

Each backend runs with the user's own pip/uv configuration neutralized, so that only the
configured PyTorch index can serve torch-family packages (an ``extra-index-url`` or
``find-links`` in pip.conf must not change what gets installed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from packaging.utils import canonicalize_name

from poetry_torch_plugin.errors import EnvironmentError_
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.index import redact


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.access import IndexAccess
    from poetry_torch_plugin.environment import TargetEnv


@dataclass(frozen=True)
class Request:
    """One install: the index, the requirements, and how loud to be."""

    index_url: str
    requirements: tuple[str, ...]
    quiet: bool = False
    verbose: bool = False
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    options: tuple[str, ...] = ()

    @classmethod
    def for_access(
        cls,
        access: IndexAccess,
        requirements: Sequence[str],
        *,
        quiet: bool = False,
        verbose: bool = False,
    ) -> Request:
        """A request for ``access``'s index, with its login and its pip options."""
        return cls(
            access.url,
            tuple(requirements),
            quiet=quiet,
            verbose=verbose,
            credentials=access.basic_auth(),
            options=access.pip_options(),
        )

    def loudness(self) -> list[str]:
        """``--quiet`` / ``--verbose``, which pip and uv both take."""
        return [flag for flag, on in (("--quiet", self.quiet), ("--verbose", self.verbose)) if on]

    def index_url_with_credentials(self) -> str:
        """The index URL with the login inside; only ever put in a child's environment."""
        if self.credentials is None:
            return self.index_url
        import urllib.parse

        parts = urllib.parse.urlsplit(self.index_url)
        user, secret = (urllib.parse.quote(part, safe="") for part in self.credentials)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.netloc}"))


class Backend(Protocol):
    name: str
    login_variable: str  # the child's variable that carries an index URL with a login

    def command(self, target: TargetEnv, request: Request) -> list[str]:
        """The install command line (shown by ``--dry-run``)."""
        ...

    def environment(self, request: Request) -> dict[str, str]:
        """The child's environment: the user's settings neutralized, the login added."""
        ...

    def report(self, target: TargetEnv, request: Request) -> dict[str, Any]:
        """What would go into an empty environment, in the shape of pip's ``--report``:
        ``install`` items with ``metadata`` (name, version) and ``requested``, plus
        ``download_info`` (pip) or ``hashes`` (uv); and ``environment`` markers."""
        ...

    def run(self, target: TargetEnv, request: Request) -> tuple[int, str]:
        """Install; return the exit code and the error output (for explaining a failure)."""
        ...

    def install(self, target: TargetEnv, request: Request) -> None:
        """Install, or raise InstallError with one line that says what to do next."""
        ...


def pins_of(report: Mapping[str, Any]) -> dict[str, str]:
    """``{name: version}`` of every package a ``report()`` would install."""
    return {
        canonicalize_name(str(item["metadata"]["name"])): str(item["metadata"]["version"])
        for item in report.get("install", [])
    }


_KEEP_ENV = ("PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY")


def clean_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment minus pip's own settings, with config files switched off."""
    source = dict(os.environ if base is None else base)
    env = {k: v for k, v in source.items() if not k.startswith("PIP_") or k in _KEEP_ENV}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONIOENCODING="utf-8",
    )
    return env


def _ask(python: Path, code: str) -> str:
    """What ``python -c code`` prints; "" when it cannot run."""
    try:
        result = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip()


def environment_tags(python: Path) -> str:
    """``Python 3.11 (cp311), platform linux-x86_64`` for messages about unmatched wheels."""
    code = (
        "import sys, sysconfig;"
        "print('Python %d.%d (%s%d%d), platform %s' % (sys.version_info[0], sys.version_info[1],"
        " 'cp' if sys.implementation.name == 'cpython' else sys.implementation.name,"
        " sys.version_info[0], sys.version_info[1], sysconfig.get_platform()))"
    )
    return _ask(python, code) or "this environment"


def environment_markers(python: Path) -> dict[str, str]:
    """The markers pip's ``--report`` records as ``environment`` (the lock's resolved-for)."""
    code = (
        "import json, platform, sys;"
        "print(json.dumps({'implementation_name': sys.implementation.name,"
        " 'python_version': '%d.%d' % sys.version_info[:2], 'sys_platform': sys.platform,"
        " 'platform_machine': platform.machine()}))"
    )
    try:
        markers = json.loads(_ask(python, code))
    except ValueError:
        return {}
    if not isinstance(markers, dict):
        return {}
    return {str(key): str(value) for key, value in markers.items()}


# pip's texts, then uv's (0.13: "Because torch==2.8.0+cu126 has no wheels with a matching
# platform tag", "Because only torch==2.8.0 is available and you require torch==2.10.*",
# "Request failed after 3 retries", "error sending request for url"; a corrupted download
# usually fails uv's zip "Bad CRC" check before its hash check).  Plain strings, compiled on
# first use by re's cache: this module is imported after every hooked Poetry command.
_PATTERNS: tuple[tuple[str, int, str], ...] = (
    (r"No matching distribution found for (\S+)", 0, "nomatch"),
    (r"Because `?([^\s`,]+)`? has\s+no\s+wheels\s+with\s+a\s+matching", 0, "nomatch"),
    (r"Because `?([^\s`,]+)`? was\s+not\s+found\s+in\s+the\s+package", 0, "nomatch"),
    (
        r"Because (?:there\s+is\s+no\s+version\s+of\s+\S+|only\s+\S+\s+(?:is|are)\s+available)"
        r"\s+and\s+you\s+require\s+`?([^\s`,]+?)`?,",
        0,
        "nomatch",
    ),
    (
        r"THESE PACKAGES DO NOT MATCH THE HASHES|hash mismatch|Bad CRC|Failed to extract archive",
        re.I,
        "hash",
    ),
    (
        r"ResolutionImpossible|conflicting dependencies|No solution found when resolving",
        re.I,
        "conflict",
    ),
    (r"Read-only file system|Permission denied|Errno 13|Errno 30", re.I, "readonly"),
    (
        r"timed out|Connection refused|Failed to establish|NewConnectionError"
        r"|error sending request|Request failed after|dns error",
        re.I,
        "network",
    ),
)


def explain_failure(stderr: str, request: Request, target: TargetEnv, tool: str) -> str:
    """Turn an installer's error output into one line that says what to do next."""
    index = redact(request.index_url)
    kept = "the earlier build is still installed"
    for pattern, flags, kind in _PATTERNS:
        match = re.search(pattern, stderr, flags)
        if match is None:
            continue
        if kind == "nomatch":
            return (
                f"no wheel of {match.group(1)} on {index} matches {environment_tags(target.python)}"
                f" (no wheels with a matching Python ABI tag or platform); {kept}."
                " Pick a torch version or variant that publishes wheels for this Python"
                " (`poetry torch install --cuda X.Y 'torch==A.B.*'`), or use another Python."
            )
        if kind == "hash":
            return (
                f"a file from {index} does not match the index's sha256 (or is not even a valid"
                f" wheel); nothing was installed"
                f" and {kept}. The index or a proxy is serving a corrupted file: retry, or use"
                " another mirror."
            )
        if kind == "conflict":
            return (
                f"the requested packages conflict on {index} ({_last_error(stderr)}); {kept}."
                " Relax [tool.poetry-torch] packages so torch, torchvision and torchaudio"
                " can come from one release."
            )
        if kind == "readonly":
            return (
                f"cannot write to the environment {target.root} (read-only or permission"
                f" denied); {kept}. Fix its permissions, or run `poetry env remove --all` and"
                " `poetry install` to recreate it."
            )
        return (
            f"the index {index} could not be reached during the install ({_last_error(stderr)});"
            f" {kept}. Check the network, then run `poetry torch install`."
        )
    return (
        f"{tool} failed: {_last_error(stderr)}; {kept}. Run `poetry torch install -v` for details."
    )


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "error:"))]
    chosen = (errors or lines or ["no output"])[-1]
    chosen = chosen.removeprefix("ERROR:").removeprefix("error:").strip()
    return redact_text(chosen)[:300]


_URL_CREDENTIALS = re.compile(r"(//[^/\s:@]+):[^@/\s]+@")


def redact_text(text: str) -> str:
    return _URL_CREDENTIALS.sub(r"\1:***@", text)


def _tee(stream: IO[str], sink: list[str], echo: IO[str] | None) -> None:
    for line in stream:
        sink.append(line)
        if echo is not None:
            echo.write(redact_text(line))
            echo.flush()


def run_streaming(
    command: Sequence[str], env: Mapping[str, str], *, echo_stdout: bool, echo_stderr: bool
) -> tuple[int, str, str]:
    """Run ``command``; stdout goes straight to the terminal (pip's progress bars stay
    visible) unless it must be captured, and stderr is collected to explain a failure."""
    stdout_target = None if echo_stdout else subprocess.PIPE
    process = subprocess.Popen(
        list(command),
        stdout=stdout_target,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=dict(env),
    )
    err_lines: list[str] = []
    out_lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(
        target=_tee, args=(process.stderr, err_lines, sys.stderr if echo_stderr else None)
    )
    reader.start()
    if process.stdout is not None:
        _tee(process.stdout, out_lines, None)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    finally:
        reader.join()
    return code, "".join(out_lines), "".join(err_lines)


class PipBackend:
    """pip in the project environment; pip from Poetry's own environment when it has none."""

    name = "pip"
    login_variable = "PIP_INDEX_URL"

    def _base(self, target: TargetEnv) -> list[str]:
        if any((path / "pip").is_dir() for path in target.site_packages):
            return [str(target.python), "-m", "pip"]
        try:
            import pip  # noqa: F401
        except ImportError:
            raise EnvironmentError_(
                f"the environment {target.root} has no pip, and neither has Poetry's own"
                " environment; nothing was changed. Run `poetry run python -m ensurepip`,"
                " then `poetry torch install`."
            ) from None
        return [sys.executable, "-m", "pip", "--python", str(target.python)]

    def index_args(self, request: Request) -> list[str]:
        # With a login, the URL travels in PIP_INDEX_URL (see environment()), never in argv.
        return [] if request.credentials else ["--index-url", request.index_url]

    def environment(self, request: Request) -> dict[str, str]:
        env = clean_environment()
        if request.credentials:
            env[self.login_variable] = request.index_url_with_credentials()
        return env

    def command(self, target: TargetEnv, request: Request) -> list[str]:
        command = [*self._base(target), "install", *self.index_args(request), *request.options]
        return [*command, *request.loudness(), *request.requirements]

    def report(self, target: TargetEnv, request: Request) -> dict[str, Any]:
        """pip's own ``--report`` of a dry run that ignores what is installed."""
        with tempfile.TemporaryDirectory(prefix="poetry-torch-") as tmp:
            report = Path(tmp) / "report.json"
            command = [
                *self._base(target),
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                *self.index_args(request),
                *request.options,
                *request.requirements,
            ]
            code, _, stderr = run_streaming(
                command, self.environment(request), echo_stdout=False, echo_stderr=request.verbose
            )
            if code != 0:
                raise InstallError(explain_failure(stderr, request, target, self.name))
            data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data

    def run(self, target: TargetEnv, request: Request) -> tuple[int, str]:
        code, _, stderr = run_streaming(
            self.command(target, request),
            self.environment(request),
            echo_stdout=not request.quiet,
            echo_stderr=request.verbose,
        )
        return code, stderr

    def install(self, target: TargetEnv, request: Request) -> None:
        code, stderr = self.run(target, request)
        if code != 0:
            raise InstallError(explain_failure(stderr, request, target, self.name))


def get_backend(name: str) -> Backend:
    """``pip``, ``uv``, or ``auto``: uv when it can be found, else pip."""
    if name == "pip":
        return PipBackend()
    if name not in ("uv", "auto"):
        raise EnvironmentError_(f"unknown installer {name!r}; use pip, uv or auto.")
    from poetry_torch_plugin.uv_backend import MIN_UV
    from poetry_torch_plugin.uv_backend import UvBackend
    from poetry_torch_plugin.uv_backend import find_uv
    from poetry_torch_plugin.uv_backend import uv_version

    binary = find_uv()
    version = uv_version(binary) if binary is not None else None
    if binary is not None and version is not None and version >= MIN_UV:
        return UvBackend(binary)
    if name == "auto":
        return PipBackend()  # no uv, or one too old to pin the index the way pip is pinned
    if binary is not None:
        found = f"uv {'.'.join(map(str, version))}" if version else "not a working uv"
        raise EnvironmentError_(
            f"the installer is uv, but {binary} is {found}, and poetry-torch-plugin needs"
            f" uv {'.'.join(map(str, MIN_UV))} or newer; nothing was changed. Upgrade it"
            " (`uv self update`, or `poetry self add 'uv>=0.5'`), or run"
            " `poetry torch install --installer pip`."
        )
    raise EnvironmentError_(
        "the installer is uv, but no uv executable was found (not on PATH, and no uv package in"
        " Poetry's environment); nothing was changed. Install it (`poetry self add uv`), or run"
        " `poetry torch install --installer pip`."
    )
