"""What every installer backend shares: the Request, the Backend protocol, a clean child
environment, and the target interpreter's tags and markers; the check that a resolution holds the
asked-for variant's builds (before anything is uninstalled); and the one line that explains an
installer's failure.

Each backend runs with the user's own pip/uv configuration neutralized, so that only the
configured PyTorch index can serve torch-family packages (an ``extra-index-url`` or
``find-links`` in pip.conf must not change what gets installed).

The foreign-build check exists because an index (or a mirror) that serves ``+cu128`` files under
``…/whl/cu129`` would otherwise replace a working build with the wrong one (issue 12, item 17)."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import urllib.parse

from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

import packaging

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.config import is_torch_family
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import redact_text
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.core.variants import channel_of
from poetry_torch_plugin.core.variants import from_local_label
from poetry_torch_plugin.core.variants import from_url
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import NotPublishedError
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.process import run


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence

    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv


@record
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
        parts = urllib.parse.urlsplit(self.index_url)
        user, secret = (urllib.parse.quote(part, safe="") for part in self.credentials)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{parts.netloc}"))


class Backend(Protocol):
    name: str
    login_variable: str  # the child's variable that carries an index URL with a login
    compile_bytecode: bool  # --compile: the installed files compiled, as `poetry install --compile`

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


# What an interpreter answered, by (path, the executable's inode and mtime, code): one command
# asks the same environment for its tags from several places (the variant's check, the family,
# the install), and each start of the interpreter costs ~0.1 s.
_ANSWERS: dict[tuple[str, int, int, str], str] = {}


def _ask(python: Path, code: str) -> str:
    """What ``python -c code`` prints; "" when it cannot run.  A clean answer is remembered."""
    try:
        found = python.stat()
    except OSError:
        return ""
    key = (str(python), found.st_ino, found.st_mtime_ns, code)
    if key in _ANSWERS:
        return _ANSWERS[key]
    try:
        finished = run([str(python), "-c", code], timeout=10)
    except OSError:
        return ""
    answer = "" if finished.timed_out else finished.stdout.strip()
    if answer and finished.code == 0:
        _ANSWERS[key] = answer
    return answer


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


# The packages whose builds differ per variant and carry the variant as their local label.
VARIANT_BUILDS = ("torch", "torchvision", "torchaudio")


def foreign_builds(versions: Mapping[str, str], variant: Variant) -> list[str]:
    """``torch 2.8.0+cu128`` for each variant build in ``versions`` ({name: version}) whose local
    label names another variant.  An unlabelled version (macOS, PyPI) cannot be told apart."""
    found = []
    for name, version in versions.items():
        if canonicalize_name(name) not in VARIANT_BUILDS:
            continue
        labelled = from_local_label(version)
        if labelled is not None and labelled != variant:
            found.append(f"{canonicalize_name(name)} {version}")
    return found


def refuse_foreign_builds(
    versions: Mapping[str, str], variant: Variant, index_url: str, *, kept: str
) -> None:
    """One line, before anything is installed, when the resolution holds another variant's
    builds; ``kept`` says what was left as it was (``pyproject.toml and the earlier build
    were left as they were``)."""
    foreign = foreign_builds(versions, variant)
    if not foreign:
        return
    first = from_local_label(foreign[0].rsplit(" ", 1)[-1])
    raise InstallError(
        f"{redact(index_url)} serves {', '.join(foreign)}"
        f" ({'a ' + str(first) + ' build' if len(foreign) == 1 else str(first) + ' builds'}) where"
        f" {variant} was asked for",
        kept=f"nothing was uninstalled or installed, and {kept}",
        next=f"Point the source at an index that serves {variant} builds (…/whl/{variant}), then"
        " run the command again.",
    )


# pip's texts, then uv's (0.13: "Because torch==2.8.0+cu126 has no wheels with a matching
# platform tag", "Because only torch==2.8.0 is available and you require torch==2.10.*",
# "Request failed after 3 retries", "error sending request for url"; a corrupted download
# usually fails uv's zip "Bad CRC" check before its hash check).  Plain strings, compiled on
# first use by re's cache.
_PATTERNS: tuple[tuple[str, int, str], ...] = (
    (r"No matching distribution found for (\S+)", 0, "nomatch"),
    # uv 0.13: "Because torch==… has no wheels"; uv 0.11: "Because only torch==2.8.0+cu126 is
    # available and torch==2.8.0+cu126\n has no wheels with a matching Python ABI tag"
    (r"(?:Because|and)\s+`?([^\s`,]+)`?\s+has\s+no\s+wheels\s+with\s+a\s+matching", 0, "nomatch"),
    (r"Because `?([^\s`,]+)`? was\s+not\s+found\s+in\s+the\s+package", 0, "nomatch"),
    (
        r"Because (?:there\s+is\s+no\s+version\s+of\s+\S+|only\s+\S+\s+(?:is|are)\s+available)"
        r"\s+and\s+you\s+require\s+`?([^\s`,]+?)`?,",
        0,
        "nomatch",
    ),
    (
        r"THESE PACKAGES DO NOT MATCH THE HASHES|hash mismatch|Bad CRC|Failed to extract archive"
        r"|ZIP local header",
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


def requested_names(requirements: Sequence[str]) -> set[str]:
    """The canonical names of requirement strings (``torch==2.9.0+cu129`` -> ``torch``)."""
    return {
        canonicalize_name(re.split(r"[<>=!~;\[ (@]", one.strip(), maxsplit=1)[0])
        for one in requirements
    }


def earlier_build(target: TargetEnv, requirements: Sequence[str]) -> bool:
    """Whether ``target`` holds any of the requested torch-family packages: only then is there
    an earlier build that a failed install left in place."""
    installed = installed_distributions(target.site_packages)
    return any(is_torch_family(name) for name in requested_names(requirements) & set(installed))


def explain_failure(
    stderr: str, request: Request, target: TargetEnv, tool: str, *, locked: bool = False
) -> str:
    """``install_failure``'s one line."""
    return str(install_failure(stderr, request, target, tool, locked=locked))


def install_failure(
    stderr: str, request: Request, target: TargetEnv, tool: str, *, locked: bool = False
) -> InstallError:
    """Turn an installer's error output into an error that says what to do next; ``locked``:
    the request replays poetry-torch.lock's exact files."""
    index = redact(request.index_url)
    earlier = earlier_build(target, request.requirements)
    kept = "the earlier build is still installed" if earlier else "nothing was installed"
    for pattern, flags, kind in _PATTERNS:
        match = re.search(pattern, stderr, flags)
        if match is None:
            continue
        if kind == "nomatch":
            name = re.split(r"[<>=!~;\[ (]", match.group(1), maxsplit=1)[0]
            if locked:
                return InstallError(
                    f"{index} no longer lists the locked {match.group(1)} for"
                    f" {environment_tags(target.python)}",
                    kept=kept,
                    next="Run `poetry torch lock` to lock what the index publishes now, then run"
                    " the command again.",
                )
            if name and not _published(request, name):
                page = f"{index.rstrip('/')}/{canonicalize_name(name)}/"
                variant = from_url(request.index_url)
                option = f"{variant.option} " if variant is not None else ""
                if canonicalize_name(name) not in requested_names(request.requirements):
                    return InstallError(
                        f"{index} does not publish {name}, which the requested build depends on"
                        f" (there is no {page} page)",
                        kept=kept,
                        next="The index lacks part of the build: install it from an index that"
                        " serves the whole build (`poetry torch"
                        f" install {option}--index-base URL`).",
                    )
                others = [
                    requirement
                    for requirement in request.requirements
                    if canonicalize_name(name) not in requested_names((requirement,))
                ]
                without = (
                    f" without it (`poetry torch install {option}{shlex.join(others)}`)"
                    if others
                    else ""
                )
                return InstallError(
                    f"{name} is not published on {index} (there is no {page} page)",
                    kept=kept,
                    next=f"Install{without} from this index, or from one that publishes {name}"
                    f" (`poetry torch install {option}--index-base URL`).",
                )
            unfit = f"no wheel of {match.group(1)} on {index}"
            return InstallError(
                f"{unfit} matches {environment_tags(target.python)}"
                " (no wheels with a matching Python ABI tag or platform)",
                kept=kept,
                next="Pick a torch version or variant that publishes wheels for this Python"
                " (`poetry torch install --cuda X.Y 'torch==A.B.*'`), or use another Python.",
                no_wheel=unfit,
            )
        if kind == "hash":
            return InstallError(
                f"a file from {index} does not match the index's sha256 (or is not even a valid"
                " wheel)",
                kept="nothing was installed"
                + (" and the earlier build is still installed" if earlier else ""),
                next="The index or a proxy is serving a corrupted file: run the same command again"
                " later, or use another mirror (`poetry torch install --index-base URL`).",
            )
        if kind == "conflict":
            return InstallError(
                f"the requested packages conflict on {index} ({_last_error(stderr)})",
                kept=kept,
                next="Relax the requested versions (on the command line, or in [tool.poetry-torch]"
                " packages when none are given there) so torch, torchvision and torchaudio can"
                " come from one release, then run poetry torch install again.",
            )
        if kind == "readonly":
            return InstallError(
                f"cannot write to the environment {target.root} (read-only or permission denied)",
                kept=kept,
                next="Fix its permissions, or run `poetry env remove --all` and `poetry install` to"
                " recreate it.",
            )
        return InstallError(
            f"the index {index} could not be reached during the install ({_last_error(stderr)})",
            kept=kept,
            next="Check the network, then run `poetry torch install`.",
        )
    return InstallError(
        f"{tool} failed: {_last_error(stderr)}",
        kept=kept,
        next="Run `poetry torch install -v` for details.",
    )


def _published(request: Request, name: str) -> bool:
    """Whether the index has a page for ``name`` at all: pip and uv say "no matching
    distribution" both when it has none and when no wheel fits; only a 404 (or a missing
    folder of a file:// index) means "not published".  Any other answer counts as published."""
    url = without_login(request.index_url)
    user, password = request.credentials or (None, None)
    try:
        fetch_listing(url, name, timeout=5, access=IndexAccess(url, user, password))
    except NotPublishedError:  # the two "does not publish" answers (404, no folder)
        return False
    except Exception:  # a message is being built: any doubt means "published"
        return True
    return True


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # pip: "ERROR: …"; uv 0.13: "error: …"; uv 0.11: a multiplication sign, its causes follow
    errors = [line for line in lines if line.startswith(("ERROR:", "error:", "\u00d7"))]
    chosen = (errors or lines or ["no output"])[-1]
    chosen = chosen.removeprefix("ERROR:").removeprefix("error:").removeprefix("\u00d7")
    chosen = redact_text(chosen.strip().rstrip(":"))
    if len(chosen) <= 300:
        return chosen
    return chosen[:300].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"  # never cut mid-word
