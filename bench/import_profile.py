"""Where the plugin's import time goes: ``-X importtime`` of ``poetry --version``, of a no-op
``poetry install`` and of ``poetry torch check`` in a configured project, with bytecode (as installed plugins run) and without
(an editable install under PYTHONDONTWRITEBYTECODE=1 compiles every module on every start).

``-X importtime`` does not see modules loaded through ``importlib.import_module``, which is how
Poetry loads the entry point (``poetry_torch_plugin`` and ``poetry_torch_plugin.plugin``); those
two are timed separately, in a process that has already imported what Poetry imports first.
Prints, per module, the median self time over ``-n`` runs, and the sums; then which network
modules (and ctypes, and Poetry's keyring) ``check`` imports that ``--version`` does not.

    .venv/bin/python bench/import_profile.py [-n 7] [--cache DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import configured_project
from _common import local_index
from _common import machine
from _common import median
from _common import out
from _common import poetry_bin
from _common import poetry_version


_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
_ENTRY_POINT = """
import importlib, time
import poetry.console.application, poetry.plugins.plugin_manager, poetry.factory
start = time.perf_counter()
importlib.import_module("poetry_torch_plugin.plugin")
print((time.perf_counter() - start) * 1e6)
"""


def ours(stderr: str) -> dict[str, int]:
    """Self time in microseconds of every poetry_torch_plugin module in ``-X importtime`` output."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match and match.group(4).startswith("poetry_torch_plugin"):
            found[match.group(4)] = int(match.group(1))
    return found


# What an offline ``poetry torch check`` must not import beyond what ``poetry --version`` has
# (issue 24): the network stack and Poetry's keyring.
NETWORK = ("urllib3", "requests", "http.client", "ssl", "email.message", "keyring", "ctypes")


def imported(python: Path, args: list[str], cwd: Path, env: dict[str, str]) -> set[str]:
    """Every module ``-X importtime`` reports for one run of ``args``."""
    result = subprocess.run(
        [str(python), "-X", "importtime", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return {match.group(4) for match in map(_LINE.match, result.stderr.splitlines()) if match}


def profile(
    python: Path, args: list[str], cwd: Path, env: dict[str, str], runs: int, strict: bool = True
) -> dict[str, float]:
    """Median self time of our modules; ``strict``: a failing command stops the script
    (``check`` may exit 1 on a verdict, which still imports everything)."""
    samples: dict[str, list[int]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [str(python), "-X", "importtime", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=strict,
        )
        for name, micros in ours(result.stderr).items():
            samples.setdefault(name, []).append(micros)
    return {name: median(values) for name, values in samples.items()}


def entry_point(python: Path, cwd: Path, env: dict[str, str], runs: int) -> float:
    values = []
    for _ in range(runs):
        result = subprocess.run(
            [str(python), "-c", _ENTRY_POINT],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        values.append(float(result.stdout))
    return median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--runs", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, bytecode")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    binary = poetry_bin(cache)
    python = binary.parent / "python"
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}")
    with local_index("bench-imports-", cache) as (work, server, warm):
        cold = dict(warm, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(work / "none"))
        project = configured_project(binary, work / "demo", server.pypi_url, warm)
        for label, env in (("with bytecode", warm), ("compiled from source", cold)):
            version = profile(python, [str(binary), "--version"], project, env, args.runs)
            server.clear_log()
            install = profile(python, [str(binary), "install"], project, env, args.runs)
            check = profile(
                python, [str(binary), "torch", "check"], project, env, args.runs, strict=False
            )
            whl = len(server.requested("/whl/"))
            loader = entry_point(python, project, env, args.runs)
            out(f"\n{label}: median self time (us) over {args.runs} runs")
            out(f"  {'module':<52} {'--version':>9} {'install':>9} {'check':>9}")
            out(
                f"  {'poetry_torch_plugin + .plugin (entry point)':<52} {loader:>9.0f}"
                f" {loader:>9.0f} {loader:>9.0f}"
            )
            for name in sorted(set(version) | set(install) | set(check)):
                out(
                    f"  {name:<52} {version.get(name, 0):>9.0f} {install.get(name, 0):>9.0f}"
                    f" {check.get(name, 0):>9.0f}"
                )
            out(
                f"  {'total':<52} {loader + sum(version.values()):>9.0f}"
                f" {loader + sum(install.values()):>9.0f} {loader + sum(check.values()):>9.0f}"
            )
            out(f"  requests to /whl/ during {args.runs} no-op installs: {whl}")
        extra = imported(python, [str(binary), "torch", "check"], project, warm) - imported(
            python, [str(binary), "--version"], project, warm
        )
        network = sorted(name for name in extra if name.split(".")[0] in NETWORK or name in NETWORK)
        out(
            "\nimported by `poetry torch check` and not by `poetry --version` among"
            f" {', '.join(NETWORK)}: {', '.join(network) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
