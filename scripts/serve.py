"""``./dev serve``: the demo's local indexes on 127.0.0.1, to try the plugin by hand, offline.

It serves what ``./dev demo`` uses (``tests/support/wheels.py``, built once into
``.demo/index``): PyTorch-style indexes under ``/whl`` (``cu129``: torch 2.8.0 and 2.9.0;
``cu128`` and ``cpu``: torch 2.8.0; each with torchvision and torchaudio, as small stand-in
wheels) and a stand-in for PyPI under ``/pypi/simple/`` (torchmetrics, PyPI's untagged torch
and the few packages those wheels depend on).  It prints the two lines to paste and serves
until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.wheels import build_torch_universe  # noqa: E402


DEFAULT_ROOT = REPO / ".demo" / "index"


def paste_lines(server: IndexServer) -> list[str]:
    """What to run in the shell and in the project: the index base for the plugin, and the
    PyPI stand-in as the project's primary source (so Poetry asks no real index)."""
    return [
        f"export POETRY_TORCH_INDEX_BASE={server.base}",
        f"poetry source add --priority=primary fakepypi {server.pypi_url}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the wheel tree")
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "whl").is_dir():
        sys.stdout.write(f"Building the stand-in wheels into {root} …\n")
        build_torch_universe(root)
    try:
        server = IndexServer(root, port=args.port)
    except OSError as error:
        sys.stderr.write(f"cannot listen on 127.0.0.1:{args.port} ({error.strerror})\n")
        return 1
    first, second = paste_lines(server)
    sys.stdout.write(
        f"Serving the demo's indexes on {server.url} (Ctrl-C stops them).\n"
        "\n"
        "In the shell you run Poetry in (the plugin takes its PyTorch indexes from here):\n"
        f"    {first}\n"
        "In a throwaway project (its other packages come from the PyPI stand-in):\n"
        f"    {second}\n"
        "\n"
        "Then: poetry torch install --cuda 12.9   (the wheels are small stand-ins, not PyTorch)\n"
    )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.stdout.write("\nStopped.\n")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
