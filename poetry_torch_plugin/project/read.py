"""pyproject.toml read for its torch configuration, never raising (for ``check`` and ``auto``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.errors import TorchPluginError


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source


if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class ProjectState:
    """pyproject.toml as far as check needs it; ``error`` when it cannot be understood."""

    pyproject: Path
    name: str | None
    settings: TorchConfig | None
    error: str | None = None

    @property
    def source(self) -> Source | None:
        """The committed plugin source (see ``TorchConfig.source``); None when there is none
        or several with nothing to choose between them."""
        if self.settings is None:
            return None
        try:
            return self.settings.source()
        except TorchPluginError:
            return None


def _load_toml(path: Path) -> dict[str, Any]:
    from poetry_torch_plugin.core.config import parse_toml

    return parse_toml(path.read_bytes().decode("utf-8"))


def read_project(pyproject: Path) -> ProjectState:
    """Parse pyproject.toml (tomllib, tomlkit before 3.11) and read its torch configuration."""
    from poetry_torch_plugin.core.config import read_config

    try:
        data = _load_toml(pyproject)
    except OSError as exc:
        return ProjectState(pyproject, None, None, f"cannot read {pyproject}: {exc.strerror}")
    except Exception as exc:  # tomllib, tomlkit and UnicodeDecodeError disagree on their types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ProjectState(pyproject, None, None, f"{pyproject.name} is not valid TOML ({reason})")
    project = data.get("project")
    poetry = data.get("tool", {}).get("poetry") if isinstance(data.get("tool"), dict) else None
    name = (project or {}).get("name") if isinstance(project, dict) else None
    if not isinstance(name, str) and isinstance(poetry, dict):
        name = poetry.get("name")
    name = name if isinstance(name, str) else None
    try:
        return ProjectState(pyproject, name, read_config(data))
    except TorchPluginError as exc:
        return ProjectState(pyproject, name, None, str(exc))


def configured_packages(pyproject: Path) -> tuple[str, ...]:
    """``[tool.poetry-torch] packages`` as written; () when the file says nothing readable."""
    from poetry_torch_plugin.project.read import read_project

    settings = read_project(pyproject).settings
    return settings.packages if settings is not None and settings.has_tool_table else ()


def local_variant(project_dir: Path) -> str | None:
    """``[poetry-torch] variant`` in the project's uncommitted ``poetry.toml`` (where
    ``poetry config --local`` keeps this checkout's settings); None when the file or the key is
    absent.  ConfigError when the file is not TOML or the value is no variant."""
    from poetry_torch_plugin.core.targets import LOCAL_FILE
    from poetry_torch_plugin.core.targets import LOCAL_TABLE
    from poetry_torch_plugin.core.targets import parse_variant
    from poetry_torch_plugin.errors import ConfigError

    path = project_dir / LOCAL_FILE
    try:
        data = _load_toml(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; nothing was changed.") from None
    except Exception as exc:  # tomllib, tomlkit and UnicodeDecodeError disagree on their types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path} is not valid TOML ({reason}); nothing was changed. Fix {LOCAL_FILE}."
        ) from None
    table = data.get(LOCAL_TABLE)
    if not isinstance(table, dict):
        return None
    return parse_variant(
        table.get("variant"),
        where=f"{LOCAL_FILE}: [{LOCAL_TABLE}] variant",
        fix=f"Fix {LOCAL_FILE}",
    )
