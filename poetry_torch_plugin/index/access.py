"""How to reach the PyTorch index: credentials, certificates, proxy, the plain-http policy, and
the one way a page or a file is opened (TLS context, timeout, the login only to its origin).

Credentials come from Poetry's own configuration (``poetry config http-basic.<source>``,
``POETRY_HTTP_BASIC_<SOURCE>_USERNAME/PASSWORD``, or the keyring Poetry uses) or from the URL
itself. They are handed to pip through its environment, never through argv, and every URL that
is printed goes through ``core.urls.redact``."""

from __future__ import annotations

import base64
import configparser
import functools
import os
import ssl
import urllib.parse
import urllib.request

from dataclasses import field
from pathlib import Path
from typing import Any

from poetry_torch_plugin.core.config import DEFAULT_INDEX_BASE
from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import env_flag
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.urls import is_loopback
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import split_login
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.seam.locate import poetry_certificates
from poetry_torch_plugin.seam.locate import poetry_credentials


ALLOW_HTTP_ENV = "POETRY_TORCH_ALLOW_HTTP"


# pip settings that must survive the neutralized pip configuration (keys as in pip.conf).
_PIP_PASSTHROUGH = ("cert", "client-cert", "proxy")


@record
class IndexAccess:
    """An index URL without secrets, plus what is needed to reach it."""

    url: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    cert: str | None = None
    client_cert: str | None = None
    verify: bool = True
    proxy: str | None = None
    # (the base the project names, the mirror's base) when ``POETRY_TORCH_INDEX_BASE`` stands
    # in for that base on this machine: ``url`` is then the mirror's (see ``mirror_url``)
    mirror: tuple[str, str] | None = None

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

    def as_written(self, link: str) -> str | None:
        """A link this index gave, as poetry-torch.lock may keep it: the link itself, or when
        the index was read through a mirror (``mirror``), its equivalent under the base the
        project names (``<mirror>/cu129/torch-….whl`` -> ``https://download.pytorch.org/whl/
        cu129/torch-….whl``); None for any other link on the mirror's origin, so that no
        committed file names a mirror that only this machine uses (the lock then locates the
        file beside the index's pages).  A link to another origin (PyTorch's file host, which
        a mirror may pass through) is kept as given."""
        if self.mirror is None:
            return link
        named, base = self.mirror
        clean = split_login(link)[0]
        if clean == base or clean.startswith(base + "/"):
            return named + clean[len(base) :]
        return None if _origin(clean) == _origin(base) else link


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
        " missing",
        kept="nothing was changed",
        next="Remove it from the URL (a token belongs in a login: `poetry config"
        f" http-basic.{source_name} USER`), then run the command again.",
    )


def _under(url: str, base: str) -> bool:
    base = base.rstrip("/")
    return url == base or url.startswith(base + "/")


def mirror_base() -> str | None:
    """``POETRY_TORCH_INDEX_BASE``, this machine's mirror of the project's index (login
    included); None when unset.  ConfigError when it is no http(s) or file URL."""
    given = os.environ.get(INDEX_BASE_ENV, "").strip()
    if not given:
        return None
    scheme = urllib.parse.urlsplit(given).scheme.lower()
    if scheme not in ("https", "http", "file"):
        raise ConfigError(
            f"{INDEX_BASE_ENV} has an unsupported URL scheme {scheme!r} ({redact(given)})",
            kept="nothing was changed",
            next=f"Set {INDEX_BASE_ENV} to an https:// base such as https://mirror.example/whl (or"
            " unset it), then run the command again.",
        )
    refuse_query(INDEX_BASE_ENV, given)
    return given.rstrip("/")


def mirror_url(url: str, committed_base: str = DEFAULT_INDEX_BASE) -> str | None:
    """Where this machine fetches ``url`` from when ``POETRY_TORCH_INDEX_BASE`` stands in for
    ``committed_base`` (``[tool.poetry-torch] index-base``, https://download.pytorch.org/whl
    by default) and ``url`` lies under it (``…/whl/cu129`` -> ``<mirror>/cu129``), without a
    login; None when it does not apply.  The variable is this machine's alone: pyproject.toml
    and poetry-torch.lock keep the URL the project names (``--index-base`` commits a mirror)."""
    mirror = mirror_base()
    clean = split_login(url)[0].rstrip("/")
    named = split_login(committed_base)[0].rstrip("/")
    if mirror is None or not _under(clean, named):
        return None
    return split_login(mirror)[0] + clean[len(named) :]


def resolve_access(
    source_name: str,
    url: str,
    *,
    allow_http: bool = False,
    index_base: str | None = None,
    committed_base: str = DEFAULT_INDEX_BASE,
) -> IndexAccess:
    """Everything needed to reach ``url``; ConfigError for plain http to a remote host.

    A ``url`` under ``committed_base`` is fetched from ``POETRY_TORCH_INDEX_BASE`` when that
    is set (``mirror_url``): the returned ``url`` is the mirror's, ``mirror`` says so.

    The login comes from the URL, else Poetry's configuration for the source, else
    ``index_base`` (``--index-base`` or ``index-base``) and then ``POETRY_TORCH_INDEX_BASE``
    when one carries a login and the URL fetched lies under it: the plugin never writes such a
    login into the source URL."""
    clean, username, password = split_login(url)
    mirrored = mirror_url(clean, committed_base)
    mirror = None
    if mirrored is not None:
        named = split_login(committed_base)[0].rstrip("/")
        mirror = (named, split_login(mirror_base() or "")[0])
        clean = mirrored
    scheme = urllib.parse.urlsplit(clean).scheme.lower()
    if scheme not in ("https", "http", "file"):
        raise ConfigError(
            f"the source {source_name} has an unsupported URL scheme {scheme!r} ({redact(url)})",
            kept="nothing was changed",
            next="Run `poetry torch install` with an https:// --index-base (or fix the source"
            " URL).",
        )
    refuse_query(source_name, clean)
    allowed = allow_http or env_flag(ALLOW_HTTP_ENV)
    if scheme == "http" and not is_loopback(clean) and not allowed:
        shown = redact(url) if mirror is None else f"{clean} (from {INDEX_BASE_ENV})"
        raise ConfigError(
            f"refusing plain http for {shown}: torch would be downloaded without TLS",
            kept="nothing was changed",
            next="Run `poetry torch install` with an https:// index, or opt in with"
            f" `[tool.poetry-torch] allow-http = true` (or {ALLOW_HTTP_ENV}=1).",
        )
    if username is None and password is None:
        username, password = poetry_credentials(source_name)
    for carrier in (index_base, mirror_base()):
        if username is None and password is None and carrier:
            base, base_user, base_password = split_login(carrier)
            if _under(clean, base):
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
        mirror=mirror,
    )


# Opening a page or a file of the index


def _ssl_context(access: IndexAccess | None) -> ssl.SSLContext | None:
    if access is None or access.url.startswith("http:"):
        return None
    return _context(access.cert, access.client_cert, access.verify)


@functools.lru_cache(maxsize=4)
def _context(cafile: str | None, client_cert: str | None, verify: bool) -> ssl.SSLContext:
    """One context per trust setting: loading the CA bundle costs ~10 ms, and locking reads
    the page of every package in the closure."""
    context = ssl.create_default_context(cafile=cafile)
    if client_cert:
        context.load_cert_chain(client_cert)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


TIMEOUT_ENV = "POETRY_TORCH_TIMEOUT"


def request_timeout() -> float:
    """``POETRY_TORCH_TIMEOUT`` seconds (15 when unset) for one read from the index."""
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, "15")))
    except ValueError:
        return 15.0


class _DropLoginOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send the login only to the origin it was meant for: a redirect
    that changes scheme, host or port drops ``Authorization`` (as pip and requests do)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for key in [k for k in new.headers if k.lower() == "authorization"]:
                del new.headers[key]
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _open(request: urllib.request.Request, timeout: float, context: ssl.SSLContext | None) -> Any:
    handlers: list[urllib.request.BaseHandler] = [_DropLoginOnRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def open_url(
    url: str,
    access: IndexAccess | None,
    *,
    login_for: str,
    timeout: float | None = None,
    accept: str | None = None,
) -> Any:
    """GET ``url`` (an index page, a wheel, its ``.metadata``) with the index's certificates;
    the index's login goes along only when ``url`` has the origin of ``login_for`` (the index
    page it was linked from), and a redirect elsewhere drops it (``_DropLoginOnRedirect``)."""
    headers = {"Accept": accept} if accept else {}
    auth = access.basic_auth() if access else None
    if auth is not None and _origin(url) == _origin(login_for):
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    return _open(request, request_timeout() if timeout is None else timeout, _ssl_context(access))
