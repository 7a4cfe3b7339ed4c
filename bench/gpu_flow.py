"""The whole flow on a machine's real torch stack, with no network: repack, serve, install, check.

Made for the GPU device machine (no network; its image holds a CUDA build of torch, torchvision
and torchaudio with their CUDA runtime packages), and run here on a CPU build too:

1. the torch stack installed for ``--python`` (torch, torchvision and torchaudio where present,
   and every distribution they need, extras followed) is repacked into wheels from each
   distribution's RECORD (files hashed again, the WHEEL tags kept; a family member whose version
   has no local label gets ``+<variant>``, as PyTorch's index names it), behind a local index
   shaped like PyTorch's (``/whl/<variant>/<name>/`` pages, ``#sha256=`` links, PEP 658
   metadata) and a PyPI-role index holding the rest of the closure, ``needs-torch`` (requires
   torch), ``tinydep`` and an empty ``torch 2.99.0`` standing in for PyPI's newer plain build;
2. both are served on 127.0.0.1 from a thread of this process; Poetry, uv and the plugin are
   installed into a throwaway venv from ``--wheels DIR`` only (no index);
3. a fresh project (``dependencies = ["needs-torch"]``) runs ``poetry torch install --cuda X``
   (X = the stack's ``torch.version.cuda``; ``--cpu`` for a CPU build), ``torch check``,
   ``torch check --runtime --require-gpu`` (no ``--require-gpu`` on a CPU build),
   ``torch check --json``, ``lock``, ``install``, ``update``, ``add tinydep``, ``sync`` (the
   torch build read from the environment's files after each), the hook's no-op cost (``poetry
   install`` vs ``poetry install --no-plugins``) and ``check``'s (``poetry torch check`` vs
   ``poetry --version``), each ``--pairs`` alternated pairs after one warm-up pair, and
   ``torch install --cuda auto --dry-run``;
4. ``gpu-flow.json`` (the record) and ``gpu-flow.log`` (each command's output, long outputs cut
   to their ends) are written to ``--out`` (default: ``$OUT``).

Exits 0 when every step exited 0 and the build stayed the installed one after every Poetry
command, 1 otherwise, 2 when it could not start (no torch, no wheels, a distribution without a
RECORD).  Run with any Python 3.9+ (standard library only; the repack runs in the Poetry venv,
which has ``packaging``)::

    python3 bench/gpu_flow.py --wheels .whl [--python PY] [--out DIR] [--pairs 7]
        [--installer pip|uv] [--timeout 600] [--commit SHA] [--work DIR] [--keep-work]

``python bench/gpu_flow.py repack ROOT --variant V --path SITE...`` runs the repack alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import functools
import hashlib
import html
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO
from urllib.parse import quote


# Run as `python bench/gpu_flow.py`: the repository root makes tests.support importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.isolation import isolated_env


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Iterator
    from collections.abc import Mapping
    from collections.abc import Sequence
    from importlib.metadata import Distribution

FAMILY = ("torch", "torchvision", "torchaudio")
DECOY_TORCH = "2.99.0"
JSON_NAME = "gpu-flow.json"
LOG_NAME = "gpu-flow.log"
_SKIPPED_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_SCRIPT_GROUPS = ("console_scripts", "gui_scripts")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _escaped(name: str) -> str:
    """A name or version as a wheel file name spells it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------------------------
# Repack: installed distributions -> wheels -> two PEP 503 indexes


@dataclass(frozen=True)
class Wheel:
    """A wheel file written by the repack, with what the index pages need."""

    path: Path
    name: str  # normalized project name
    version: str
    sha256: str
    metadata: bytes
    relabelled: bool = False


@dataclass
class RepackReport:
    wheels: list[Wheel] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # required, not installed
    left_out: list[str] = field(default_factory=list)  # files not carried (see repack())


def closure(roots: Sequence[str], path: Sequence[str]) -> tuple[list[Distribution], list[str]]:
    """The installed distributions ``roots`` need on ``path`` (first found wins, as for
    imports), extras followed (``cuda-toolkit[cublas]``), markers evaluated for this
    interpreter; and the required names found nowhere."""
    from importlib.metadata import distributions

    from packaging.requirements import Requirement

    installed: dict[str, Distribution] = {}
    for each in distributions(path=list(path)):
        installed.setdefault(normalize(each.metadata["Name"]), each)
    found: dict[str, Distribution] = {}
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo = [(normalize(root), "") for root in roots]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = installed.get(name)
        if dist is None:
            if name not in missing:
                missing.append(name)
            continue
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                child = normalize(requirement.name)
                todo.append((child, ""))
                todo.extend((child, wanted) for wanted in requirement.extras)
    return sorted(found.values(), key=lambda d: normalize(d.metadata["Name"])), sorted(missing)


def _wheel_tags(wheel_text: str) -> str:
    """The compressed tag set (``cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64``)."""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    if not tags:
        raise ValueError("WHEEL names no Tag")
    parts = [tag.split("-") for tag in tags]
    return "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))


def _set_version(metadata: bytes, version: str) -> bytes:
    return re.sub(rb"(?m)^Version: .*$", f"Version: {version}".encode(), metadata, count=1)


class _WheelWriter:
    """A stored (uncompressed: the big ones are .so files) zip with its RECORD rows."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True)
        self.rows: list[tuple[str, str, str]] = []

    def add_file(self, arcname: str, source: Path) -> None:
        info = zipfile.ZipInfo.from_file(source, arcname)
        info.compress_type = zipfile.ZIP_STORED
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as reader, self.zip.open(info, "w", force_zip64=True) as writer:
            for chunk in iter(functools.partial(reader.read, 1 << 20), b""):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)
        self.rows.append((arcname, _record_hash(digest.digest()), str(size)))

    def add_bytes(self, arcname: str, data: bytes) -> None:
        info = zipfile.ZipInfo(arcname, date_time=time.gmtime()[:6])
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, data)
        self.rows.append((arcname, _record_hash(hashlib.sha256(data).digest()), str(len(data))))

    def close(self, record: str) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([*self.rows, (record, "", "")])
        self.add_bytes(record, buffer.getvalue().encode())
        self.rows.pop()
        self.zip.close()


def repack(dist: Distribution, dest: Path, variant: str, report: RepackReport) -> Wheel:
    """``dist`` as a wheel in ``dest``, from its RECORD: files in site-packages keep their
    paths; files beside it (``../../../share/…``) go to ``<name>.data/data/`` relative to the
    environment's prefix; console-script launchers (the installer writes them again),
    bytecode, INSTALLER, REQUESTED and direct_url.json are left out; RECORD is written anew
    with every file's hash.  A family member with no local label gets ``+<variant>``."""
    name = dist.metadata["Name"]
    version = dist.version
    relabel = normalize(name) in FAMILY and "+" not in version
    new_version = f"{version}+{variant}" if relabel else version
    entries = [PurePosixPath(str(f)) for f in dist.files or []]
    infos = {p.parts[0] for p in entries if p.parts and p.parts[0].endswith(".dist-info")}
    if len(infos) != 1 or not any(p.name == "RECORD" for p in entries):
        raise ValueError(f"{name} {version} has no .dist-info RECORD to repack from")
    old_info = infos.pop()
    new_info = f"{_escaped(name)}-{new_version}.dist-info"
    data_dir = f"{_escaped(name)}-{new_version}.data"
    site = Path(str(dist.locate_file("")))
    prefix = Path(os.path.normpath(site.parents[2]))  # <prefix>/lib/pythonX.Y/site-packages
    launchers = {ep.name for ep in dist.entry_points if ep.group in _SCRIPT_GROUPS}
    wheel_text = dist.read_text("WHEEL") or ""
    out = dest / f"{_escaped(name)}-{new_version}-{_wheel_tags(wheel_text)}.whl"
    metadata = (site / old_info / "METADATA").read_bytes()
    if relabel:
        metadata = _set_version(metadata, new_version)
    writer = _WheelWriter(out)
    try:
        info_files: list[tuple[str, Path]] = []
        for entry in entries:
            if "__pycache__" in entry.parts or entry.suffix == ".pyc":
                continue
            source = Path(os.path.normpath(site / entry))
            if entry.parts[0] == old_info:
                if entry.name not in _SKIPPED_INFO and entry.name != "METADATA":
                    info_files.append((f"{new_info}/{'/'.join(entry.parts[1:])}", source))
                continue
            if not source.is_file():
                report.left_out.append(f"{name}: {entry} (listed in RECORD, not on disk)")
                continue
            if entry.parts[0] != "..":
                writer.add_file(str(entry), source)
                continue
            if source.parent.name in ("bin", "Scripts") and source.stem in launchers:
                continue
            try:
                inside = source.relative_to(prefix)
            except ValueError:
                report.left_out.append(f"{name}: {entry} (outside {prefix})")
                continue
            writer.add_file(f"{data_dir}/data/{inside.as_posix()}", source)
        for arcname, source in info_files:  # the .dist-info last, RECORD at its end
            writer.add_file(arcname, source)
        writer.add_bytes(f"{new_info}/METADATA", metadata)
        writer.close(f"{new_info}/RECORD")
    except BaseException:
        writer.zip.close()
        out.unlink(missing_ok=True)
        raise
    return Wheel(out, normalize(name), new_version, _file_sha256(out), metadata, relabel)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        for chunk in iter(functools.partial(reader.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tiny_wheel(dest: Path, name: str, version: str, requires: Sequence[str] = ()) -> Wheel:
    """A pure-Python wheel holding one empty module: the PyPI role's own projects."""
    dist = _escaped(name)
    info = f"{dist}-{version}.dist-info"
    metadata = "".join(
        f"{line}\n"
        for line in (
            "Metadata-Version: 2.1",
            f"Name: {name}",
            f"Version: {version}",
            *(f"Requires-Dist: {r}" for r in requires),
        )
    ).encode()
    out = dest / f"{dist}-{version}-py3-none-any.whl"
    writer = _WheelWriter(out)
    writer.add_bytes(f"{dist}/__init__.py", f"__version__ = {version!r}\n".encode())
    writer.add_bytes(f"{info}/METADATA", metadata)
    writer.add_bytes(
        f"{info}/WHEEL",
        b"Wheel-Version: 1.0\nGenerator: bench/gpu_flow.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    )
    writer.close(f"{info}/RECORD")
    return Wheel(out, normalize(name), version, _file_sha256(out), metadata)


def write_index(pages: Path, url_of: Mapping[Path, str], wheels: Iterable[Wheel]) -> None:
    """PEP 503 pages under ``pages`` (``index.html`` and ``<name>/index.html``) linking each
    wheel at ``url_of[wheel.path]`` with ``#sha256=``, PEP 658 metadata and Requires-Python."""
    from email.parser import BytesHeaderParser

    by_name: dict[str, list[Wheel]] = {}
    for wheel in wheels:
        by_name.setdefault(wheel.name, []).append(wheel)
    for name, group in by_name.items():
        rows = []
        for wheel in sorted(group, key=lambda w: w.path.name):
            meta_sha = hashlib.sha256(wheel.metadata).hexdigest()
            wheel.path.with_name(wheel.path.name + ".metadata").write_bytes(wheel.metadata)
            requires_python = BytesHeaderParser().parsebytes(wheel.metadata).get("Requires-Python")
            extra = (
                f' data-requires-python="{html.escape(requires_python)}"' if requires_python else ""
            )
            rows.append(
                f'<a href="{url_of[wheel.path]}#sha256={wheel.sha256}"'
                f' data-dist-info-metadata="sha256={meta_sha}" data-core-metadata="sha256={meta_sha}"'
                f"{extra}>{html.escape(wheel.path.name)}</a><br/>"
            )
        (pages / name).mkdir(parents=True, exist_ok=True)
        (pages / name / "index.html").write_text(_page(rows), encoding="utf-8")
    links = [f'<a href="{name}/">{name}</a><br/>' for name in sorted(by_name)]
    (pages / "index.html").write_text(_page(links), encoding="utf-8")


def _page(rows: Sequence[str]) -> str:
    return "<!DOCTYPE html>\n<html><body>\n" + "\n".join(rows) + "\n</body></html>\n"


def build_indexes(root: Path, variant: str, path: Sequence[str]) -> dict[str, Any]:
    """Repack the stack on ``path`` into ``root/whl/<variant>/`` (the PyTorch role) and write
    ``root/pypi/`` (the PyPI role); return the summary the record keeps."""
    started = time.perf_counter()
    roots = [name for name in FAMILY if name == "torch" or _installed(name, path)]
    dists, missing = closure(roots, path)
    if "torch" not in {normalize(d.metadata["Name"]) for d in dists}:
        raise ValueError(f"torch is not installed on {list(path)}")
    whl = root / "whl" / variant
    files = root / "pypi" / "files"
    whl.mkdir(parents=True, exist_ok=True)
    files.mkdir(parents=True, exist_ok=True)
    report = RepackReport(missing=missing)
    lacking = []

    def one(dist: Distribution) -> Wheel | None:
        try:
            return repack(dist, whl, variant, report)
        except ValueError as error:
            lacking.append(str(error))
            return None

    # hashing and file copies release the GIL: a few threads read and write the big ones at once
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        report.wheels = [w for w in pool.map(one, dists) if w is not None]
    if lacking:
        raise ValueError("; ".join(sorted(lacking)))
    url_of = {w.path: f"/whl/{variant}/{quote(w.path.name)}" for w in report.wheels}
    write_index(whl, url_of, report.wheels)
    extras = [
        tiny_wheel(files, "needs-torch", "1.0.0", ["torch>=2.0"]),
        tiny_wheel(files, "tinydep", "1.0.0"),
        tiny_wheel(files, "torch", DECOY_TORCH),
    ]
    url_of.update({w.path: f"/pypi/files/{quote(w.path.name)}" for w in extras})
    rest = [w for w in report.wheels if w.name not in FAMILY]
    write_index(root / "pypi" / "simple", url_of, [*rest, *extras])
    return {
        "variant": variant,
        "distributions": len(report.wheels),
        "bytes": sum(w.path.stat().st_size for w in report.wheels),
        "seconds": round(time.perf_counter() - started, 1),
        "packages": [f"{w.name}=={w.version}" for w in report.wheels],
        "relabelled": [w.name for w in report.wheels if w.relabelled],
        "missing": report.missing,
        "left_out": report.left_out[:20],
        "left_out_count": len(report.left_out),
        "pypi_role_extras": [f"{w.name}=={w.version}" for w in extras],
    }


def _installed(name: str, path: Sequence[str]) -> bool:
    from importlib.metadata import distributions

    return any(normalize(d.metadata["Name"]) == name for d in distributions(path=list(path)))


def repack_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="gpu_flow.py repack")
    parser.add_argument("root", type=Path)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--path", action="append", required=True, help="a site directory")
    args = parser.parse_args(argv)
    try:
        summary = build_indexes(args.root, args.variant, args.path)
    except ValueError as error:
        sys.stderr.write(f"gpu_flow: {error}\n")
        return 2
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# Serving


class _Handler(SimpleHTTPRequestHandler):
    server: _Server
    # headers and body are two writes: without this the body waits for the client's delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return

    def send_head(self) -> Any:
        self.server.requests.append(self.path)
        return super().send_head()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]


@contextlib.contextmanager
def serve(root: Path) -> Iterator[tuple[str, list[str]]]:
    """``root`` on http://127.0.0.1:<free port> from a daemon thread; the base URL and the
    request paths as they come."""
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# The flow


@dataclass
class Flow:
    """Where everything runs, and what has been recorded so far."""

    poetry: Path
    project: Path
    env: dict[str, str]
    log: TextIO
    timeout: float
    save: Callable[[], None]
    steps: list[dict[str, Any]] = field(default_factory=list)

    def run(self, *args: str) -> tuple[int, str, int]:
        """``poetry --no-ansi ARGS`` in the project: exit code, output, milliseconds."""
        started = time.perf_counter()
        try:
            result = subprocess.run(
                [str(self.poetry), "--no-ansi", *args],
                cwd=self.project,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
            code, output = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired as expired:
            code, output = 124, f"timed out after {self.timeout:.0f} s\n{expired.output or ''}"
        return code, output, round((time.perf_counter() - started) * 1000)

    def step(self, *args: str, build: bool = False) -> tuple[dict[str, Any], str]:
        """Run, log and record one command; with ``build``, the torch build after it."""
        code, output, ms = self.run(*args)
        command = "poetry " + " ".join(args)
        entry: dict[str, Any] = {"command": command, "exit": code, "ms": ms}
        self.log.write(f"### {command}\n{_cut(output)}### exit {code} in {ms} ms\n")
        if build:
            entry["build"] = installed_build(self.project)
            self.log.write(f"### build: {json.dumps(entry['build'], sort_keys=True)}\n")
        self.log.write("\n")
        self.log.flush()
        self.steps.append(entry)
        self.save()  # a run stopped from outside still leaves the steps done so far
        return entry, output


def _cut(output: str, head: int = 20, tail: int = 60) -> str:
    lines = output.splitlines()
    if len(lines) > head + tail + 1:
        lines = [*lines[:head], f"[... {len(lines) - head - tail} lines ...]", *lines[-tail:]]
    return "".join(f"{line}\n" for line in lines)


_BUILD_PROBE = """
import importlib.metadata as md, importlib.util, json, os, re
names = {}
for name in ("torch", "torchvision", "torchaudio"):
    try:
        names[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
build = {"versions": names}
spec = importlib.util.find_spec("torch")
if spec is not None and spec.submodule_search_locations:
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    if os.path.isfile(path):
        text = open(path, encoding="utf-8").read()
        for key in ("__version__", "cuda", "hip"):
            found = re.search(r"^" + key + r"\\b[^=\\n]*=\\s*'([^']*)'", text, re.M)
            build[key] = found.group(1) if found else None
        build["stamp"] = os.stat(path).st_mtime_ns
print(json.dumps(build))
"""


def installed_build(project: Path) -> dict[str, Any] | None:
    """The torch family in the project's ``.venv``, read from its files (torch is not
    imported): dist-info versions, ``torch/version.py``'s version and CUDA, and that file's
    mtime (``stamp``: it moves when torch is reinstalled, even as the same build)."""
    python = project / ".venv" / "bin" / "python"
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c", _BUILD_PROBE], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-500:]}
    build: dict[str, Any] = json.loads(result.stdout)
    return build


def same_build(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    keys = ("versions", "__version__", "cuda", "hip")
    return a is not None and b is not None and all(a.get(k) == b.get(k) for k in keys)


def alternated(flow: Flow, sides: Mapping[str, Sequence[str]], pairs: int) -> dict[str, Any]:
    """Each side once per round, the first side rotating, one warm-up round not counted."""
    names = list(sides)
    ms: dict[str, list[int]] = {name: [] for name in names}
    codes: dict[str, set[int]] = {name: set() for name in names}
    for index in range(pairs + 1):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            code, _, took = flow.run(*sides[name])
            codes[name].add(code)
            if index:
                ms[name].append(took)
    medians = {name: statistics.median(values) for name, values in ms.items()}
    first, second = names
    summary = {
        "commands": {name: "poetry " + " ".join(sides[name]) for name in names},
        "ms": ms,
        "median_ms": medians,
        "ratio": round(medians[first] / medians[second], 3),
        "exit_codes": {name: sorted(c) for name, c in codes.items()},
        "pairs": pairs,
    }
    flow.log.write(
        f"### {pairs} alternated pairs: {first} median {medians[first]} ms,"
        f" {second} median {medians[second]} ms, ratio {summary['ratio']}\n\n"
    )
    return summary


def probe_stack(python: str) -> dict[str, Any]:
    """The stack's torch as it reports itself (imported: this is the real build), and the
    interpreter's site directories."""
    code = (
        "import json, sys\n"
        "out = {'python': sys.version.split()[0], 'executable': sys.executable,"
        " 'path': [p for p in sys.path if p and not p.endswith('.zip')]}\n"
        "try:\n"
        "    import torch\n"
        "except Exception as error:\n"
        "    out['error'] = repr(error)\n"
        "else:\n"
        "    out.update(torch=torch.__version__, cuda=torch.version.cuda,"
        " hip=getattr(torch.version, 'hip', None),"
        " cuda_available=torch.cuda.is_available(),"
        " arch_list=torch.cuda.get_arch_list() if torch.version.cuda else [])\n"
        "    if out['cuda_available']:\n"
        "        out['device'] = torch.cuda.get_device_name(0)\n"
        "        out['capability'] = '.'.join(map(str, torch.cuda.get_device_capability(0)))\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip()[-1000:]}
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if found:
            cpu = found.group(1).strip()
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "gpus": None,
    }
    smi = shutil.which("nvidia-smi")
    if smi:
        query = "name,driver_version,compute_cap,memory.total,pci.device_id"
        result = subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        info["nvidia_smi_query"] = query
        info["gpus"] = result.stdout.strip().splitlines() if result.returncode == 0 else None
    return info


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if git is None:
        return None
    result = subprocess.run(
        [git, "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _pyproject(pypi_url: str, python: str) -> str:
    major, minor = python.split(".")[:2]
    return f"""[project]
name = "gpu-flow"
version = "0.1.0"
requires-python = ">={major}.{minor},<{major}.{int(minor) + 1}"
dependencies = ["needs-torch"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "stand-in-pypi"
url = "{pypi_url}"
priority = "primary"
"""


def build_poetry_venv(
    python: str, wheels: Path, dest: Path, version: str, env: Mapping[str, str]
) -> tuple[Path, str]:
    """Poetry ``version``, uv and the plugin in a venv of ``python``, from ``wheels`` only."""
    made = subprocess.run(
        [python, "-m", "venv", str(dest)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
    )
    if made.returncode != 0:
        return dest / "bin" / "poetry", f"{python} -m venv: {(made.stdout + made.stderr).strip()}"
    result = subprocess.run(
        [
            *(str(dest / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index"),
            *("--find-links", str(wheels), f"poetry=={version}", "poetry-torch-plugin", "uv"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
    )
    return dest / "bin" / "poetry", (
        result.stdout + result.stderr
    ).strip() if result.returncode else ""


def run_flow(args: argparse.Namespace, work: Path, out: Path) -> int:
    record: dict[str, Any] = {
        "script": "bench/gpu_flow.py",
        "commit": args.commit or _git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
    }
    problems: list[str] = []
    record["problems"] = problems

    def save() -> None:
        record["ok"] = not problems
        (out / JSON_NAME).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    log = (out / LOG_NAME).open("w", encoding="utf-8")
    try:
        code = _flow(args, work, record, problems, log, save)
    except SystemExit as stopped:  # SIGTERM (see main)
        problems.append(f"stopped from outside (exit {stopped.code}) before the end")
        raise
    finally:
        log.write("### problems: " + ("; ".join(problems) or "none") + "\n")
        log.close()
        save()
    return code


def _flow(
    args: argparse.Namespace,
    work: Path,
    record: dict[str, Any],
    problems: list[str],
    log: TextIO,
    save: Callable[[], None],
) -> int:
    stack = probe_stack(args.python)
    record["stack"] = {k: v for k, v in stack.items() if k != "path"}
    log.write(
        f"### machine: {json.dumps(record['machine'])}\n### stack: {json.dumps(record['stack'])}\n\n"
    )
    if "error" in stack or "torch" not in stack:
        problems.append(f"no torch for {args.python}: {stack.get('error')}")
        return 2
    if stack.get("hip"):
        problems.append(f"a ROCm build ({stack['torch']}): not covered by this script")
        return 2
    cuda = stack.get("cuda")
    variant = "cu" + cuda.replace(".", "") if cuda else "cpu"
    env = isolated_env(work / "home")
    env["PIP_NO_INPUT"] = "1"
    poetry, failure = build_poetry_venv(
        args.python, args.wheels, work / "poetry-venv", args.poetry_version, env
    )
    if failure:
        problems.append(f"Poetry venv from {args.wheels}: {failure[-1000:]}")
        return 2
    started = time.perf_counter()
    repacked = subprocess.run(
        [
            *(str(poetry.parent / "python"), str(Path(__file__).resolve()), "repack"),
            *(str(work / "index"), "--variant", variant),
            *(f"--path={p}" for p in stack["path"]),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if repacked.returncode != 0:
        problems.append(f"repack: {repacked.stderr.strip()[-1000:]}")
        return 2
    record["repack"] = json.loads(repacked.stdout)
    record["repack"]["seconds"] = round(time.perf_counter() - started, 1)
    log.write(f"### repack: {json.dumps(record['repack'])}\n\n")
    family = [p.split("==")[0] for p in record["repack"]["packages"] if p.split("==")[0] in FAMILY]
    project = work / "project"
    project.mkdir()
    with serve(work / "index") as (base, requests):
        (project / "pyproject.toml").write_text(_pyproject(f"{base}/pypi/simple/", stack["python"]))
        env.update(
            PATH=f"{poetry.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            POETRY_TORCH_INDEX_BASE=f"{base}/whl",
            POETRY_VIRTUALENVS_USE_POETRY_PYTHON="true",
        )
        flow = Flow(poetry, project, env, log, args.timeout, save)
        record["poetry"] = flow.run("--version")[1].strip()
        record["steps"] = flow.steps
        chosen = ("--cuda", cuda) if cuda else ("--cpu",)
        installer = ("--installer", args.installer) if args.installer else ()
        installed, _ = flow.step("torch", "install", *chosen, *installer, *family, build=True)
        expected = installed["build"]
        record["expected_build"] = expected
        if not expected or expected.get("__version__") != stack["torch"]:
            problems.append(f"torch install gave {expected}, not the stack's {stack['torch']}")
        flow.step("torch", "check")
        flow.step("torch", "check", "--runtime", *(("--require-gpu",) if cuda else ()))
        as_json, output = flow.step("torch", "check", "--json")
        with contextlib.suppress(ValueError):
            as_json["report"] = json.loads(output[output.find("{") :])
        for command in (("lock",), ("install",), ("update",), ("add", "tinydep"), ("sync",)):
            entry, _ = flow.step(*command, build=True)
            entry["same_build"] = same_build(entry["build"], expected)
            entry["reinstalled"] = bool(entry["build"]) and entry["build"].get("stamp") != (
                expected or {}
            ).get("stamp")
            if not entry["same_build"]:
                problems.append(f"{entry['command']} left {entry['build']}, not {expected}")
        record["timings"] = {
            "hook": alternated(
                flow, {"on": ("install",), "off": ("install", "--no-plugins")}, args.pairs
            ),
            "check": alternated(
                flow, {"check": ("torch", "check"), "version": ("--version",)}, args.pairs
            ),
        }
        flow.step("torch", "install", "--cuda", "auto", "--dry-run", *installer)
        record["pypi_role_torch_requests"] = [
            path for path in requests if path.startswith("/pypi/") and _names_family(path)
        ]
    for entry in flow.steps:
        if entry["exit"] != 0:
            problems.append(f"{entry['command']} exited {entry['exit']}")
    return 1 if problems else 0


def _names_family(path: str) -> bool:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return normalize(re.split(r"-\d", last, maxsplit=1)[0]) in FAMILY


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["repack"]:
        return repack_main(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="Poetry, uv, the plugin")
    parser.add_argument("--python", default=sys.executable, help="the stack's interpreter")
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT") or None)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--installer", choices=("pip", "uv"))
    parser.add_argument("--poetry-version", default="2.5.1")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument("--commit", help="the code's commit, where the copy has no .git")
    parser.add_argument("--work", type=Path, help="default: a temporary folder")
    parser.add_argument("--keep-work", action="store_true")
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("--out is required when $OUT is not set")
    if not any(args.wheels.glob("poetry_torch_plugin-*.whl")):
        parser.error(f"no poetry_torch_plugin wheel in {args.wheels} (pip wheel --no-deps .)")
    args.wheels = args.wheels.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    # a time limit's SIGTERM unwinds: the record is written and the work folder removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    work = Path(tempfile.mkdtemp(prefix="gpu-flow-", dir=args.work))
    try:
        code = run_flow(args, work, args.out)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    record = json.loads((args.out / JSON_NAME).read_text(encoding="utf-8"))
    sys.stdout.write(summary(record))
    return code


def summary(record: Mapping[str, Any]) -> str:
    """A few lines for the terminal: the steps, the build, the ratios, the problems."""
    lines = [f"machine: {record['machine']}", f"stack: {record.get('stack')}"]
    repack_info = record.get("repack")
    if repack_info:
        lines.append(
            f"repack: {repack_info['distributions']} distributions,"
            f" {repack_info['bytes'] / 2**30:.2f} GiB, {repack_info['seconds']} s"
        )
    for entry in record.get("steps", []):
        same = {True: ", same build", False: ", BUILD CHANGED"}.get(entry.get("same_build"), "")
        lines.append(f"  {entry['exit']:>3}  {entry['ms']:>7} ms  {entry['command']}{same}")
    for name, timing in record.get("timings", {}).items():
        lines.append(f"{name}: {timing['median_ms']} ms medians, ratio {timing['ratio']}")
    lines.append("problems: " + ("; ".join(record["problems"]) or "none"))
    return "".join(f"{line}\n" for line in lines)


if __name__ == "__main__":
    sys.exit(main())
