"""``poetry torch install --wheelhouse DIR`` vs ``poetry torch install`` from the index, the same
poetry-torch.lock, warm installer cache, for pip and for uv (no goal: how much a wheelhouse saves
or costs once the index's files are cached anyway).

One project per installer, on a local index serving PEP 658 metadata and files that say they
never change (as download.pytorch.org does), trusted by pip (pip caches only from https or a
trusted host).  Untimed: ``poetry torch install --cpu torch --installer X`` writes the lock and
fills the installer's cache, ``poetry torch wheelhouse DIR`` fills the wheelhouse.  Then each
round, torch is uninstalled (not timed) before each side:

    index:      poetry torch install --installer X                    (replays the lock)
    wheelhouse: poetry torch install --wheelhouse DIR --installer X   (--no-index --find-links)

The sides alternate (which goes first rotates); one warm-up round; medians and ratios printed.
The wheels: the real torch CPU wheel and its dependencies when pip's configuration finds them on
this machine's disk, else a torch wheel padded with ``--padded-mb`` MB.

    .venv/bin/python bench/wheelhouse_vs_index.py [-n 3] [--cache DIR] [--padded-mb 64] [--no-real]
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


def measure(
    binary: Path, root: Path, cache: Path, installer: str, uv: str | None, rounds: int
) -> dict[str, list[float]]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-wheelhouse-") as tmp,
        IndexServer(root, cache=True) as server,
    ):
        work = Path(tmp)
        env = isolated_env(work / "home", index_base=server.base, pycache=cache / "pycache")
        if uv is not None:
            uv_alone_on_path(env, work, uv)
        project = make_project(work / "project", server.pypi_url, ())
        poetry(binary, project, env, "config", "certificates.pytorch_cpu.cert", "false")
        chosen = ("--installer", installer)
        poetry(binary, project, env, "torch", "install", "--cpu", "torch", *chosen)
        wheelhouse = work / "wheelhouse"
        filled = poetry(binary, project, env, "torch", "wheelhouse", str(wheelhouse))
        out(f"\n{installer}: {(filled.stdout.strip() or filled.stderr.strip()).splitlines()[-1]}")
        python = str(project / ".venv" / "bin" / "python")
        uninstall = [python, "-m", "pip", "uninstall", "-y", "-q", "torch"]
        commands = {
            "index": ("torch", "install", *chosen),
            "wheelhouse": ("torch", "install", "--wheelhouse", str(wheelhouse), *chosen),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for number in range(1 + rounds):  # round 0 warms up
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                subprocess.run(uninstall, env=env, cwd=project, check=True)  # not timed
                args = commands[name]
                seconds = timed(lambda args=args: poetry(binary, project, env, *args))
                if number > 0:
                    samples[name].append(seconds)
        return samples


def main(argv: list[str] | None = None) -> int:
    parser = cpu_index_arguments(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    cache, binary, root, _, uv = start_bench(args)
    for installer in ["pip", "uv"] if uv else ["pip"]:
        samples = measure(binary, root, cache, installer, uv, args.rounds)
        out(f"{installer}, warm cache, median of {args.rounds} rounds:")
        for name, values in samples.items():
            spread = f"{min(values):.2f}-{max(values):.2f}"
            out(f"  {name:<11} {median(values):7.2f} s  (range {spread})")
        ratio = median(samples["wheelhouse"]) / median(samples["index"])
        out(f"  wheelhouse / index: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
