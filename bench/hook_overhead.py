"""What the plugin adds to a no-op ``poetry install`` (targets: <=1.05x issue 2, <=1.03x issue 5).

Two projects, both depending on torchmetrics (which requires torch), on a local fake PyPI:

- ``configured``: ``poetry torch install --cuda 12.9``, ``poetry lock``, ``poetry install``;
- ``unconfigured``: no torch configuration at all (torch comes from the fake PyPI, locked).

Six sides, alternated (the side that goes first rotates every round):

- A  configured,   ``poetry install``               (the plugin holds torch out and verifies it)
- B  configured,   ``poetry install --no-plugins``  (no PluginManager, no plugin)
- C  unconfigured, ``poetry install``               (PluginManager and the plugin load; our
                                                    hooks return at once)
- D  unconfigured, ``poetry install --no-plugins``
- E  configured,   ``poetry --version``             (PluginManager's import, which pulls in
- F  configured,   ``poetry --version --no-plugins`` Poetry's installer, is not shared here)
- G  universal,    ``poetry install``               (a poetry-torch.lock with three targets'
- H  universal,    ``poetry install --no-plugins``   entries: the hook names this machine's part)

The ``universal`` project (issue 24) is on the platform-tagged test indexes
(``tests/support/platform_wheels.py``, a second local server): cu129 with
``[tool.poetry-torch.targets]`` linux-x86_64 = cu129, linux-aarch64 = cu128, macos = cpu, after
``poetry torch lock``, ``poetry torch install``, ``poetry lock``, ``poetry install``.

A/B and G/H are the issue's numbers (issue 24: <=1.02x each).  ``--no-plugins`` also skips importing Poetry's PluginManager, so
C/D is what loading plugins costs on a project that does not use ours (Poetry's share plus our
import), and A/C is our hooks' own work on a configured project.  The script also checks that
the no-op install sent no request to the PyTorch index (``/whl/``).

Wall-clock medians cannot resolve a few milliseconds on a busy machine, so the script also
times, inside the poetry process, everything of the plugin's that Poetry's run executes: each of
its modules' import, ``activate()``, the two event listeners, and the hold-out's wrappers and
stand-in packages that Poetry calls during its own run; it reports their median share of the
command, once as measured and once with Poetry's own imports and grammars done first (what the
plugin adds: a plugin that merely happens to build poetry-core's marker grammar before Poetry
does is not charged for it).

    .venv/bin/python bench/hook_overhead.py [-n 21] [--cache DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys

from pathlib import Path
from typing import TYPE_CHECKING


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import alternate
from _common import configured_project
from _common import isolated_env
from _common import local_index
from _common import machine
from _common import make_project
from _common import median
from _common import out
from _common import poetry
from _common import poetry_bin
from _common import poetry_version
from _common import uv_alone_on_path


if TYPE_CHECKING:
    from collections.abc import Iterator


# Poetry's own entry point with the plugin timed from inside: each of its modules' import (the
# entry point's included) when Poetry's run first imports it, the plugin's activate(), the two
# listeners, and what the seam's bind() installs on the command's objects (the locker's, the
# pool's and the installer's wrapped methods, the stand-ins, the held main group), each
# counted once however they nest.  The last line on stderr is "<seconds inside the plugin>
# <seconds since start>", wall clock, then the same two in CPU time of the process (what a
# loaded machine disturbs least).
#
# With a file named in the environment (``_POETRY_OWN``, written by ``poetry_own_work``), the
# modules and poetry-core grammars that the same command imports and builds both with and
# without ``--no-plugins`` are imported and built first, outside the timers but inside the
# command's total: the plugin is then charged only for work Poetry would not do anyway.
# Without it, whatever the plugin happens to do first (building poetry-core's marker grammar,
# ~45 ms, which Poetry builds anyway to read a poetry.lock with markers) counts as the plugin's.
_LISTENER_TIMER = r"""
import atexit, os, sys, time
start, start_cpu = time.perf_counter(), time.process_time()
if os.environ.get("_POETRY_OWN"):
    import importlib, json
    own = json.loads(open(os.environ["_POETRY_OWN"]).read())
    import poetry.core  # puts poetry-core's vendored packages (lark) on sys.path
    failed = []
    for module in own["modules"]:
        try:
            importlib.import_module(module)
        except Exception:
            failed.append(module)
    for module, text in own["grammars"]:
        importlib.import_module(module)._parser.parse(text)
    sys.stderr.write(f"\npre-done: {len(own['modules']) - len(failed)} of {len(own['modules'])}"
                     f" modules (not importable alone: {', '.join(failed) or 'none'}),"
                     f" grammars {[module for module, _ in own['grammars']]}\n")
inside = [0.0, 0.0]
depth = [0]
def timed(original):
    def wrapper(*args, **kwargs):
        depth[0] += 1
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:  # the outermost timed call only
                inside[0] += time.perf_counter() - began
                inside[1] += time.process_time() - began_cpu
    wrapper.timed = True
    return wrapper
SEAM = "poetry_torch_plugin.seam.holdout"
def time_installed(*owners):
    # what the seam's bind() installed on this command's objects (the locker's, pool's and
    # installer's methods, the root package's held main group), timed where Poetry calls it
    for owner in owners:
        for name, value in list(getattr(owner, "__dict__", {}).items()):
            if getattr(value, "__module__", None) == SEAM and callable(value):
                if not getattr(value, "timed", False):
                    setattr(owner, name, timed(value))
        for group in getattr(owner, "_dependency_groups", {}).values():
            held = type(group)
            if held.__module__ == SEAM and not held.__dict__.get("timed"):
                for name, member in list(held.__dict__.items()):
                    if isinstance(member, property):
                        setattr(held, name, property(timed(member.fget)))
                held.timed = True
def after_import(module):
    # every module of the plugin that Poetry's run imports is timed (its import and what it
    # runs), whoever imports it first: the entry point, the listeners, the seam
    if module.__name__ == "poetry_torch_plugin.plugin":
        plugin = module.TorchApplicationPlugin
        plugin.activate = timed(plugin.activate)
    elif module.__name__ == "poetry_torch_plugin.console.listeners":
        module.on_command = timed(module.on_command)
        module.on_terminate = timed(module.on_terminate)
    elif module.__name__ == SEAM:
        module.HoldOut.package = timed(module.HoldOut.package)
        module.HoldOut.protected = timed(module.HoldOut.protected)
        bind = module.bind
        def bind_timed(poetry, installer, hold):
            bind(poetry, installer, hold)
            pool = getattr(installer, "_pool", None)
            package = getattr(installer, "_package", None)
            time_installed(poetry.locker, poetry.pool, installer, pool, package)
        module.bind = timed(bind_timed)
import importlib.machinery
class PluginTimer:
    def find_spec(self, name, path, target=None):
        if not (name == "poetry_torch_plugin" or name.startswith("poetry_torch_plugin.")):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        def exec_timed(module):
            timed(exec_module)(module)
            after_import(module)
        spec.loader.exec_module = exec_timed
        return spec
sys.meta_path.insert(0, PluginTimer())
atexit.register(lambda: sys.stderr.write(
    f"\n{inside[0]} {time.perf_counter() - start} {inside[1]} {time.process_time() - start_cpu}\n"
))
from poetry.console.application import main
sys.argv = ["poetry", "install"]
sys.exit(main())
"""


# What ``poetry install`` (argv[2:]: with ``--no-plugins`` or not) imports and which of
# poetry-core's lark grammars it builds (each with a text that builds it), written as JSON to
# the file named by argv[1].
_POETRY_OWN_PROBE = r"""
import atexit, json, sys
target, given = sys.argv[1], sys.argv[2:]
def record():
    grammars = []
    for module, text in (
        ("poetry.core.version.requirements", "a"),
        ("poetry.core.version.markers", 'python_version >= "3"'),
    ):
        found = sys.modules.get(module)
        if found is not None and getattr(found._parser, "_lark", None) is not None:
            grammars.append((module, text))
    modules = sorted(name for name in sys.modules if not name.startswith("__"))
    with open(target, "w") as stream:
        json.dump({"modules": modules, "grammars": grammars}, stream)
atexit.register(record)
from poetry.console.application import main
sys.argv = ["poetry", "install", *given]
sys.exit(main())
"""


def poetry_own_work(python: Path, project: Path, env: dict[str, str], target: Path) -> Path:
    """``target``: what a no-op ``poetry install`` imports and builds there both with and
    without ``--no-plugins`` (Poetry's own work, which the plugin may merely do first)."""
    found = []
    for given in (("--no-plugins",), ()):
        subprocess.run(
            [str(python), "-c", _POETRY_OWN_PROBE, str(target), *given],
            cwd=project,
            env=env,
            capture_output=True,
            check=True,
        )
        found.append(json.loads(target.read_text(encoding="utf-8")))
    alone, plugged = found
    both = {
        "modules": sorted(set(alone["modules"]) & set(plugged["modules"])),
        "grammars": [pair for pair in alone["grammars"] if pair in plugged["grammars"]],
    }
    target.write_text(json.dumps(both), encoding="utf-8")
    return target


# per project: "N of M modules, grammars [...]" done before the command (the timer's line)
PRE_DONE: dict[Path, str] = {}


def listener_times(
    python: Path, project: Path, env: dict[str, str], runs: int, own: Path | None = None
) -> tuple[float, float, float, float]:
    """Median seconds inside our listeners and of the whole command, wall clock, then CPU;
    with ``own`` (see ``poetry_own_work``), Poetry's own imports and grammars are done first."""
    if own is not None:
        env = {**env, "_POETRY_OWN": str(own)}
    inside: list[float] = []
    total: list[float] = []
    inside_cpu: list[float] = []
    total_cpu: list[float] = []
    for _ in range(runs):
        result = subprocess.run(
            [str(python), "-c", _LISTENER_TIMER],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = result.stderr.strip().splitlines()
        spent, whole, spent_cpu, whole_cpu = lines[-1].split()
        done = [line for line in lines if line.startswith("pre-done: ")]
        if done:
            PRE_DONE[project] = done[-1][len("pre-done: ") :]
        inside.append(float(spent))
        total.append(float(whole))
        inside_cpu.append(float(spent_cpu))
        total_cpu.append(float(whole_cpu))
    return median(inside), median(total), median(inside_cpu), median(total_cpu)


UNIVERSAL_TARGETS = {"linux-x86_64": "cu129", "linux-aarch64": "cu128", "macos": "cpu"}


@contextlib.contextmanager
def universal_project(
    binary: Path, work: Path, cache: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A project with a universal poetry-torch.lock (three targets), installed; its env."""
    from tests.support.index_server import IndexServer
    from tests.support.platform_wheels import build_platform_universe
    from tests.support.project import platform_pyproject_text

    universe = build_platform_universe(work / "platform-index")
    with IndexServer(universe.root) as server:
        env = isolated_env(
            work / "home-universal", index_base=server.base, pycache=cache / "pycache"
        )
        # locking other platforms needs uv: the one on PATH, else the dev venv's
        uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        uv_alone_on_path(env, work, uv)
        project = work / "universal"
        project.mkdir()
        # torch's own requirements take part in Poetry's solve (issue 22): they come from the
        # stand-in for PyPI, as in tests/e2e/test_universal_lock.py's team project
        text = platform_pyproject_text(f"{server.base}/cu129", targets=UNIVERSAL_TARGETS)
        text += (
            f'\n[[tool.poetry.source]]\nname = "fakepypi"\nurl = "{server.pypi_url}"\n'
            'priority = "primary"\n'
        )
        (project / "pyproject.toml").write_text(text)
        for args in (("torch", "lock"), ("torch", "install"), ("lock",), ("install",)):
            poetry(binary, project, env, *args)
        yield project, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--rounds", type=int, default=21)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, bytecode")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    binary = poetry_bin(cache)
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}, plugin from {binary.parents[1]}")

    with (
        local_index("bench-hook-", cache) as (work, server, env),
        universal_project(binary, work, cache) as (universal, universal_env),
    ):
        configured = configured_project(binary, work / "configured", server.pypi_url, env)
        unconfigured = make_project(work / "unconfigured", server.pypi_url)
        poetry(binary, unconfigured, env, "lock")
        poetry(binary, unconfigured, env, "install")

        server.clear_log()
        poetry(binary, configured, env, "install")
        whl = server.requested("/whl/")
        everything = server.requests
        out(
            f"no-op `poetry install` (configured): {len(whl)} requests to /whl/,"
            f" {len(everything)} requests in all"
        )

        sides = {
            "A configured, plugins": lambda: poetry(binary, configured, env, "install"),
            "B configured, --no-plugins": lambda: poetry(
                binary, configured, env, "install", "--no-plugins"
            ),
            "C unconfigured, plugins": lambda: poetry(binary, unconfigured, env, "install"),
            "D unconfigured, --no-plugins": lambda: poetry(
                binary, unconfigured, env, "install", "--no-plugins"
            ),
            "E --version, plugins": lambda: poetry(binary, configured, env, "--version"),
            "F --version, --no-plugins": lambda: poetry(
                binary, configured, env, "--version", "--no-plugins"
            ),
            "G universal, plugins": lambda: poetry(binary, universal, universal_env, "install"),
            "H universal, --no-plugins": lambda: poetry(
                binary, universal, universal_env, "install", "--no-plugins"
            ),
        }
        samples = alternate(sides, args.rounds)
        python = binary.parent / "python"
        listeners = {
            "configured": listener_times(python, configured, env, args.rounds),
            "unconfigured": listener_times(python, unconfigured, env, args.rounds),
            "universal": listener_times(python, universal, universal_env, args.rounds),
        }
        added = {
            name: listener_times(
                python,
                project,
                project_env,
                args.rounds,
                poetry_own_work(python, project, project_env, work / f"poetry-own-{name}.json"),
            )
            for name, project, project_env in (
                ("configured", configured, env),
                ("universal", universal, universal_env),
            )
        }
        pre_done = "; ".join(
            f"{name}: {PRE_DONE.get(project, '?')}"
            for name, project in (("configured", configured), ("universal", universal))
        )

    medians = {name: median(values) for name, values in samples.items()}
    out(f"\nno-op `poetry install`, median of {args.rounds} alternated runs:")
    for name, value in medians.items():
        spread = f"{min(samples[name]):.3f}-{max(samples[name]):.3f}"
        out(f"  {name:<30} {value:.3f} s  (range {spread})")
    a, b, c, d, e, f, g, h = medians.values()
    out("\nratios:")
    out(f"  A/B plugin active vs --no-plugins        {a / b:.3f}x  (target 1.02x)")
    out(f"  G/H the same with a universal lock        {g / h:.3f}x  (target 1.02x)")
    out(
        f"  C/D plugins loaded, project unconfigured  {c / d:.3f}x  (Poetry's plugin loading + ours)"
    )
    out(f"  A/C our hooks on a configured project     {a / c:.3f}x")
    out(
        f"  E/F `poetry --version` vs --no-plugins     {e / f:.3f}x  (PluginManager import + plugins)"
    )
    out(
        f"  A-B {1000 * (a - b):+.0f} ms, C-D {1000 * (c - d):+.0f} ms, A-C {1000 * (a - c):+.0f} ms,"
        f" E-F {1000 * (e - f):+.0f} ms, G-H {1000 * (g - h):+.0f} ms"
    )
    out(
        "\ntime inside the plugin, in-process (its modules' imports, activate(), the two"
        " listeners, the hold-out's wrappers and stand-ins in Poetry's run); the plugin pays for"
        " whatever it does first:"
    )
    _print_inside(listeners)
    out(
        "\nthe same, with the modules and poetry-core grammars that `poetry install` imports and"
        " builds there both with and without --no-plugins done before the command (Poetry's own"
        f" work, not the plugin's; {pre_done}): what the plugin adds, CPU being the figure that"
        " a loaded machine disturbs least (the whole-command A/B and G/H above cannot resolve a"
        " few ms):"
    )
    _print_inside(added)
    return 0


def _print_inside(times: dict[str, tuple[float, float, float, float]]) -> None:
    for name, (inside, total, inside_cpu, total_cpu) in times.items():
        out(
            f"  {name:<13} {1000 * inside:6.1f} ms of {total:.3f} s"
            f" ({100 * inside / total:.1f}%, i.e. {total / (total - inside):.3f}x);"
            f" CPU {1000 * inside_cpu:5.1f} ms of {total_cpu:.3f} s"
            f" ({total_cpu / (total_cpu - inside_cpu):.3f}x)"
        )


if __name__ == "__main__":
    sys.exit(main())
