"""The platform-tagged fake indexes (``tests.support.platform_wheels``): names, tags and markers
as download.pytorch.org publishes them, and the fixtures that serve them."""

from __future__ import annotations

import http.client
import os
import platform
import re
import subprocess
import sys
import zipfile

from email.parser import HeaderParser
from typing import TYPE_CHECKING

import pytest

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

from tests.support.platform_wheels import LINUX_AARCH64
from tests.support.platform_wheels import LINUX_X86_64
from tests.support.platform_wheels import MACOS_ARM64
from tests.support.platform_wheels import PLATFORMS
from tests.support.platform_wheels import PYTHONS
from tests.support.platform_wheels import WINDOWS
from tests.support.platform_wheels import build_platform_universe
from tests.support.platform_wheels import platform_wheel
from tests.support.platform_wheels import publish_newer


if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.fixtures import PlatformIndex
    from tests.support.wheels import Universe

FAMILY = (("torch", "2.9.0"), ("torchvision", "0.24.0"), ("torchaudio", "2.9.0"))
# the environment markers of each platform, as a machine of that kind reports them
ENVIRONMENTS = {
    LINUX_X86_64: {"platform_system": "Linux", "platform_machine": "x86_64", "sys_platform": "linux"},
    LINUX_AARCH64: {"platform_system": "Linux", "platform_machine": "aarch64", "sys_platform": "linux"},
    WINDOWS: {"platform_system": "Windows", "platform_machine": "AMD64", "sys_platform": "win32"},
    MACOS_ARM64: {"platform_system": "Darwin", "platform_machine": "arm64", "sys_platform": "darwin"},
}  # fmt: skip


def read(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member).decode()


def metadata(wheel: Path) -> tuple[str, list[str], str | None]:
    """(Version, Requires-Dist lines, Requires-Python) of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(archive.read(name).decode())
    return headers["Version"], headers.get_all("Requires-Dist") or [], headers["Requires-Python"]


def names(universe: Universe, label: str) -> set[str]:
    return {wheel.name for wheel in universe.wheels[label]}


def test_each_index_has_one_wheel_per_python_and_platform(platform_universe: Universe) -> None:
    assert set(platform_universe.wheels) == {"cu129", "cu128", "cpu"}
    for label, platforms in PLATFORMS.items():
        family = {n for n in names(platform_universe, label) if n.startswith("torch")}
        assert len(family) == 3 * len(PYTHONS) * len(platforms)
        assert {next(iter(parse_wheel_filename(n)[3])).platform for n in family} == set(platforms)
    cu129 = names(platform_universe, "cu129")
    assert "torch-2.9.0+cu129-cp312-cp312-manylinux_2_28_x86_64.whl" in cu129
    assert "torchvision-0.24.0+cu129-cp310-cp310-manylinux_2_28_aarch64.whl" in cu129
    assert "torchaudio-2.9.0+cu129-cp313-cp313-win_amd64.whl" in cu129
    assert not any("win_amd64" in n or "macosx" in n for n in names(platform_universe, "cu128"))
    cpu = names(platform_universe, "cpu")
    # download.pytorch.org's macOS builds: no +cpu label; torch (only) has abi "none"
    assert "torch-2.9.0-cp312-none-macosx_11_0_arm64.whl" in cpu
    assert "torchvision-0.24.0-cp312-cp312-macosx_11_0_arm64.whl" in cpu
    assert "torch-2.9.0+cpu-cp311-cp311-win_amd64.whl" in cpu
    assert not any(n.startswith("nvidia") for n in cpu)
    for label, pin in (("cu129", "12.9.1"), ("cu128", "12.8.4")):
        nvidia = {n for n in names(platform_universe, label) if n.startswith("nvidia")}
        assert nvidia == {f"nvidia_fakeblas_cu12-{pin}-py3-none-manylinux_2_28_x86_64.whl"}
    for label in PLATFORMS:
        pure = {n for n in names(platform_universe, label) if n.startswith("fake_")}
        assert pure == {
            "fake_filelock-3.20.0-py3-none-any.whl",
            "fake_setuptools-80.9.0-py3-none-any.whl",
        }


def test_wheel_files_agree_with_their_names(platform_universe: Universe) -> None:
    for label, wheels in platform_universe.wheels.items():
        for wheel in wheels:
            name, version, _, tags = parse_wheel_filename(wheel.name)
            (tag,) = tags
            dist_info = f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"
            assert f"Tag: {tag}\n" in read(wheel, f"{dist_info}/WHEEL"), wheel.name
            assert metadata(wheel)[0] == str(version), wheel.name
            if name in ("torch", "torchvision", "torchaudio"):
                assert metadata(wheel)[2] == ">=3.10", wheel.name
                macos = tag.platform == MACOS_ARM64
                assert (version.local is None) is macos, wheel.name
                assert version.local in (None, label), wheel.name


def test_version_py_reports_the_build_as_the_real_ones_do(platform_universe: Universe) -> None:
    def version_py(label: str, package: str, python: str, where: str) -> dict[str, object]:
        wheel = platform_wheel(platform_universe, label, package, python, where)
        namespace: dict[str, object] = {}
        exec(read(wheel, f"{package}/version.py"), namespace)  # our own file
        return namespace

    cu129 = version_py("cu129", "torch", "312", LINUX_AARCH64)
    assert (cu129["__version__"], cu129["cuda"]) == ("2.9.0+cu129", "12.9")
    cu128 = version_py("cu128", "torchvision", "310", LINUX_X86_64)
    assert (cu128["__version__"], cu128["cuda"]) == ("0.24.0+cu128", "12.8")
    cpu = version_py("cpu", "torchaudio", "313", WINDOWS)
    assert (cpu["__version__"], cpu["cuda"]) == ("2.9.0+cpu", None)
    macos = version_py("cpu", "torch", "312", MACOS_ARM64)
    assert (macos["__version__"], macos["cuda"]) == ("2.9.0", None)


def test_torch_needs_the_cuda_runtime_on_linux_x86_64_only(platform_universe: Universe) -> None:
    """The markers are the real torch's: which platform pulls in what is decided by them, so a
    resolver that evaluates them for the wrong machine gets a different closure."""
    for label in PLATFORMS:
        for where in PLATFORMS[label]:
            for python in PYTHONS:
                wheel = platform_wheel(platform_universe, label, "torch", python, where)
                environment = {**ENVIRONMENTS[where], "python_version": f"3{'.'}{python[1:]}"}
                wanted = {
                    Requirement(line).name
                    for line in metadata(wheel)[1]
                    if Requirement(line).marker is None
                    or Marker(str(Requirement(line).marker)).evaluate(environment)
                }
                nvidia = label != "cpu" and where == LINUX_X86_64
                assert ("nvidia-fakeblas-cu12" in wanted) is nvidia, wheel.name
                assert ("fake-setuptools" in wanted) is (python >= "312"), wheel.name
                assert "fake-filelock" in wanted
    torch = platform_wheel(platform_universe, "cu128", "torch", "311", LINUX_AARCH64)
    assert metadata(torch)[1] == [
        'nvidia-fakeblas-cu12==12.8.4; platform_system == "Linux" and platform_machine == "x86_64"',
        "fake-filelock>=3",
        'fake-setuptools; python_version >= "3.12"',
    ]
    vision = platform_wheel(platform_universe, "cpu", "torchvision", "312", MACOS_ARM64)
    assert metadata(vision)[1] == ["torch==2.9.0"]


def test_rebuilding_gives_identical_bytes(tmp_path: Path) -> None:
    first = build_platform_universe(tmp_path / "a")
    second = build_platform_universe(tmp_path / "b")
    for label in PLATFORMS:
        assert [w.name for w in first.wheels[label]] == [w.name for w in second.wheels[label]]
        for one, two in zip(first.wheels[label], second.wheels[label], strict=True):
            assert one.read_bytes() == two.read_bytes(), one.name


def test_publish_newer_adds_one_release_to_one_index(tmp_path: Path) -> None:
    universe = build_platform_universe(tmp_path / "u")
    before = {w: w.read_bytes() for ws in universe.wheels.values() for w in ws}
    newer = publish_newer(universe, "cu128")
    added = names(newer, "cu128") - names(universe, "cu128")
    assert len(added) == 3 * len(PYTHONS) * len(PLATFORMS["cu128"])
    assert "torch-2.9.1+cu128-cp312-cp312-manylinux_2_28_aarch64.whl" in added
    assert "torchvision-0.24.1+cu128-cp312-cp312-manylinux_2_28_aarch64.whl" in added
    assert "torchaudio-2.9.1+cu128-cp310-cp310-manylinux_2_28_x86_64.whl" in added
    vision = platform_wheel(newer, "cu128", "torchvision", "311", LINUX_X86_64, "0.24.1")
    assert metadata(vision)[1] == ["torch==2.9.1"]
    torch = platform_wheel(newer, "cu128", "torch", "311", LINUX_X86_64, "2.9.1")
    assert metadata(torch)[1][0].startswith("nvidia-fakeblas-cu12==12.8.4;")
    assert newer.wheels["cu129"] == universe.wheels["cu129"]
    assert all(path.read_bytes() == data for path, data in before.items())
    assert sorted(p.name for p in (tmp_path / "u" / "whl" / "cu128").iterdir()) == sorted(
        names(newer, "cu128")
    )


# -- the fixtures ------------------------------------------------------------------------------


def get(url: str) -> tuple[int, str]:
    host, _, path = url.removeprefix("http://").partition("/")
    connection = http.client.HTTPConnection(host, timeout=10)
    try:
        connection.request("GET", f"/{path}")
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_platform_index_serves_pep_503_pages_with_metadata(platform_index: PlatformIndex) -> None:
    assert platform_index.base == f"{platform_index.server.url}/whl"
    status, page = get(f"{platform_index.url('cpu')}/torch/")
    assert status == 200
    assert "torch-2.9.0%2Bcpu-cp312-cp312-manylinux_2_28_aarch64.whl#sha256=" in page
    assert "torch-2.9.0-cp312-none-macosx_11_0_arm64.whl#sha256=" in page
    assert 'data-requires-python="&gt;=3.10"' in page
    assert 'data-core-metadata="sha256=' in page
    status, text = get(
        f"{platform_index.url('cu129')}/torch-2.9.0+cu129-cp312-cp312-win_amd64.whl.metadata"
    )
    assert status == 200
    assert "Requires-Dist: nvidia-fakeblas-cu12==12.9.1; platform_system" in text
    status, listing = get(f"{platform_index.url('cu128')}/")
    assert re.findall(r">([^<]+)</a>", listing) == [
        "fake-filelock", "fake-setuptools", "nvidia-fakeblas-cu12", "torch", "torchaudio",
        "torchvision",
    ]  # fmt: skip
    assert [r.path for r in platform_index.server.requests][-1] == "/whl/cu128/"


def test_fresh_platform_index_publishes_apart_from_the_session(
    fresh_platform_index: PlatformIndex, platform_index: PlatformIndex
) -> None:
    assert fresh_platform_index.base != platform_index.base
    fresh_platform_index.publish_newer("cu128")
    assert "torch-2.9.1%2Bcu128-cp311" in get(f"{fresh_platform_index.url('cu128')}/torch/")[1]
    assert "2.9.1" not in get(f"{platform_index.url('cu128')}/torch/")[1]
    assert "2.9.1" not in get(f"{fresh_platform_index.url('cu129')}/torch/")[1]


@pytest.mark.skipif(
    sys.platform != "linux"
    or platform.machine() not in ("x86_64", "aarch64")
    or f"{sys.version_info[0]}{sys.version_info[1]}" not in PYTHONS,
    reason="the fake wheels are for CPython 3.10-3.13 on Linux x86_64/aarch64",
)
def test_pip_installs_the_build_for_this_machine(
    platform_index: PlatformIndex, tmp_path: Path
) -> None:
    """The wheels are real: pip picks this interpreter's one, and its version.py says the
    build, as ``poetry torch`` verification reads it after an install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    target = tmp_path / "target"
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir"]
    command += ["--disable-pip-version-check", "--target", str(target)]
    command += ["--index-url", platform_index.url("cu129"), "torch==2.9.0", "torchvision"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    code = "import torch, torchvision; print(torch.__version__, torch.version.cuda, torchvision.__version__)"
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["2.9.0+cu129", "12.9", "0.24.0+cu129"]
    assert (target / "nvidia" / "fakeblas").is_dir() is (platform.machine() == "x86_64")
    assert (target / "fake_filelock-3.20.0.dist-info").is_dir()
