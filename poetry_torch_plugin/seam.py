"""Every touch of Poetry's internals, in one module.

Verified against Poetry 2.0.1 and 2.5.1 (see ``VERIFIED_WITH``); ``tests/unit/test_seam.py``
fails loudly when Poetry moves any of these.  What is wrapped, and why:

- ``RepositoryPool.find_packages`` / ``RepositoryPool.package``: for a held-out name (torch,
  torchvision, torchaudio, nvidia-*, triton, ...) the solver sees only the build that is
  installed (or the one the configured index will install), with no dependencies.  A package
  that needs another torch is therefore reported as a conflict, and nothing is looked up on
  the primary source.  Patched on the class, because Poetry also builds throw-away pools
  (``RepositoryPool.from_packages``) when it re-resolves from the lock file.
- ``Locker.set_lock_data``: held-out packages are dropped before poetry.lock is written.
- ``Installer._execute``: operations on held-out packages are dropped, and so are removals
  (``poetry sync``) of what the installed torch family itself requires.
"""

from __future__ import annotations

import functools
import inspect

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import PoetrySeamError


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from cleo.application import Application
    from poetry.core.packages.package import Package

VERIFIED_WITH = ("2.0.1", "2.5.1")

# (module, class, attribute) -> the parameter names the wrapper relies on.
SEAMS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("poetry.repositories.repository_pool", "RepositoryPool", "find_packages"): (
        "self",
        "dependency",
    ),
    # Poetry 2.0 has an ``extras`` parameter between version and repository_name.
    ("poetry.repositories.repository_pool", "RepositoryPool", "package"): (
        "self",
        "name",
        "version",
    ),
    ("poetry.packages.locker", "Locker", "set_lock_data"): ("self", "root", "packages"),
    ("poetry.installation.installer", "Installer", "_execute"): ("self", "operations"),
}


class HoldOut:
    """What to hold out of Poetry, and what to show its solver instead.

    ``held(name)`` says whether a canonical name belongs to the torch family; ``provide(name)``
    returns the (name, version) the solver should see for it, or None; ``protected()`` lists
    installed names that ``poetry sync`` must not remove.
    """

    def __init__(
        self,
        held: Callable[[str], bool],
        provide: Callable[[str], str | None],
        protected: Callable[[], frozenset[str]],
    ) -> None:
        self.held = held
        self._provide = provide
        self._protected = protected
        self._packages: dict[str, Package | None] = {}

    def package(self, name: str) -> Package | None:
        if name not in self._packages:
            from poetry.core.packages.package import Package

            version = self._provide(name)
            self._packages[name] = Package(name, version) if version else None
        return self._packages[name]

    def protected(self) -> frozenset[str]:
        return self._protected()


def _resolve(module: str, cls: str, attribute: str) -> tuple[type[Any], Any]:
    import importlib

    try:
        owner = getattr(importlib.import_module(module), cls)
        return owner, getattr(owner, attribute)
    except (ImportError, AttributeError):
        raise PoetrySeamError(
            f"poetry-torch-plugin cannot find {module}.{cls}.{attribute} in this Poetry"
            f" (verified with {', '.join(VERIFIED_WITH)}); torch would not be held out of"
            " poetry.lock, so the command was stopped. Upgrade poetry-torch-plugin, or run with"
            " --no-plugins."
        ) from None


def check_seams() -> None:
    """Raise PoetrySeamError when a wrapped method is missing or its signature moved."""
    for (module, cls, attribute), expected in SEAMS.items():
        _, function = _resolve(module, cls, attribute)
        original = getattr(function, "__wrapped__", function)
        names = tuple(inspect.signature(original).parameters)[: len(expected)]
        if names != expected:
            raise PoetrySeamError(
                f"poetry-torch-plugin: {cls}.{attribute}{names} no longer has the parameters"
                f" {expected} it was verified with (Poetry {', '.join(VERIFIED_WITH)}); the"
                " command was stopped so torch is not locked. Upgrade poetry-torch-plugin, or"
                " run with --no-plugins."
            )


def _patch(module: str, cls: str, attribute: str, make: Callable[[Any], Any]) -> None:
    owner, current = _resolve(module, cls, attribute)
    original = getattr(current, "__wrapped__", current)
    wrapper = functools.wraps(original)(make(original))
    setattr(owner, attribute, wrapper)


def hold_out(hold: HoldOut) -> None:
    """Install the wrappers for this process (idempotent: a second call replaces the first)."""
    check_seams()
    from poetry.repositories.exceptions import PackageNotFoundError

    def find_packages(original: Any) -> Any:
        def wrapper(self: Any, dependency: Any) -> list[Package]:
            if not hold.held(dependency.name):
                return list(original(self, dependency))
            package = hold.package(dependency.name)
            if package is None or not dependency.constraint.allows(package.version):
                return []
            return [package]

        return wrapper

    def package(original: Any) -> Any:
        def wrapper(self: Any, name: str, version: Any, *args: Any, **kwargs: Any) -> Package:
            if not hold.held(name):
                return original(self, name, version, *args, **kwargs)  # type: ignore[no-any-return]
            provided = hold.package(name)
            if provided is None or provided.version != version:
                raise PackageNotFoundError(f"Package {name} ({version}) not found.")
            return provided

        return wrapper

    def set_lock_data(original: Any) -> Any:
        def wrapper(self: Any, root: Any, packages: dict[Any, Any]) -> bool:
            kept = {pkg: info for pkg, info in packages.items() if not hold.held(pkg.name)}
            return bool(original(self, root, kept))

        return wrapper

    def execute(original: Any) -> Any:
        def wrapper(self: Any, operations: list[Any]) -> int:
            protected = (
                hold.protected()
                if any(op.job_type == "uninstall" for op in operations)
                else frozenset()
            )
            kept = [
                op
                for op in operations
                if not hold.held(op.package.name)
                and not (op.job_type == "uninstall" and op.package.name in protected)
            ]
            return int(original(self, kept))

        return wrapper

    _patch("poetry.repositories.repository_pool", "RepositoryPool", "find_packages", find_packages)
    _patch("poetry.repositories.repository_pool", "RepositoryPool", "package", package)
    _patch("poetry.packages.locker", "Locker", "set_lock_data", set_lock_data)
    _patch("poetry.installation.installer", "Installer", "_execute", execute)


def release() -> None:
    """Put Poetry's own methods back (tests that run several commands in one process)."""
    for module, cls, attribute in SEAMS:
        owner, current = _resolve(module, cls, attribute)
        original = getattr(current, "__wrapped__", None)
        if original is not None:
            setattr(owner, attribute, original)


def project_directory(application: Application) -> Path:
    """The project directory Poetry works in (``--directory``/``--project`` applied)."""
    from pathlib import Path

    for attribute in ("project_directory", "_project_directory"):
        value = getattr(application, attribute, None)
        if value is not None:
            return Path(value)
    return Path.cwd()


def env_target(env: Any) -> tuple[Path, Path, tuple[Path, ...]]:
    """(root, python, site-packages dirs) of a Poetry ``Env``."""
    return env.path, env.python, tuple(env.site_packages.candidates)


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a small TOML file; {} when it is missing or broken (Poetry would say why)."""
    from poetry_torch_plugin.config import parse_toml

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
