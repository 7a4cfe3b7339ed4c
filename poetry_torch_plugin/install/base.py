"""What every installer backend shares: the Request, the Backend protocol, a clean child
environment, and the target interpreter's tags and markers.

Each backend runs with the user's own pip/uv configuration neutralized, so that only the
configured PyTorch index can serve torch-family packages (an ``extra-index-url`` or
``find-links`` in pip.conf must not change what gets installed)."""

from __future__ import annotations

import json
import os

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from packaging.utils import canonicalize_name

from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence
    from pathlib import Path

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.published import WheelTarget


@dataclass(frozen=True)
class Request:
    """One install: the index, the requirements, and how loud to be."""

    index_url: str
    requirements: tuple[str, ...]
    quiet: bool = False
    verbose: bool = False
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    options: tuple[str, ...] = ()
    # a local wheelhouse to install from instead of the index (``--no-index --find-links``)
    find_links: str | None = None

    @property
    def prereleases(self) -> bool:
        """Whether the index is PyTorch's test or nightly channel, whose builds are
        pre-releases (``2.12.0.dev20260301+cu130``): the installers must be told to take them."""
        from poetry_torch_plugin.core.variants import channel_of

        return channel_of(self.index_url) != "stable"

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

    def report_command(self, target: TargetEnv, request: Request, folder: Path) -> list[str]:
        """The command ``report`` runs, its files in ``folder`` (shown by ``--dry-run``)."""
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


def show_command(command: Sequence[str], request: Request) -> None:
    """At ``-v``, the exact installer command, before it runs (a login never is in argv;
    any URL login is masked all the same)."""
    if not request.verbose:
        return
    import shlex
    import sys

    from poetry_torch_plugin.core.urls import redact_text

    sys.stderr.write(f"poetry-torch: running {redact_text(shlex.join(command))}\n")
    sys.stderr.flush()


def pins_of(report: Mapping[str, Any]) -> dict[str, str]:
    """``{name: version}`` of every package a ``report()`` would install."""
    return {
        canonicalize_name(str(item["metadata"]["name"])): str(item["metadata"]["version"])
        for item in report.get("install", [])
    }


# pip's own settings that cannot change which files get installed: its certificates and proxy,
# and its cache (the one a second install of the same build is served from).
_KEEP_ENV = ("PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR")


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
    env.update(installer_timeouts(source))
    return env


TIMEOUT_ENV = "POETRY_TORCH_TIMEOUT"


def installer_timeouts(source: Mapping[str, str]) -> dict[str, str]:
    """``POETRY_TORCH_TIMEOUT`` (seconds) for pip and uv too, so a stalled download stops in
    about that time (one retry) instead of pip's 15 s x 5 retries or uv's 30 s x 3: empty
    when it is unset or not a number (the probes then keep their default as well)."""
    try:
        seconds = max(1, round(float(source.get(TIMEOUT_ENV, ""))))
    except (ValueError, OverflowError):
        return {}
    return {
        "PIP_TIMEOUT": str(seconds),
        "PIP_RETRIES": "1",
        "UV_HTTP_TIMEOUT": str(seconds),
        "UV_HTTP_RETRIES": "1",
    }


def _ask(python: Path, code: str) -> str:
    """What ``python -c code`` prints; "" when it cannot run."""
    try:
        finished = run([str(python), "-c", code], timeout=10)
    except OSError:
        return ""
    return "" if finished.timed_out else finished.stdout.strip()


def environment_tags(python: Path) -> str:
    """``Python 3.11 (cp311), platform linux-x86_64`` for messages about unmatched wheels."""
    code = (
        "import sys, sysconfig;"
        "print('Python %d.%d (%s%d%d), platform %s' % (sys.version_info[0], sys.version_info[1],"
        " 'cp' if sys.implementation.name == 'cpython' else sys.implementation.name,"
        " sys.version_info[0], sys.version_info[1], sysconfig.get_platform()))"
    )
    return _ask(python, code) or "this environment"


def environment_tag_set(python: Path) -> frozenset[str]:
    """Every wheel tag the environment's interpreter installs (``cp311-cp311-manylinux_2_28_x86_64``,
    …), asked of that interpreter (its packaging, else pip's); empty when it cannot tell."""
    code = (
        "import json\n"
        "try:\n from packaging import tags\n"
        "except ImportError:\n from pip._vendor.packaging import tags\n"
        "print(json.dumps([str(t) for t in tags.sys_tags()]))"
    )
    answer = _ask(python, code)
    try:
        return frozenset(json.loads(answer)) if answer else frozenset()
    except ValueError:
        return frozenset()


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


def environment_wheel_target(python: Path) -> WheelTarget | None:
    """The wheel tags the target interpreter supports, as pip would compute them there
    (``packaging.tags.sys_tags`` of the plugin's own packaging, run by that interpreter);
    None when it cannot run."""
    from pathlib import Path

    import packaging

    from poetry_torch_plugin.index.published import WheelTarget

    home = str(Path(packaging.__file__).resolve().parent.parent)
    code = (
        f"import json, sys, sysconfig; sys.path.insert(0, {home!r});"
        "from packaging.tags import interpreter_name, sys_tags;"
        "short = '%s%d%d %s' % (interpreter_name(), sys.version_info[0], sys.version_info[1],"
        " sysconfig.get_platform().replace('-', '_').replace('.', '_'));"
        "print(json.dumps({'short': short, 'tags': [str(t) for t in sys_tags()]}))"
    )
    try:
        found = json.loads(_ask(python, code) or "null")
    except ValueError:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("tags"), list):
        return None
    return WheelTarget(str(found.get("short")), frozenset(str(tag) for tag in found["tags"]))
