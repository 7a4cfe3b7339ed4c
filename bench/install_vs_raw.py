"""``poetry torch install`` vs the raw installer command on the same wheels, warm cache
(goal: <= 1.2x, for pip and for uv).

One project per installer, on a local index serving PEP 658 metadata and files that say they
never change (as download.pytorch.org and PyPI do), trusted by pip (``certificates.<source>.cert
= false``: pip caches only from https or a trusted host).  A first ``poetry torch install --cpu
torch --installer X`` fills the installer's cache and writes poetry-torch.lock.  Then each
round, torch is uninstalled (not timed) before each side:

    plugin: poetry torch install --cpu torch --installer X   (replays the lock, checks hashes)
    raw:    python -m pip install --index-url <index> --trusted-host 127.0.0.1 torch==V
            uv pip install --python <venv python> --index-url <index> torch==V

The sides alternate (which goes first rotates); one warm-up round; medians and ratios printed.
The wheels: the real torch CPU wheel and its dependencies when pip's configuration finds them on
this machine's disk, else a torch wheel padded with ``--padded-mb`` MB.

    .venv/bin/python bench/install_vs_raw.py [-n 3] [--cache DIR] [--padded-mb 64] [--no-real]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import isolated_env
from _common import make_project
from _common import median
from _common import out
from _common import poetry
from _common import timed
from _common import uv_alone_on_path
from _cpu_index import cpu_index_arguments
from _cpu_index import start_bench

from tests.support.index_server import IndexServer


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed\n{result.stdout}\n{result.stderr}")


def measure(
    binary: Path, root: Path, cache: Path, installer: str, uv: str | None, version: str, rounds: int
) -> dict[str, list[float]]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp,
        IndexServer(root, cache=True) as server,
    ):
        work = Path(tmp)
        env = isolated_env(work / "home", index_base=server.base, pycache=cache / "pycache")
        if uv is not None:
            uv_alone_on_path(env, work, uv)
        project = make_project(work / "project", server.pypi_url, ())
        poetry(binary, project, env, "config", "certificates.pytorch_cpu.cert", "false")
        plugin_args = ("torch", "install", "--cpu", "torch", "--installer", installer)
        poetry(binary, project, env, *plugin_args)  # fills the cache, writes the lock
        python = str(project / ".venv" / "bin" / "python")
        index = f"{server.base}/cpu"
        if installer == "pip":
            raw = [python, "-m", "pip", "install", "--index-url", index]
            raw += ["--trusted-host", "127.0.0.1", "--progress-bar", "off", f"torch=={version}"]
        else:
            assert uv is not None
            raw = [uv, "pip", "install", "--python", python, "--index-url", index]
            raw += [f"torch=={version}"]
        uninstall = [python, "-m", "pip", "uninstall", "-y", "-q", "torch"]

        def plugin_side() -> None:
            poetry(binary, project, env, *plugin_args)

        def raw_side() -> None:
            _run(raw, env, project)

        sides = {"plugin": plugin_side, "raw": raw_side}
        samples: dict[str, list[float]] = {name: [] for name in sides}
        names = list(sides)
        for number in range(1 + rounds):  # round 0 warms up
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                _run(uninstall, env, project)  # not timed
                seconds = timed(sides[name])
                if number > 0:
                    samples[name].append(seconds)
        return samples


def main(argv: list[str] | None = None) -> int:
    parser = cpu_index_arguments(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    cache, binary, root, version, uv = start_bench(args)
    worst = 0.0
    for installer in ["pip", "uv"] if uv else ["pip"]:
        samples = measure(binary, root, cache, installer, uv, version, args.rounds)
        out(f"\n{installer}, warm cache, median of {args.rounds} rounds:")
        for name, values in samples.items():
            out(f"  {name:<7} {median(values):7.2f} s  (range {min(values):.2f}-{max(values):.2f})")
        ratio = median(samples["plugin"]) / median(samples["raw"])
        worst = max(worst, ratio)
        out(f"  plugin / raw: {ratio:.2f}x (goal <= 1.2x)")
    return 0 if worst <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
