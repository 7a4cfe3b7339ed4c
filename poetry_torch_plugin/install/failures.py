"""Turn an installer's stderr into one line that says what went wrong and what to run next."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import redact_text
from poetry_torch_plugin.install.base import Request
from poetry_torch_plugin.install.base import environment_tags


if TYPE_CHECKING:
    from poetry_torch_plugin.env.installed import TargetEnv


# pip's texts, then uv's (0.13: "Because torch==2.8.0+cu126 has no wheels with a matching
# platform tag", "Because only torch==2.8.0 is available and you require torch==2.10.*",
# "Request failed after 3 retries", "error sending request for url"; a corrupted download
# usually fails uv's zip "Bad CRC" check before its hash check).  Plain strings, compiled on
# first use by re's cache: this module is imported after every hooked Poetry command.
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


def explain_failure(stderr: str, request: Request, target: TargetEnv, tool: str) -> str:
    """Turn an installer's error output into one line that says what to do next."""
    index = redact(request.index_url)
    kept = "the earlier build is still installed"
    for pattern, flags, kind in _PATTERNS:
        match = re.search(pattern, stderr, flags)
        if match is None:
            continue
        if kind == "nomatch":
            name = re.split(r"[<>=!~;\[ (]", match.group(1), maxsplit=1)[0]
            if name and not _published(request, name):
                return (
                    f"{name} is not published on {index} (there is no"
                    f" {index.rstrip('/')}/{canonicalize_name(name)}/ page); {kept}. Drop it from"
                    " the requested packages, or use an index that publishes it, then run"
                    " poetry torch install again."
                )
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
                f" and {kept}. The index or a proxy is serving a corrupted file: run the same"
                " command again later, or use another mirror (`poetry torch install"
                " --index-base URL`)."
            )
        if kind == "conflict":
            return (
                f"the requested packages conflict on {index} ({_last_error(stderr)}); {kept}."
                " Relax the requested versions (on the command line, or in [tool.poetry-torch]"
                " packages when none are given there) so torch, torchvision and torchaudio can"
                " come from one release, then run poetry torch install again."
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


def _published(request: Request, name: str) -> bool:
    """Whether the index has a page for ``name`` at all: pip and uv say "no matching
    distribution" both when it has none and when no wheel fits; only a 404 (or a missing
    folder of a file:// index) means "not published".  Any other answer counts as published."""
    from poetry_torch_plugin.core.urls import without_login
    from poetry_torch_plugin.errors import IndexAccessError
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.listing import fetch_listing

    url = without_login(request.index_url)
    user, password = request.credentials or (None, None)
    try:
        fetch_listing(url, name, timeout=5, access=IndexAccess(url, user, password))
    except IndexAccessError as exc:
        return "does not publish" not in str(exc)
    except Exception:  # a message is being built: any doubt means "published"
        return True
    return True


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # pip: "ERROR: …"; uv 0.13: "error: …"; uv 0.11: a multiplication sign, its causes follow
    errors = [line for line in lines if line.startswith(("ERROR:", "error:", "\u00d7"))]
    chosen = (errors or lines or ["no output"])[-1]
    chosen = chosen.removeprefix("ERROR:").removeprefix("error:").removeprefix("\u00d7")
    chosen = chosen.strip().rstrip(":")
    return redact_text(chosen)[:300]
