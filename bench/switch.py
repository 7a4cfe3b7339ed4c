"""Switching builds, pip vs uv: ``poetry torch install --cuda 12.9`` then ``--cuda 12.8``, warm caches.

The test universe's wheels are a few kB, which would time only process start-up.  This script
builds a variant once (under ``--cache``): the same indexes, with every torch wheel of
``whl/cu128`` and ``whl/cu129`` padded with ``--torch-mb`` MB of random (incompressible) bytes
and every nvidia-fakeblas-cu12 wheel with ``--nvidia-mb`` MB, stored uncompressed in a
``_bench_padding.bin`` file listed in RECORD, so pip and uv really download, hash, unpack and
copy that much.  Two projects hold one venv each, one switched with ``--installer pip`` and one
with ``--installer uv``; each round switches both to cu129 and then both back to cu128, the
side that goes first alternating.  A warm-up round fills pip's and uv's caches first.  Bytes
served per switch come from the index server's log.

It runs twice.  First over https (a throwaway CA made with the openssl CLI, trusted through
PIP_CERT, SSL_CERT_FILE and REQUESTS_CA_BUNDLE) with wheel files served
``Cache-Control: max-age=31536000, immutable`` as PyPI serves them: pip caches only responses
from https origins that allow it, so this is pip's best case.  Then over plain http with no
caching headers (the test server as it is), where pip downloads every wheel again.

    .venv/bin/python bench/switch.py [-n 5] [--torch-mb 64] [--nvidia-mb 32] [--cache DIR]
                                     [--scheme both|https|http]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import random
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import zipfile

from pathlib import Path
from typing import TYPE_CHECKING


sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE
from _common import isolated_env
from _common import machine
from _common import make_project
from _common import median
from _common import out
from _common import poetry
from _common import poetry_bin
from _common import poetry_version
from _common import timed
from _common import uv_alone_on_path

from poetry_torch_plugin.installer.uv import find_uv
from tests.support import index_server
from tests.support.index_server import IndexServer
from tests.support.wheels import build_torch_universe


if TYPE_CHECKING:
    from collections.abc import Iterator


def pad_wheel(wheel: Path, package_dir: str, size: int) -> None:
    """Add ``size`` random bytes as ``<package_dir>/_bench_padding.bin`` (stored, in RECORD).

    The bytes are written in chunks (a realistic torch wheel is larger than one
    ``randbytes`` call can make) and hashed on the way; RECORD goes last.
    """
    with zipfile.ZipFile(wheel) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    record_name = next(name for name, _ in entries if name.endswith(".dist-info/RECORD"))
    seed = int.from_bytes(hashlib.sha256(wheel.name.encode()).digest()[:8], "big")
    generator = random.Random(seed)
    pad_name = f"{package_dir}/_bench_padding.bin"
    partial = wheel.with_name(wheel.name + ".partial")
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
        for name, data in entries:
            if name != record_name:
                archive.writestr(zipfile.ZipInfo(name, stamp), data, zipfile.ZIP_DEFLATED)
        padding = hashlib.sha256()
        info = zipfile.ZipInfo(pad_name, stamp)
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = size
        with archive.open(info, "w", force_zip64=True) as handle:
            left = size
            while left:
                chunk = generator.randbytes(min(left, 16 * 1024 * 1024))
                padding.update(chunk)
                handle.write(chunk)
                left -= len(chunk)
        digest = base64.urlsafe_b64encode(padding.digest()).rstrip(b"=").decode("ascii")
        record = f"{pad_name},sha256={digest},{size}\n".encode() + dict(entries)[record_name]
        archive.writestr(zipfile.ZipInfo(record_name, stamp), record, zipfile.ZIP_DEFLATED)
    partial.replace(wheel)


def big_universe(cache: Path, torch_mb: int, nvidia_mb: int) -> Path:
    """The test universe with padded torch and nvidia wheels, built once per size."""
    root = cache / f"universe-torch{torch_mb}mb-nvidia{nvidia_mb}mb"
    if (root / ".ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    build_torch_universe(root)
    for label in ("cu128", "cu129"):
        for wheel in sorted((root / "whl" / label).glob("torch-*.whl")):
            pad_wheel(wheel, "torch", torch_mb * 1024 * 1024)
        for wheel in sorted((root / "whl" / label).glob("nvidia_fakeblas_cu12-*.whl")):
            pad_wheel(wheel, "nvidia/fakeblas", nvidia_mb * 1024 * 1024)
    (root / ".ready").write_text("")
    return root


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """(CA bundle, server certificate, key) for 127.0.0.1, made with the openssl CLI.

    A CA plus a leaf, not one self-signed certificate: uv (rustls) refuses a CA certificate
    used as a server's own.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    extensions = directory / "leaf.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    paths = {"ca": ca, "ca_key": ca_key, "cert": cert, "key": key, "csr": csr, "ext": extensions}
    q = {name: shlex.quote(str(path)) for name, path in paths.items()}
    for command in (
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -keyout {q['ca_key']} -out {q['ca']}"
        " -subj '/CN=poetry-torch bench CA' -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign",
        f"req -newkey rsa:2048 -nodes -keyout {q['key']} -out {q['csr']} -subj /CN=127.0.0.1",
        f"x509 -req -in {q['csr']} -CA {q['ca']} -CAkey {q['ca_key']} -CAcreateserial -days 2"
        f" -out {q['cert']} -extfile {q['ext']}",
    ):
        subprocess.run(["openssl", *shlex.split(command)], check=True, capture_output=True)
    return ca, cert, key


@contextlib.contextmanager
def immutable_files() -> Iterator[None]:
    """Serve wheel files with ``Cache-Control: max-age=31536000, immutable``, as PyPI does."""
    original = index_server._Handler._send

    def send(
        self: index_server._Handler,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        if content_type == "application/octet-stream":
            headers = {**(headers or {}), "Cache-Control": "max-age=31536000, immutable"}
        original(self, status, body, content_type, headers)

    index_server._Handler._send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        index_server._Handler._send = original  # type: ignore[method-assign]


Samples = dict[str, list[float]]


# The two builds a round switches between: (label, `poetry torch install` arguments).
CUDA_PAIR: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cu129", ("--cuda", "12.9")),
    ("cu128", ("--cuda", "12.8")),
)


def measure(
    binary: Path,
    root: Path,
    cache: Path,
    uv: str,
    rounds: int,
    *,
    https: bool,
    pair: tuple[tuple[str, tuple[str, ...]], ...] = CUDA_PAIR,
    tool_table: str = "",
) -> tuple[Samples, Samples]:
    """Seconds and MB served per switch, keyed ``"pip -> cu129"`` etc.  ``tool_table`` is
    appended to both projects' pyproject.toml (a ``[tool.poetry-torch]`` table)."""
    times: Samples = {}
    served: Samples = {}
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-switch-")))
        server = IndexServer(root)
        scheme = "http"
        trust: dict[str, str] = {}
        if https:
            stack.enter_context(immutable_files())
            ca, cert, private_key = make_tls(work / "tls")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, private_key)
            # The test server has no TLS switch; wrapping its listening socket is enough.
            server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
            scheme = "https"
            trust = {"PIP_CERT": str(ca), "SSL_CERT_FILE": str(ca), "REQUESTS_CA_BUNDLE": str(ca)}
        stack.enter_context(server)
        base = server.base.replace("http://", f"{scheme}://", 1)
        pypi = server.pypi_url.replace("http://", f"{scheme}://", 1)
        env = isolated_env(work / "home", index_base=base, pycache=cache / "pycache")
        env.update(trust)
        uv_alone_on_path(env, work, uv)
        projects = {name: make_project(work / name, pypi) for name in ("pip", "uv")}
        for project in projects.values():
            with (project / "pyproject.toml").open("a", encoding="utf-8") as handle:
                handle.write(tool_table)

        def switch(name: str, variant: tuple[str, ...]) -> None:
            args = ("torch", "install", *variant, "--installer", name)
            poetry(binary, projects[name], env, *args)

        for name in projects:
            switch(name, pair[-1][1])
        for index in range(1 + rounds):
            for position, (label, variant) in enumerate(pair):
                order = ["pip", "uv"] if (index + position) % 2 == 0 else ["uv", "pip"]
                for name in order:
                    server.clear_log()
                    seconds = timed(functools.partial(switch, name, variant))
                    if index > 0:  # round 0 warms the caches
                        key = f"{name} -> {label}"
                        times.setdefault(key, []).append(seconds)
                        served.setdefault(key, []).append(server.bytes_for("/whl/") / 1e6)
    return times, served


def report(
    title: str,
    times: Samples,
    served: Samples,
    rounds: int,
    labels: tuple[str, ...] = ("cu129", "cu128"),
) -> None:
    out(f"\n{title}: `poetry torch install --cuda X --installer Y`, median of {rounds} rounds")
    for key in sorted(times):
        values = times[key]
        out(
            f"  {key:<12} {median(values):6.2f} s  (range {min(values):.2f}-{max(values):.2f})"
            f"  {median(served[key]):7.1f} MB from the index"
        )
    for label in labels:
        ratio = median(times[f"pip -> {label}"]) / median(times[f"uv -> {label}"])
        out(f"  pip/uv -> {label}: {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--rounds", type=int, default=5)
    parser.add_argument("--torch-mb", type=int, default=64)
    parser.add_argument("--nvidia-mb", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="poetry venv, wheels")
    parser.add_argument("--scheme", choices=("both", "https", "http"), default="both")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    uv = find_uv()
    if uv is None:
        out("uv not found (on PATH or as the uv package): `.venv/bin/pip install uv`")
        return 2
    binary = poetry_bin(cache)
    root = big_universe(cache, args.torch_mb, args.nvidia_mb)
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    out(f"machine: {machine()}")
    out(f"poetry:  {poetry_version(binary)}; {version.stdout.strip()} ({uv})")
    out(f"wheels:  torch +{args.torch_mb} MB, nvidia-fakeblas-cu12 +{args.nvidia_mb} MB ({root})")
    for https, title in (
        (True, "https, files served Cache-Control: immutable (as PyPI serves them)"),
        (False, "plain http, no caching headers (the test server as it is)"),
    ):
        if args.scheme != "both" and https != (args.scheme == "https"):
            continue
        times, served = measure(binary, root, cache, uv, args.rounds, https=https)
        report(title, times, served, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
