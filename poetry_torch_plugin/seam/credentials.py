"""Poetry's credentials and certificates for a source (http-basic, keyring, env variables)."""

from __future__ import annotations

from typing import Any


def _poetry_config() -> Any:
    from poetry.config.config import Config

    return Config.create()


def poetry_credentials(source_name: str) -> tuple[str | None, str | None]:
    """(username, password) Poetry has for a source: ``http-basic.<source>``, its
    ``POETRY_HTTP_BASIC_*`` variables, or the keyring Poetry uses. Never printed."""
    try:
        from poetry.utils.password_manager import PasswordManager

        credential = PasswordManager(_poetry_config()).get_http_auth(source_name)
    except Exception:
        return None, None
    if credential is None:
        return None, None
    return credential.username or None, credential.password or None


def poetry_certificates(source_name: str) -> tuple[str | None, str | None, bool]:
    """(CA bundle, client certificate, verify) from ``certificates.<source>.*``."""
    try:
        from poetry.utils.authenticator import RepositoryCertificateConfig

        found = RepositoryCertificateConfig.create(source_name, _poetry_config())
    except Exception:
        return None, None, True
    cert = str(found.cert) if found.cert else None
    client = str(found.client_cert) if found.client_cert else None
    return cert, client, bool(found.verify)
