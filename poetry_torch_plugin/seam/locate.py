"""Where Poetry keeps the project and its environment, found without building Poetry's objects,
and the credentials and certificates Poetry has for a source (http-basic, keyring, env variables)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any


if TYPE_CHECKING:
    from pathlib import Path

    from cleo.application import Application

    from poetry_torch_plugin.env.installed import TargetEnv


def project_directory(application: Application) -> Path:
    """The project directory Poetry works in (``--directory``/``--project`` applied)."""
    from pathlib import Path

    value = getattr(application, "project_directory", None)
    if value is not None:
        return Path(value)
    # Poetry 2.0 keeps it in a cached property that its plugin loading computes before the
    # command line is bound; for a command of two words (``torch check``) the options were not
    # read then, so it says the current directory: read them as that property does
    io = getattr(application, "_io", None)
    if io is None or "directory" not in io.input.options:
        value = getattr(application, "_project_directory", None)
        return Path(value) if value is not None else Path.cwd()
    options = io.input.options
    working = Path(options["directory"]).absolute() if options["directory"] else Path.cwd()
    # an absolute --project replaces the working directory when joined
    return (working / options["project"]).absolute() if options.get("project") else working


def target_of(env: Any) -> TargetEnv:
    """The plugin's view of a Poetry ``Env``: root, interpreter and site-packages, and the
    interpreter's platform and Python when Poetry has asked it already this command."""
    from poetry_torch_plugin.env.installed import TargetEnv

    return TargetEnv(env.path, env.python, tuple(env.site_packages.candidates), _markers(env))


def _markers(env: Any) -> tuple[str, str, str] | None:
    """(sys_platform, platform_machine, python_version) from the ``marker_env`` Poetry 2.0-2.5
    keeps on its ``Env`` once computed (a ``cached_property``: ``vars`` reads it without running
    the interpreter, which reading the property would when Poetry has not); an installing
    command computed it for its transaction.  None when it is not there yet."""
    known = getattr(env, "__dict__", {}).get("marker_env")
    if not isinstance(known, dict):
        return None
    platform, machine, python = (
        known.get(key) for key in ("sys_platform", "platform_machine", "python_version")
    )
    if isinstance(platform, str) and isinstance(machine, str) and isinstance(python, str):
        return (platform, machine, python) if platform and machine and python else None
    return None


def pyproject_data(poetry: Any) -> Any:
    """The project's pyproject.toml as ``poetry.pyproject.data`` gives it, without tomlkit's
    parse (~3 ms after every command) while Poetry has not loaded that document yet
    (``_toml_document``, Poetry 2.0-2.5): ``data`` would then read the file as it is now,
    which ``parse_toml`` reads to the same values (and the hook has read it already)."""
    from poetry_torch_plugin.core.config import parse_toml

    pyproject = poetry.pyproject
    if getattr(pyproject, "_toml_document", True) is None:
        try:
            return parse_toml(pyproject.path.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            pass  # missing or broken: Poetry's own reading says so
    return pyproject.data


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a small TOML file; {} when it is missing or broken (Poetry would say why)."""
    from poetry_torch_plugin.core.config import parse_toml

    try:
        return parse_toml(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # a broken file means "no setting here", as a missing one
        return {}


def locate_project_env(project_dir: Path, project_name: str | None) -> Path | None:
    """The root of the environment Poetry would use for this project, without creating Poetry.

    Follows ``EnvManager.get()`` of Poetry 2.0-2.5 (checked against 2.5.1), minus anything that
    runs a Python: an active ``VIRTUAL_ENV`` (or a conda env other than ``base``) wins unless
    ``envs.toml`` records an env for this project; then ``<project>/.venv`` unless
    ``virtualenvs.in-project`` is false; then ``<virtualenvs.path>/<name>-<hash>-py<minor>``,
    with the minor from ``envs.toml``, else the one matching this interpreter, else the newest.
    With ``virtualenvs.create = false`` Poetry uses the interpreter it runs on, whose base
    prefix is returned.  Settings come from the global config, ``poetry.toml`` and
    ``POETRY_*`` variables, as Poetry reads them.  ``None`` when no environment exists yet.
    """
    return _locate(project_dir, project_name)[0]


def locate_existing_venv(project_dir: Path, project_name: str | None) -> Path | None:
    """The project's virtual environment when Poetry's choice needs no interpreter discovery:
    the active one, ``<project>/.venv``, or the one ``envs.toml`` records; else None (ask
    Poetry's EnvManager)."""
    root, how = _locate(project_dir, project_name)
    if root is None or how not in ("active", "in-project", "recorded"):
        return None
    return root if (root / "pyvenv.cfg").is_file() else None


def _locate(project_dir: Path, project_name: str | None) -> tuple[Path | None, str]:
    import os
    import sys

    from pathlib import Path

    from packaging.utils import canonicalize_name
    from poetry.config.config import Config
    from poetry.utils.env.env_manager import EnvManager

    config = Config()
    config.merge(Config.create().raw())
    config.merge(_read_toml(project_dir / "poetry.toml"))

    name = canonicalize_name(project_name or "non-package-mode")
    base_name = EnvManager.generate_env_name(name, str(project_dir))
    venvs = config.virtualenvs_path
    recorded = _read_toml(venvs / EnvManager.ENVS_FILE).get(base_name)
    minor = str(recorded.get("minor", "")).strip() if isinstance(recorded, dict) else ""

    prefix = os.environ.get("VIRTUAL_ENV", os.environ.get("CONDA_PREFIX"))
    in_venv = bool(prefix) and os.environ.get("CONDA_DEFAULT_ENV") != "base"
    if in_venv and not minor and prefix:
        return Path(prefix), "active"

    in_project = project_dir / ".venv"
    if config.get("virtualenvs.in-project") is not False and in_project.is_dir():
        return in_project, "in-project"
    if not config.get("virtualenvs.create", True):
        return Path(sys.base_prefix), "system"
    if minor:
        recorded_env = venvs / f"{base_name}-py{minor}"
        return (recorded_env if recorded_env.is_dir() else None), "recorded"
    found = [path for path in venvs.glob(f"{base_name}-py*") if path.is_dir()]
    if not found:
        return None, "none"
    running = f"{base_name}-py{sys.version_info[0]}.{sys.version_info[1]}"

    def newest(path: Path) -> tuple[bool, tuple[int, ...]]:
        digits = path.name[len(base_name) + 3 :].split(".")
        return path.name == running, tuple(int(d) for d in digits if d.isdigit())

    return max(found, key=newest), "guessed"


# --- Poetry's credentials and certificates for a source --------------------------------------
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
