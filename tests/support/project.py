"""A Poetry project in a temporary directory, driven through the real ``poetry`` executable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.env.installed import installed_distributions


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    from poetry_torch_plugin.env.installed import InstalledDist


def pyproject_text(pypi_url: str, dependencies: tuple[str, ...] = ("torchmetrics>=1.0",)) -> str:
    deps = "".join(f'    "{dep}",\n' for dep in dependencies)
    return f"""# A demo project: torchmetrics requires torch, which must stay the configured build.
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
{deps}]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "fakepypi"  # the stand-in for PyPI
url = "{pypi_url}"
priority = "primary"
"""


@dataclass
class Project:
    root: Path
    poetry: Path
    env: Mapping[str, str]

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def lock(self) -> Path:
        return self.root / "poetry.lock"

    @property
    def venv(self) -> Path:
        return self.root / ".venv"

    def site_packages(self) -> list[Path]:
        return sorted(self.venv.glob("lib/python*/site-packages"))

    def run(
        self,
        *args: str,
        check: bool = True,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        env.update(extra_env or {})
        result = subprocess.run(
            [str(self.poetry), "--no-ansi", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"poetry {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def run_interrupted(
        self, *args: str, when: Callable[[], bool], sig: int = signal.SIGINT
    ) -> subprocess.CompletedProcess[str]:
        """``poetry args`` in its own process group, sent ``sig`` (as a terminal sends Ctrl-C,
        to the whole group) as soon as ``when()`` is true (e.g. the index has the request)."""
        process = subprocess.Popen(
            [str(self.poetry), "--no-ansi", *args],
            cwd=self.root,
            env=dict(self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not when():
            time.sleep(0.2)
        os.killpg(process.pid, sig)
        stdout, stderr = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """pip of the project venv, isolated from the machine's pip configuration."""
        env = {k: v for k, v in self.env.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-m", "pip", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )

    def uninstall(self, *names: str) -> None:
        """Remove ``names`` from the project venv, as a user would by hand: with uv where it is
        installed (a real uninstall from each RECORD, ~0.01 CPU-s), else pip (~0.4 CPU-s, most
        of it importing pip; the suite uninstalls ~50 times)."""
        from poetry_torch_plugin.installer.uv import find_uv

        uv = find_uv()
        if uv is None:
            self.pip("uninstall", "-y", *names)
            return
        env = {k: v for k, v in self.env.items() if not k.startswith(("PIP_", "UV_"))}
        subprocess.run(
            [
                uv,
                "pip",
                "uninstall",
                "--no-config",
                "--python",
                str(self.venv / "bin" / "python"),
                *names,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def pip_version(self) -> tuple[int, ...]:
        """The project venv's pip (``pip 25.1.1 from ...`` -> ``(25, 1, 1)``): pips before 25.3
        download every wheel of a dry run, so the plugin resolves through a wheelhouse there."""
        words = self.pip("--version").stdout.split()
        return tuple(int(part) for part in words[1].split(".") if part.isdigit())

    def installed(self) -> dict[str, InstalledDist]:
        return installed_distributions(self.site_packages())

    def version_of(self, name: str) -> str | None:
        dist = self.installed().get(name)
        return dist.build_version() if dist else None

    def python(self, code: str) -> str:
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            env=dict(self.env),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()


def seeded_venv(path: Path, python: str | None = None) -> Path:
    """A virtual environment at ``path`` made as Poetry makes a project's: virtualenv, pip
    seeded from its bundled wheel (the suite links one app-data image into every venv, see
    ``_suite_environment``: ~0.3 CPU-s, where ``python -m venv`` runs ensurepip, ~3 CPU-s).
    ``python``: another interpreter than the one running the tests."""
    command = [sys.executable, "-m", "virtualenv", "-q", "--no-periodic-update"]
    if python is not None:
        command += ["--python", python]
    subprocess.run([*command, str(path)], check=True, capture_output=True, timeout=120)
    return path


def platform_pyproject_text(
    index_url: str, *, targets: Mapping[str, str] | None = None, dependencies: tuple[str, ...] = ()
) -> str:
    """A project on the platform-tagged indexes (``tests.support.platform_wheels``): the plugin's
    source ``index_url`` (``…/whl/cu129``, whose last segment names the variant), Pythons 3.10
    to 3.13 (the wheels' CPythons), optional ``[tool.poetry-torch.targets]``; no other source."""
    variant = index_url.rstrip("/").rsplit("/", 1)[-1]
    name = "pytorch_cpu" if variant == "cpu" else f"pytorch_cuda_{variant}"
    deps = "".join(f'    "{dep}",\n' for dep in dependencies)
    text = f"""[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.10,<3.14"
dependencies = [
{deps}]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "{name}"
url = "{index_url}"
priority = "explicit"

[tool.poetry-torch]
packages = ["torch", "torchvision", "torchaudio"]
"""
    if targets:
        text += "\n[tool.poetry-torch.targets]\n"
        text += "".join(f'{key} = "{value}"\n' for key, value in targets.items())
    return text
