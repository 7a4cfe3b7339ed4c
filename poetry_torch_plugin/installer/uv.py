"""The uv installer: ``uv pip install`` into the project environment, from one index only.

uv's own configuration is switched off the same way pip's is: ``--no-config`` skips uv.toml and
``[tool.uv]``, and every ``UV_*`` variable that could add an index, a find-links directory or a
torch backend is dropped from its environment.  Cache, TLS, timeout and link-mode settings are
kept, and ``HTTPS_PROXY``/``SSL_CERT_FILE`` (not ``UV_*``) pass through.  A login for the index
travels in ``UV_INDEX_URL``, never in argv; the certificate, proxy and trusted-host options that
the pip backend passes become ``SSL_CERT_FILE``, ``SSL_CLIENT_CERT``, ``HTTPS_PROXY`` and
``--allow-insecure-host``.  Checked against uv 0.13."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.installer.backend import clean_environment
from poetry_torch_plugin.installer.backend import environment_markers
from poetry_torch_plugin.installer.backend import install_failure
from poetry_torch_plugin.installer.backend import show_command
from poetry_torch_plugin.process import child
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.installer.backend import Request


# UV_* settings that cannot change which files get installed (names from uv's
# docs/reference/environment.md); every other UV_* variable is dropped.
_KEEP_UV_ENV = frozenset(
    {
        "UV_CACHE_DIR",
        "UV_NO_CACHE",
        "UV_NATIVE_TLS",
        "UV_INSECURE_HOST",
        "UV_HTTP_TIMEOUT",
        "UV_HTTP_RETRIES",
        "UV_REQUEST_TIMEOUT",
        "UV_CONCURRENT_DOWNLOADS",
        "UV_CONCURRENT_BUILDS",
        "UV_CONCURRENT_INSTALLS",
        "UV_LINK_MODE",
        "UV_NO_PROGRESS",
    }
)


_ANSI = r"\x1b\[[0-9;?]*[A-Za-z]"


# What is kept of uv's terminal output to explain a failure: the error comes last.
_TAIL_BYTES = 256 * 1024


def uv_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``clean_environment()`` minus every ``UV_*`` setting that could add or reorder an index."""
    env = clean_environment(base)
    return {k: v for k, v in env.items() if not k.startswith("UV_") or k in _KEEP_UV_ENV}


def find_uv() -> str | None:
    """The uv executable: on PATH, else the one the ``uv`` package installed next to Poetry."""
    found = shutil.which("uv")
    if found is not None:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except (FileNotFoundError, OSError):
        return None


# The oldest uv this backend accepts: --allow-insecure-host, --index-strategy, --no-config and
# compile's --generate-hashes all exist there (the messages are matched against 0.13).
MIN_UV = (0, 5, 0)


def uv_version(binary: str) -> tuple[int, ...] | None:
    """``(0, 13, 9)`` from ``uv --version``; None when it does not run or says something else."""
    try:
        finished = run([binary, "--version"], timeout=10)
    except OSError:
        return None
    match = re.match(r"uv (\d+)\.(\d+)\.(\d+)", finished.stdout.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def plain_text(output: str) -> str:
    """uv's terminal output without colours and progress-bar redraws."""
    text = re.sub(_ANSI, "", output).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


class UvBackend:
    """``uv pip install`` into the project environment, pinned to the one configured index."""

    name = "uv"
    login_variable = "UV_INDEX_URL"

    def __init__(self, binary: str, *, compile_bytecode: bool = False) -> None:
        self.binary = binary
        # uv compiles only when asked, as Poetry does (``--compile``)
        self.compile_bytecode = compile_bytecode

    def _options(self, target: TargetEnv, request: Request) -> list[str]:
        # With a login, the URL travels in UV_INDEX_URL (see environment()), never in argv.
        # With a single index, first-index is what uv does anyway; spelling it out keeps a
        # future default (or a stray setting) from letting another index compete for torch.
        index = [] if request.credentials else ["--index-url", request.index_url]
        if request.find_links is not None:
            index = ["--no-index", "--find-links", request.find_links]
        hosts = [value for option, value in _pairs(request.options) if option == "--trusted-host"]
        return [
            "--python",
            str(target.python),
            *index,
            *(part for host in hosts for part in ("--allow-insecure-host", host)),
            "--index-strategy",
            "first-index",
            *(["--prerelease", "allow"] if request.prereleases else []),
            "--no-config",
        ]

    def environment(self, request: Request) -> dict[str, str]:
        """uv's environment: the login and pip's certificate and proxy options, in uv's terms."""
        env = uv_environment()
        if request.credentials and request.find_links is None:
            env[self.login_variable] = request.index_url_with_credentials()
        for option, value in _pairs(request.options):
            for name in _OPTION_ENV.get(option, ()):
                env[name] = value
        return env

    def command(self, target: TargetEnv, request: Request) -> list[str]:
        command = [self.binary, "pip", "install", *self._options(target, request)]
        compiling = ["--compile-bytecode"] if self.compile_bytecode else []
        return [*command, *compiling, *request.loudness(), *request.requirements]

    def report_command(self, target: TargetEnv, request: Request, folder: Path) -> list[str]:
        """The resolving command: ``uv pip compile`` of ``folder``/requirements.in (the
        requirements, one a line) into a hashed ``folder``/requirements.txt."""
        return [
            self.binary,
            "pip",
            "compile",
            str(folder / "requirements.in"),
            "--output-file",
            str(folder / "requirements.txt"),
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
            "--quiet",
            *self._options(target, request),
        ]

    def report(
        self,
        target: TargetEnv,
        request: Request,
        *,
        foreign: tuple[str, str] | None = None,
        hashes: bool = True,
    ) -> dict[str, Any]:
        """What uv would install into an empty environment, in the shape of pip's report.

        ``uv pip compile --python <env python> --generate-hashes`` never looks at installed
        packages, takes the markers and wheel tags from that interpreter (a wheel for another
        platform or ABI is skipped, as ``uv pip install`` skips it), and writes a hashed
        requirements file, a documented format; ``uv pip install --dry-run`` would only print
        a human summary.  ``foreign`` (uv's ``--python-platform``, a Python ``3.12``) resolves
        for another machine instead, wheels only, its markers evaluated as there.  Without
        ``hashes`` (an index whose pages give no sha256, where uv would download every chosen
        wheel whole to hash it, and the lock downloads them itself) uv reads only metadata.
        """
        with tempfile.TemporaryDirectory(prefix="poetry-torch-") as tmp:
            wanted = Path(tmp) / "requirements.in"
            pinned = Path(tmp) / "requirements.txt"
            wanted.write_text("".join(f"{r}\n" for r in request.requirements), encoding="utf-8")
            command = self.report_command(target, request, Path(tmp))
            if not hashes:
                command.remove("--generate-hashes")
            if foreign is not None:
                platform, python = foreign
                command += ["--python-platform", platform, "--python-version", python]
                command += ["--no-build"]
            show_command(command, request)
            try:
                finished = run(command, env=self.environment(request), echo_stderr=request.verbose)
            except OSError as exc:  # gone or not executable since it was found
                raise InstallError(
                    f"uv could not be started ({self.binary}: {exc.strerror or exc})",
                    kept="nothing was installed",
                    next="Install uv again (`poetry self add uv`), then run the command again.",
                ) from None
            if finished.code != 0:
                raise install_failure(finished.stderr, request, target, self.name)
            text = pinned.read_text(encoding="utf-8")
        requested = {_name(line) for line in request.requirements} - {None}
        install = [
            {
                "metadata": {"name": name, "version": version},
                "requested": name in requested,
                "hashes": list(hashes),
            }
            for name, version, hashes in parse_hashed(text)
        ]
        if foreign is None:
            return {"install": install, "environment": environment_markers(target.python)}
        return {"install": install}

    def run(self, target: TargetEnv, request: Request) -> tuple[int, str]:
        command = self.command(target, request)
        show_command(command, request)
        # uv's own lines (and its progress bars) only at -v: the plugin says what changed
        return run_uv(command, self.environment(request), show=request.verbose)

    def install(self, target: TargetEnv, request: Request) -> None:
        code, stderr = self.run(target, request)
        if code != 0:
            raise install_failure(stderr, request, target, self.name)


# pip options (from IndexAccess.pip_options) -> the variables uv reads instead; --trusted-host
# becomes --allow-insecure-host in argv.
_OPTION_ENV: dict[str, tuple[str, ...]] = {
    "--cert": ("SSL_CERT_FILE",),
    "--client-cert": ("SSL_CLIENT_CERT",),
    "--proxy": ("HTTPS_PROXY", "HTTP_PROXY"),
    "--trusted-host": (),
}


def _pairs(options: Sequence[str]) -> list[tuple[str, str]]:
    """``("--cert", "/ca.pem", ...)`` as pairs; an option uv cannot honour stops the install."""
    pairs = list(zip(options[::2], options[1::2]))
    unknown = [option for option, _ in pairs if option not in _OPTION_ENV]
    unknown += options[2 * len(pairs) :]
    if unknown:
        raise TargetEnvError(
            f"uv has no equivalent of pip's {unknown[0]}",
            kept="nothing was changed",
            next="Run `poetry torch install --installer pip`.",
        )
    return pairs


def _name(requirement: str) -> str | None:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return None


def parse_hashed(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(name, version, sha256 digests)`` from the file ``uv pip compile --generate-hashes``
    writes: ``name==version \\`` then ``--hash=sha256:...`` continuation lines."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, *options = line.split()
        if options[:1] == ["@"] and len(options) > 1:
            # a file named by URL (PyPI's torchaudio, ``service.family``): its version is the
            # wheel's, its hash the URL's fragment or uv's --hash
            found.append(_by_url(requirement, options[1], options[2:]))
            continue
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement:
            continue
        specs = list(parsed.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            continue
        digests = tuple(
            option.removeprefix("--hash=sha256:")
            for option in options
            if option.startswith("--hash=sha256:")
        )
        found.append((canonicalize_name(parsed.name), specs[0].version, digests))
    return found


def _by_url(name: str, url: str, options: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
    import urllib.parse

    from packaging.utils import parse_wheel_filename

    path, _, fragment = url.partition("#")
    filename = urllib.parse.unquote(urllib.parse.urlsplit(path).path.rsplit("/", 1)[-1])
    version = str(parse_wheel_filename(filename)[1]) if filename.endswith(".whl") else ""
    digests = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=sha256:")]
    if fragment.startswith("sha256="):
        digests.append(fragment.removeprefix("sha256="))
    return canonicalize_name(name), version, tuple(dict.fromkeys(digests))


def run_uv(command: Sequence[str], env: Mapping[str, str], *, show: bool) -> tuple[int, str]:
    """Run uv; return its exit code and its stderr as plain text.

    uv draws its progress bars only when stderr is a terminal, so when the output is shown on
    one, uv gets a pseudo-terminal whose bytes are copied to ours (and the tail kept to explain
    a failure).  Elsewhere stderr is read line by line, and echoed when ``show``.
    """
    if show and os.name == "posix" and _is_terminal(sys.stderr):
        return _run_on_terminal(command, env)
    finished = run(command, env=env, echo_stdout=show, echo_stderr=show)
    return finished.code, finished.stderr


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


def _run_on_terminal(command: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    import fcntl
    import pty
    import termios

    sys.stderr.flush()
    terminal = sys.stderr.fileno()
    leader, follower = pty.openpty()
    try:
        size = fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(follower, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # uv falls back to 80 columns
    tail = bytearray()
    try:
        with child(command, env=env, stderr=follower) as process:
            os.close(follower)  # uv holds the only other end: EOF/EIO when it exits
            follower = -1
            while True:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: uv has closed the terminal
                    break
                if not data:
                    break
                _write_all(terminal, data)
                tail += data
                if len(tail) > 2 * _TAIL_BYTES:
                    del tail[:-_TAIL_BYTES]
            code = process.wait()
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return code, plain_text(tail.decode("utf-8", errors="replace"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
