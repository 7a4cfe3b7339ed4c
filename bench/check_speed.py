"""How much slower ``poetry torch check`` is than ``poetry --version`` (target: 1.05x, issue 24).

Runs both commands alternately N times in a demo project (built in a temporary directory:
pyproject.toml with a pytorch source, and a ``.venv`` holding torch, torchvision and torchaudio
dist-info files and ``torch/version.py``, no real wheels) and prints the medians and the ratio.

    .venv/bin/python bench/check_speed.py [-n 21] [--poetry PATH] [--project DIR]
        [--virtual-env DIR] [--fake-machine FILE.json] [--pycache DIR]

The two commands alternate (which goes first rotates); wall and CPU medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.check_demo import make_check_demo


REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, the command and its children) and exit code;
    CPU time moves less than wall time on a machine other work is loading."""
    before = children_cpu()
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    return wall, children_cpu() - before, result.returncode


def children_cpu() -> float:
    """CPU seconds of this process's finished children (0 where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=21, help="runs of each command")
    parser.add_argument("--poetry", type=Path, default=REPO / ".venv" / "bin" / "poetry")
    parser.add_argument("--project", type=Path, help="an existing project (default: a demo)")
    parser.add_argument("--fake-machine", type=Path, help="set POETRY_TORCH_FAKE_MACHINE")
    parser.add_argument("--virtual-env", type=Path, help="set VIRTUAL_ENV (the project's env)")

    parser.add_argument("--pycache", type=Path, help="PYTHONPYCACHEPREFIX (default: a temp dir)")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    # with bytecode, as an installed plugin runs (an editable one under
    # PYTHONDONTWRITEBYTECODE=1 would be compiled from source on every start)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(args.pycache or Path(tempfile.gettempdir()) / "check-pyc")
    if args.virtual_env:
        env["VIRTUAL_ENV"] = str(args.virtual_env)
    if args.fake_machine:
        env["POETRY_TORCH_FAKE_MACHINE"] = str(args.fake_machine.resolve())
    with tempfile.TemporaryDirectory(prefix="check-speed-") as tmp:
        project = args.project
        if project is None:
            project = Path(tmp) / "demo"
            make_check_demo(project, name="bench-demo")
        commands = {
            "poetry --version": [str(args.poetry), "--version"],
            "poetry torch check": [str(args.poetry), "torch", "check"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            timed(argv, project, env)
        times: dict[str, list[float]] = {label: [] for label in commands}
        cpu: dict[str, list[float]] = {label: [] for label in commands}
        codes: dict[str, set[int]] = {label: set() for label in commands}
        labels = list(commands)
        for number in range(args.n):
            shift = number % len(labels)  # the side that goes first alternates
            for label in labels[shift:] + labels[:shift]:
                seconds, used, code = timed(commands[label], project, env)
                times[label].append(seconds)
                cpu[label].append(used)
                codes[label].add(code)
    medians = {label: statistics.median(values) for label, values in times.items()}
    cpu_medians = {label: statistics.median(values) for label, values in cpu.items()}
    for label, median in medians.items():
        spread = f"min {min(times[label]):.3f} s, max {max(times[label]):.3f} s"
        print(
            f"{label:<20} median {median:.3f} s ({spread}), CPU {cpu_medians[label]:.3f} s,"
            f" exit codes {sorted(codes[label])}"
        )
    ratio = medians["poetry torch check"] / medians["poetry --version"]
    cpu_ratio = cpu_medians["poetry torch check"] / (cpu_medians["poetry --version"] or 1.0)
    print(
        f"ratio check/--version: {ratio:.2f} wall, {cpu_ratio:.2f} CPU"
        f" (n={args.n}, python {sys.version.split()[0]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
