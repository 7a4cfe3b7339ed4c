"""Switching with real PyTorch wheels, pip vs uv: ``--cpu`` <-> ``--cuda 13.0``, warm caches.

``switch.py`` pads fake wheels; this script uses the real ones when pip can find them (a
machine image, a wheelhouse, a devpi mirror; the small pure-Python dependencies pip would
fetch from PyPI are downloaded once into ``--cache``): ``torch==2.14.1`` with its CUDA 13.0 runtime
(nvidia-*, cuda-toolkit, triton: ~2.7 GB of wheels) and ``torch==2.13.0+cpu``.  pip's own
configuration finds them (``pip install --dry-run --report``); their files are linked into a
local PyTorch-style index (``whl/cu130``, ``whl/cpu``) served over https with
``Cache-Control: immutable``, pip's best case.  The projects configure ``packages = ["torch"]``
(no torchvision/torchaudio builds are needed).  Exits 2, changing nothing, when the wheels
cannot be found.

    .venv/bin/python bench/switch_real.py [-n 3] [--cache DIR] [--cuda-torch 2.14.1]
        [--cpu-torch 2.13.0+cpu]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import machine
from _common import out
from _common import poetry_bin
from _common import poetry_version
from switch import big_universe
from switch import measure
from switch import report

from poetry_torch_plugin.installer.uv import find_uv


def closure_files(requirement: str, downloads: Path) -> list[Path] | None:
    """The wheel files pip would install for ``requirement`` into an empty environment: the
    ones on this machine's disk where they are, the others downloaded once into ``downloads``."""
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        report_path = Path(tmp) / "report.json"
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"),
                *("--only-binary", ":all:", "--quiet", "--report", str(report_path), requirement),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            return None
        data = json.loads(report_path.read_text(encoding="utf-8"))
    files = []
    for item in data.get("install", []):
        url = urllib.parse.urlsplit(item["download_info"]["url"])
        name = urllib.parse.unquote(url.path.rsplit("/", 1)[-1])
        if url.scheme == "file":
            files.append(Path(urllib.parse.unquote(url.path)))
            continue
        if not (downloads / name).is_file():
            pin = f"{item['metadata']['name']}=={item['metadata']['version']}"
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"),
                    *("--only-binary", ":all:", "-d", str(downloads), pin),
                ],
                capture_output=True,
                check=False,
            )
        if not (downloads / name).is_file():
            return None
        files.append(downloads / name)
    return files


def real_universe(cache: Path, cuda_torch: str, cpu_torch: str) -> Path | None:
    """``whl/cu130`` and ``whl/cpu`` holding links to the real wheels, plus the test PyPI."""
    downloads = cache / "real-downloads"
    cuda = closure_files(f"torch=={cuda_torch}", downloads)
    cpu = closure_files(f"torch=={cpu_torch}", downloads)
    if not cuda or not cpu:
        return None
    root = cache / f"universe-real-{cuda_torch}-{cpu_torch}"
    shutil.rmtree(root, ignore_errors=True)
    for label, files in (("cu130", cuda), ("cpu", cpu)):
        directory = root / "whl" / label
        directory.mkdir(parents=True)
        for file in files:
            (directory / file.name).symlink_to(file)
    # the projects' torchmetrics comes from the test universe's fake PyPI
    shutil.copytree(big_universe(cache, 1, 1) / "pypi", root / "pypi")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, index")
    parser.add_argument("--cuda-torch", default="2.14.1")
    parser.add_argument("--cpu-torch", default="2.13.0+cpu")
    args = parser.parse_args(argv)
    uv = find_uv()
    if uv is None:
        out("uv not found (on PATH or as the uv package): `.venv/bin/pip install uv`")
        return 2
    root = real_universe(args.cache, args.cuda_torch, args.cpu_torch)
    if root is None:
        out(f"pip finds no local wheels of torch=={args.cuda_torch} and =={args.cpu_torch}")
        return 2
    sizes = {
        label: sum(f.stat().st_size for f in (root / "whl" / label).iterdir()) / 1e9
        for label in ("cu130", "cpu")
    }
    binary = poetry_bin(args.cache)
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}; uv at {uv}")
    out(
        f"wheels:  cu130 closure {sizes['cu130']:.2f} GB"
        f" ({len(list((root / 'whl' / 'cu130').iterdir()))} files),"
        f" cpu closure {sizes['cpu']:.2f} GB"
    )
    pair = (("cu130", ("--cuda", "13.0")), ("cpu", ("--cpu",)))
    times, served = measure(
        binary,
        root,
        args.cache,
        uv,
        args.rounds,
        https=True,
        pair=pair,
        tool_table='\n[tool.poetry-torch]\npackages = ["torch"]\n',
    )
    report(
        "https, files served Cache-Control: immutable, real wheels",
        times,
        served,
        args.rounds,
        labels=("cu130", "cpu"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
