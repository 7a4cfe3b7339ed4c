"""URL helpers shared by every layer: credential scrubbing for display, loopback test."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def redact(url: str) -> str:
    """The URL without its password, for anything that is printed or logged."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.password is not None else "***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in _LOOPBACK
