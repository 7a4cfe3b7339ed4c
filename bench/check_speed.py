"""How much slower ``poetry torch check`` is than ``poetry --version`` (target: at most 1.2x).

Runs both commands alternately N times in a demo project (built in a temporary directory:
pyproject.toml with a pytorch source, and a ``.venv`` holding torch, torchvision and torchaudio
dist-info files and ``torch/version.py``, no real wheels) and prints the medians and the ratio.

    .venv/bin/python bench/check_speed.py [-n 21] [--poetry PATH] [--project DIR]
        [--virtual-env DIR] [--fake-machine FILE.json]
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


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - started, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=21, help="runs of each command")
    parser.add_argument("--poetry", type=Path, default=REPO / ".venv" / "bin" / "poetry")
    parser.add_argument("--project", type=Path, help="an existing project (default: a demo)")
    parser.add_argument("--fake-machine", type=Path, help="set POETRY_TORCH_FAKE_MACHINE")
    parser.add_argument("--virtual-env", type=Path, help="set VIRTUAL_ENV (the project's env)")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
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
        codes: dict[str, set[int]] = {label: set() for label in commands}
        for _ in range(args.n):
            for label, argv in commands.items():
                seconds, code = timed(argv, project, env)
                times[label].append(seconds)
                codes[label].add(code)
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, median in medians.items():
        spread = f"min {min(times[label]):.3f} s, max {max(times[label]):.3f} s"
        print(f"{label:<20} median {median:.3f} s ({spread}), exit codes {sorted(codes[label])}")
    ratio = medians["poetry torch check"] / medians["poetry --version"]
    print(f"ratio check/--version: {ratio:.2f} (n={args.n}, python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
