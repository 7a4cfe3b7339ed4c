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
# (a pattern as text: re compiles it on first use, not when the hook's modules load)
_LOGIN_IN_TEXT = r"(?<=//)([^\s/?#@'\"<>]*(?:@[^\s/?#@'\"<>]*)*)@"


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
    return re.sub(_LOGIN_IN_TEXT, lambda match: _masked(match.group(1)) + "@", text)


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in _LOOPBACK


# --- the file URLs poetry-torch.lock records -------------------------------------------------


def url_problem(filename: str, url: str) -> str | None:
    """Why ``url`` cannot be the recorded place of ``filename`` (a hand edit, a login written
    into the lock); None when it is an http(s) or file URL, with no login, query or fragment,
    whose last path segment is that file."""
    from urllib.parse import unquote
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "file") or (
        parts.scheme.lower() != "file" and not parts.hostname
    ):
        return f"the url of {filename} is not an http(s) or file URL"
    if without_login(url) != url or parts.query or parts.fragment:
        return f"the url of {filename} carries a login, a query or a fragment"
    if unquote(parts.path.rsplit("/", 1)[-1]) != filename:
        return f"the url of {filename} names another file"
    return None


def recorded_url(filename: str, link: str) -> str | None:
    """What the lock keeps of the link an index page gave for ``filename``: the URL without
    login and fragment; None where it cannot be kept (a signed link's query is a credential
    of its own and expires, so such a file stays ``{index}/{file}``)."""
    from urllib.parse import urlsplit

    url = without_login(urlsplit(link)._replace(fragment="").geturl())
    return url if url_problem(filename, url) is None else None
