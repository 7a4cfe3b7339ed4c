"""bench/gpu_flow.py's repack: installed distributions back into wheels, and the index it serves.

A small stack ("torch" with a console script, a data file and a fake extension, two
dependencies reached through an extra) is installed with pip into a scratch prefix, repacked,
checked file by file against its RECORD, served, and installed again by pip from the served
PyTorch-role index.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import urllib.request
import zipfile

from typing import TYPE_CHECKING

import pytest

from bench import gpu_flow


if TYPE_CHECKING:
    from pathlib import Path


def source_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    extras: tuple[str, ...] = (),
    files: dict[str, bytes] | None = None,
    entry_points: str = "",
) -> Path:
    """A wheel as a build backend writes it (RECORD without hashes, as pip accepts)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    body = {f"{dist}/__init__.py": b"def main() -> None:\n    print('hello')\n", **(files or {})}
    meta = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
    meta += [f"Provides-Extra: {e}\n" for e in extras]
    meta += [f"Requires-Dist: {r}\n" for r in requires]
    body[f"{info}/METADATA"] = "".join(meta).encode()
    body[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if entry_points:
        body[f"{info}/entry_points.txt"] = entry_points.encode()
    path = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, data in body.items():
            archive.writestr(arcname, data)
        archive.writestr(f"{info}/RECORD", "".join(f"{k},,\n" for k in body) + f"{info}/RECORD,,\n")
    return path


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", *args],
        check=True,
        capture_output=True,
    )


def site_of(prefix: Path) -> Path:
    return next(prefix.glob("lib/python*/site-packages"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch prefix holding torch 1.0 (no local label), its closure and a bystander
    (installed once for the module: the tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("stack")
    sources = tmp_path / "sources"
    sources.mkdir()
    wheels = [
        source_wheel(
            sources,
            "torch",
            "1.0",
            requires=(
                "mid-dep[fast]",
                "never-dep; extra == 'unused'",
                "old-dep; python_version < '3'",
            ),
            files={
                "torch/_C.cpython-fake.so": b"\x7fELF" + bytes(range(256)) * 8,
                "torch/version.py": b"__version__ = '1.0+cpu'\ncuda = None\n",
                "torch-1.0.data/data/share/torch-demo/readme.txt": b"beside site-packages\n",
            },
            entry_points="[console_scripts]\ntorchrun = torch:main\n",
        ),
        source_wheel(
            sources, "mid-dep", "2.0", requires=("leaf-dep>=1; extra == 'fast'",), extras=("fast",)
        ),
        source_wheel(sources, "leaf-dep", "3.0"),
        source_wheel(sources, "never-dep", "4.0"),
        source_wheel(sources, "bystander", "5.0"),
    ]
    prefix = tmp_path / "stack"
    pip("--prefix", str(prefix), *map(str, wheels))
    # what pip compiled or marked stays out of the wheels
    torch = site_of(prefix) / "torch"
    (torch / "__pycache__").mkdir(exist_ok=True)
    (torch / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"bytecode")
    return prefix


def test_closure_follows_extras_and_markers(stack: Path) -> None:
    dists, missing = gpu_flow.closure(["torch", "absent-root"], [str(site_of(stack))])
    assert [gpu_flow.normalize(d.metadata["Name"]) for d in dists] == [
        "leaf-dep",
        "mid-dep",
        "torch",
    ]
    assert missing == ["absent-root"]


def record_rows(archive: zipfile.ZipFile) -> dict[str, tuple[str, str]]:
    record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.StringIO(archive.read(record).decode()))
    return {path: (digest, size) for path, digest, size in rows}


def test_repack_writes_a_wheel_whose_record_verifies(stack: Path, tmp_path: Path) -> None:
    site = site_of(stack)
    dists, _ = gpu_flow.closure(["torch"], [str(site)])
    torch = next(d for d in dists if d.metadata["Name"] == "torch")
    dest = tmp_path / "out"
    dest.mkdir()
    report = gpu_flow.RepackReport()
    wheel = gpu_flow.repack(torch, dest, "cpu", report)

    assert wheel.path.name == "torch-1.0+cpu-py3-none-any.whl"  # a local label, as PyTorch's
    assert wheel.relabelled
    assert wheel.sha256 == hashlib.sha256(wheel.path.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel.path) as archive:
        names = archive.namelist()
        rows = record_rows(archive)
        assert set(names) == set(rows)
        for path, (digest, size) in rows.items():
            if path.endswith("/RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}", path
            assert size == str(len(data)), path
        metadata = archive.read("torch-1.0+cpu.dist-info/METADATA").decode()
    assert "\nVersion: 1.0+cpu\n" in metadata
    assert "torch-1.0+cpu.data/data/share/torch-demo/readme.txt" in names
    assert names[-1] == "torch-1.0+cpu.dist-info/RECORD"
    assert not [n for n in names if "__pycache__" in n or n.endswith(("INSTALLER", "REQUESTED"))]
    assert not [n for n in names if n.endswith("/torchrun")]  # the installer writes it again
    assert wheel.metadata.decode() == metadata
    assert report.left_out == []


def test_wheel_tags_are_compressed_in_order() -> None:
    text = (
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "Tag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n"
    )
    assert gpu_flow._wheel_tags(text) == "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
    with pytest.raises(ValueError, match="no Tag"):
        gpu_flow._wheel_tags("Wheel-Version: 1.0\n")


def test_indexes_are_served_and_pip_installs_from_them(stack: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    summary = gpu_flow.build_indexes(root, "cpu", [str(site_of(stack))])
    assert summary["packages"] == ["leaf-dep==3.0", "mid-dep==2.0", "torch==1.0+cpu"]
    assert summary["relabelled"] == ["torch"]
    assert summary["missing"] == []

    with gpu_flow.serve(root) as (base, requests):
        page = urllib.request.urlopen(f"{base}/whl/cpu/torch/").read().decode()
        wheel = root / "whl" / "cpu" / "torch-1.0+cpu-py3-none-any.whl"
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert f'href="/whl/cpu/torch-1.0%2Bcpu-py3-none-any.whl#sha256={digest}"' in page
        assert "data-core-metadata=" in page
        # the PyPI role: the rest of the closure, needs-torch, tinydep and a plain torch only
        pypi = urllib.request.urlopen(f"{base}/pypi/simple/").read().decode()
        for name in ("leaf-dep", "mid-dep", "needs-torch", "tinydep", "torch"):
            assert f'href="{name}/"' in pypi
        pypi_torch = urllib.request.urlopen(f"{base}/pypi/simple/torch/").read().decode()
        assert "torch-2.99.0-py3-none-any.whl" in pypi_torch
        assert "+cpu" not in pypi_torch

        target = tmp_path / "installed"
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"),
                *("--prefix", str(target), "--index-url", f"{base}/whl/cpu/", "torch"),
            ],
            check=True,
            capture_output=True,
        )
    # what pip installed from the repacked wheels is the source stack, byte for byte
    site, new_site = site_of(stack), site_of(target)
    for relative in ("torch/_C.cpython-fake.so", "torch/version.py", "torch/__init__.py"):
        assert (new_site / relative).read_bytes() == (site / relative).read_bytes()
    assert (target / "share" / "torch-demo" / "readme.txt").is_file()
    assert (target / "bin" / "torchrun").is_file()  # written again by pip
    installed = {p.name for p in new_site.glob("*.dist-info")}
    assert installed == {
        "torch-1.0+cpu.dist-info",
        "mid_dep-2.0.dist-info",
        "leaf_dep-3.0.dist-info",
    }
    assert any(path.endswith(".metadata") for path in requests)  # PEP 658 used


def test_a_distribution_without_record_is_refused(stack: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(stack, copy, symlinks=True)
    site = site_of(copy)
    (next(site.glob("leaf_dep-*.dist-info")) / "RECORD").unlink()
    with pytest.raises(ValueError, match=r"leaf-dep 3\.0 has no \.dist-info RECORD"):
        gpu_flow.build_indexes(tmp_path / "index", "cpu", [str(site)])
