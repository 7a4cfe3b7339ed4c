"""URLs and the logins inside them: the one credential scrubber, and the loopback test.

A login is the ``user:password@`` in front of the host.  The host part after it is kept byte for
byte (IPv6 brackets, port, case), so a scrubbed URL still reaches the same server.  The login
ends at the last ``@`` of the authority, as ``urllib.parse`` reads it, so an unencoded ``@`` in
a password is scrubbed with the rest of it.
"""

from __future__ import annotations

import re
import urllib.parse


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

# ``//login@`` inside free text: the authority runs to the first "/", "?", "#", quote or
# whitespace, and the login to its last "@".
_LOGIN_IN_TEXT = re.compile(r"(?<=//)([^\s/?#@'\"<>]*(?:@[^\s/?#@'\"<>]*)*)@")


def _login_and_host(netloc: str) -> tuple[str | None, str]:
    login, at, host = netloc.rpartition("@")
    return (login, host) if at else (None, netloc)


def _masked(login: str) -> str:
    """``user:***`` for a login with a password, ``***`` for a lone user (often a token)."""
    user, colon, _ = login.partition(":")
    return f"{user}:***" if colon else "***"


def redact(url: str) -> str:
    """The URL with its password masked (``user:***@host``), for anything printed or logged."""
    parts = urllib.parse.urlsplit(url)
    login, host = _login_and_host(parts.netloc)
    if login is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{_masked(login)}@{host}"))


def without_login(url: str) -> str:
    """The URL with no user and no password: what may be written to a file."""
    return split_login(url)[0]


def split_login(url: str) -> tuple[str, str | None, str | None]:
    """``(url without login, user, password)``, user and password percent-decoded; an empty
    user or password is None."""
    parts = urllib.parse.urlsplit(url)
    login, host = _login_and_host(parts.netloc)
    if login is None:
        return url, None, None
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    user, colon, secret = login.partition(":")
    return (
        clean,
        urllib.parse.unquote(user) or None,
        (urllib.parse.unquote(secret) or None) if colon else None,
    )


def redact_text(text: str) -> str:
    """Free text (a tool's output, an error) with the login of every URL in it masked."""
    return _LOGIN_IN_TEXT.sub(lambda match: _masked(match.group(1)) + "@", text)


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in _LOOPBACK
