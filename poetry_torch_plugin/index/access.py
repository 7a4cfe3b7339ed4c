"""How to reach the PyTorch index: credentials, certificates, proxy, and the plain-http policy.

Credentials come from Poetry's own configuration (``poetry config http-basic.<source>``,
``POETRY_HTTP_BASIC_<SOURCE>_USERNAME/PASSWORD``, or the keyring Poetry uses) or from the URL
itself. They are handed to pip through its environment, never through argv, and every URL that
is printed goes through ``core.urls.redact``."""

from __future__ import annotations

import configparser
import os
import urllib.parse

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from poetry_torch_plugin.core.config import env_flag
from poetry_torch_plugin.core.urls import is_loopback
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import split_login
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.seam.credentials import poetry_certificates
from poetry_torch_plugin.seam.credentials import poetry_credentials


ALLOW_HTTP_ENV = "POETRY_TORCH_ALLOW_HTTP"


# pip settings that must survive the neutralized pip configuration (keys as in pip.conf).
_PIP_PASSTHROUGH = ("cert", "client-cert", "proxy")


@dataclass(frozen=True)
class IndexAccess:
    """An index URL without secrets, plus what is needed to reach it."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    cert: str | None = None
    client_cert: str | None = None
    verify: bool = True
    proxy: str | None = None

    @property
    def shown(self) -> str:
        return redact(self.url)

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def url_with_credentials(self) -> str:
        if not self.has_credentials:
            return self.url
        parts = urllib.parse.urlsplit(self.url)
        user = urllib.parse.quote(self.username or "", safe="")
        secret = urllib.parse.quote(self.password or "", safe="")
        netloc = f"{user}:{secret}@{parts.netloc}" if secret else f"{user}@{parts.netloc}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def pip_options(self) -> tuple[str, ...]:
        """Non-secret pip options: CA bundle, client certificate, proxy, trust."""
        options: list[str] = []
        if self.cert:
            options += ["--cert", self.cert]
        if self.client_cert:
            options += ["--client-cert", self.client_cert]
        if self.proxy:
            options += ["--proxy", self.proxy]
        if not self.verify:
            options += ["--trusted-host", urllib.parse.urlsplit(self.url).hostname or ""]
        return tuple(options)

    def basic_auth(self) -> tuple[str, str] | None:
        return (self.username or "", self.password or "") if self.has_credentials else None


def pip_config_files() -> list[Path]:
    """pip's configuration files, in pip's order of precedence (later wins)."""
    explicit = os.environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs] + [Path("/etc/pip.conf")]
    files += [Path.home() / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    if os.environ.get("VIRTUAL_ENV"):
        files.append(Path(os.environ["VIRTUAL_ENV"]) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def pip_passthrough() -> dict[str, str]:
    """The user's pip ``cert``/``client-cert``/``proxy`` settings (env vars win over files)."""
    found: dict[str, str] = {}
    for path in pip_config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            for key in _PIP_PASSTHROUGH:
                if parser.has_option(section, key):
                    found[key] = parser.get(section, key).strip()
    for key in _PIP_PASSTHROUGH:
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            found[key] = value
    return found


def refuse_query(source_name: str, url: str) -> None:
    """A query string or fragment in an index URL (``…/whl/cu129?token=…``) breaks every page:
    pip, uv and the probes add ``/torch/`` after it, so the index would look empty and pip
    would say no wheel matches.  Refused in one line; the query (often a token) is not shown."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query and not parts.fragment:
        return
    shown = redact(urllib.parse.urlunsplit(parts._replace(query="", fragment="")))
    part = "a query string (?…)" if parts.query else "a fragment (#…)"
    raise ConfigError(
        f"the URL of the source {source_name} ({shown}) has {part}, which no package index URL"
        " can carry: pip, uv and poetry add the package name after it, so every page would be"
        " missing; nothing was changed. Remove it from the URL (a token belongs in a login:"
        f" `poetry config http-basic.{source_name} USER`), then run the command again."
    )


def resolve_access(
    source_name: str, url: str, *, allow_http: bool = False, index_base: str | None = None
) -> IndexAccess:
    """Everything needed to reach ``url``; ConfigError for plain http to a remote host.

    The login comes from the URL, else Poetry's configuration for the source, else
    ``index_base`` (``POETRY_TORCH_INDEX_BASE`` or ``index-base``) when that carries one and
    ``url`` lies under it: the plugin never writes such a login into the source URL."""
    clean, username, password = split_login(url)
    scheme = urllib.parse.urlsplit(clean).scheme.lower()
    if scheme not in ("https", "http", "file"):
        raise ConfigError(
            f"the source {source_name} has an unsupported URL scheme {scheme!r}"
            f" ({redact(url)}); nothing was changed. Run `poetry torch install` with an"
            " https:// --index-base (or fix the source URL)."
        )
    refuse_query(source_name, clean)
    allowed = allow_http or env_flag(ALLOW_HTTP_ENV)
    if scheme == "http" and not is_loopback(clean) and not allowed:
        raise ConfigError(
            f"refusing plain http for {redact(url)}: torch would be downloaded without TLS;"
            " nothing was changed. Run `poetry torch install` with an https:// index, or opt in"
            f" with `[tool.poetry-torch] allow-http = true` (or {ALLOW_HTTP_ENV}=1)."
        )
    if username is None and password is None:
        username, password = poetry_credentials(source_name)
    if username is None and password is None and index_base:
        base, base_user, base_password = split_login(index_base)
        base = base.rstrip("/")
        if clean == base or clean.startswith(base + "/"):
            username, password = base_user, base_password
    cert, client_cert, verify = poetry_certificates(source_name)
    passthrough = pip_passthrough()
    return IndexAccess(
        url=clean,
        username=username,
        password=password,
        cert=cert or passthrough.get("cert"),
        client_cert=client_cert or passthrough.get("client-cert"),
        verify=verify,
        proxy=passthrough.get("proxy"),
    )
