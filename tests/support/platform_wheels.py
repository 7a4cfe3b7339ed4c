"""PyTorch-style indexes whose wheels carry real platform tags, for resolving foreign platforms.

``tests.support.wheels`` builds ``py3-none-any`` stand-ins, which install anywhere and so cannot
tell whether a resolver honours ``--python-platform``/``--python-version``.  The indexes here are
laid out like download.pytorch.org's (``root/whl/<label>/``, served by
``tests.support.index_server``): one tiny wheel per CPython x platform, named as PyTorch names
them, with the environment markers the real torch wheels use:

- ``whl/cu129``: torch 2.9.0+cu129, torchvision 0.24.0+cu129, torchaudio 2.9.0+cu129 for
  cp310-cp313 x {manylinux_2_28_x86_64, manylinux_2_28_aarch64, win_amd64}; torch requires
  ``nvidia-fakeblas-cu12==12.9.1; platform_system == "Linux" and platform_machine == "x86_64"``
  (published only as ``py3-none-manylinux_2_28_x86_64``), ``fake-filelock>=3`` and
  ``fake-setuptools; python_version >= "3.12"`` (the real torch 2.9 asks for setuptools on 3.12+).
- ``whl/cu128``: the same family +cu128 for Linux x86_64 and aarch64 only, nvidia-fakeblas-cu12
  12.8.4 (x86_64 only, by marker).
- ``whl/cpu``: +cpu for Linux x86_64/aarch64 and Windows, no nvidia dependency, and macOS arm64
  wheels spelled as download.pytorch.org spells them: ``torch-2.9.0-cp312-none-macosx_11_0_arm64
  .whl`` (no label, abi ``none``; torchvision/torchaudio keep their ``cp312`` abi), whose
  ``version.py`` says ``2.9.0`` as the real macOS builds' does.

Every torch-family wheel says ``Requires-Python: >=3.10`` (torch 2.9's).  Every index also serves
the pure dependencies (``fake-filelock``, ``fake-setuptools``): a resolver given ``--index-url``
for one PyTorch index alone finds the whole closure there, as it does on download.pytorch.org.
``root/pypi`` (served as ``/pypi/simple/``) is the PyPI stand-in with the same pure dependencies,
where Poetry's solver finds them: the configured torch's own requirements take part in its solve
(issue 22 item 2). It is not in ``Universe.wheels``, which maps the PyTorch indexes only.
``publish_newer`` adds the torch 2.9.1 family to one index afterwards.  Rebuilding gives
identical bytes (see ``tests.support.wheels``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.record import replace
from tests.support.wheels import Universe
from tests.support.wheels import _cuda_of
from tests.support.wheels import _init_py
from tests.support.wheels import _version_py
from tests.support.wheels import build_wheel


if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

PYTHONS = ("310", "311", "312", "313")
LINUX_X86_64 = "manylinux_2_28_x86_64"
LINUX_AARCH64 = "manylinux_2_28_aarch64"
WINDOWS = "win_amd64"
MACOS_ARM64 = "macosx_11_0_arm64"
# label -> the platforms PyTorch publishes that variant for
PLATFORMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "cu129": (LINUX_X86_64, LINUX_AARCH64, WINDOWS),
        "cu128": (LINUX_X86_64, LINUX_AARCH64),
        "cpu": (LINUX_X86_64, LINUX_AARCH64, WINDOWS, MACOS_ARM64),
    }
)
PLATFORM_INDEXES = tuple(PLATFORMS)
# label -> the fake CUDA runtime its torch pins, on Linux x86_64 only (as the real ones do)
NVIDIA_PINS: Mapping[str, str] = MappingProxyType({"cu129": "12.9.1", "cu128": "12.8.4"})
NVIDIA = "nvidia-fakeblas-cu12"
NVIDIA_MARKER = 'platform_system == "Linux" and platform_machine == "x86_64"'
# torch -> (torchvision, torchaudio) of that release
RELEASES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"2.9.0": ("0.24.0", "2.9.0"), "2.9.1": ("0.24.1", "2.9.1")}
)
TORCH = "2.9.0"
NEWER_TORCH = "2.9.1"
REQUIRES_PYTHON = ">=3.10"
# (project, version, how torch requires it); each is py3-none-any on every index
PURE_DEPENDENCIES = (
    ("fake-filelock", "3.20.0", "fake-filelock>=3"),
    ("fake-setuptools", "80.9.0", 'fake-setuptools; python_version >= "3.12"'),
)


def torch_requires(label: str) -> list[str]:
    """torch's Requires-Dist on the ``label`` index."""
    requires = [requirement for _, _, requirement in PURE_DEPENDENCIES]
    pin = NVIDIA_PINS.get(label)
    if pin is not None:
        requires.insert(0, f"{NVIDIA}=={pin}; {NVIDIA_MARKER}")
    return requires


def wheel_tag(package: str, python: str, platform: str) -> str:
    """``cp312-cp312-manylinux_2_28_x86_64``; macOS torch is ``cp312-none-macosx_11_0_arm64``."""
    abi = "none" if platform == MACOS_ARM64 and package == "torch" else f"cp{python}"
    return f"cp{python}-{abi}-{platform}"


def published_version(version: str, label: str, platform: str) -> str:
    """The version a wheel's name and metadata carry: macOS builds have no local label."""
    return version if platform == MACOS_ARM64 else f"{version}+{label}"


def _family_wheel(
    dest: Path, package: str, version: str, label: str, platform: str, python: str
) -> Path:
    """One torch/torchvision/torchaudio wheel whose ``version.py`` reports what the real build's
    does (``2.9.0+cu129`` and cuda ``12.9``; ``2.9.0`` on macOS)."""
    torch = version if package == "torch" else _torch_of(package, version)
    requires = torch_requires(label) if package == "torch" else [f"torch=={torch}"]
    full = published_version(version, label, platform)
    files = {
        f"{package}/__init__.py": _init_py(package),
        f"{package}/version.py": _version_py(full, _cuda_of(label)),
    }
    return build_wheel(
        dest,
        package,
        full,
        requires=requires,
        files=files,
        tag=wheel_tag(package, python, platform),
        requires_python=REQUIRES_PYTHON,
    )


def _torch_of(package: str, version: str) -> str:
    position = 0 if package == "torchvision" else 1
    return next(torch for torch, pair in RELEASES.items() if pair[position] == version)


def _release(dest: Path, label: str, torch: str) -> list[Path]:
    vision, audio = RELEASES[torch]
    return [
        _family_wheel(dest, package, version, label, platform, python)
        for package, version in (("torch", torch), ("torchvision", vision), ("torchaudio", audio))
        for platform in PLATFORMS[label]
        for python in PYTHONS
    ]


def _index(root: Path, label: str) -> list[Path]:
    dest = root / "whl" / label
    wheels = _release(dest, label, TORCH)
    pin = NVIDIA_PINS.get(label)
    if pin is not None:
        # Real nvidia-* runtimes install into the shared ``nvidia`` namespace package.
        files = {"nvidia/fakeblas/__init__.py": f'__version__ = "{pin}"\n'}
        wheels.append(build_wheel(dest, NVIDIA, pin, files=files, tag=f"py3-none-{LINUX_X86_64}"))
    wheels += [build_wheel(dest, name, version) for name, version, _ in PURE_DEPENDENCIES]
    return wheels


def build_platform_universe(root: Path) -> Universe:
    """``root/whl/{cu129,cu128,cpu}`` as the module docstring describes; identical bytes on every
    rebuild.  ``Universe.wheels`` maps each label to its wheels."""
    wheels = {label: tuple(_index(root, label)) for label in PLATFORM_INDEXES}
    for name, version, _ in PURE_DEPENDENCIES:
        build_wheel(root / "pypi", name, version)
    return Universe(root=root, wheels=MappingProxyType(wheels))


def publish_newer(universe: Universe, label: str = "cu128") -> Universe:
    """Add the torch 2.9.1 family (torchvision 0.24.1, torchaudio 2.9.1) to ``label``'s index,
    for every platform and Python that index serves; the universe with those wheels added."""
    added = _release(universe.index_dir(label), label, NEWER_TORCH)
    wheels = dict(universe.wheels)
    wheels[label] = tuple(sorted({*wheels[label], *added}))
    return replace(universe, wheels=MappingProxyType(wheels))


def platform_wheel(
    universe: Universe,
    label: str,
    package: str,
    python: str,
    platform: str,
    version: str | None = None,
) -> Path:
    """The one wheel of ``package`` (default: the 2.9.0 release) for ``cpXY`` on ``platform``."""
    from tests.support.wheels import escape_name

    if version is None:
        vision, audio = RELEASES[TORCH]
        version = {"torch": TORCH, "torchvision": vision, "torchaudio": audio}[package]
    name = (
        f"{escape_name(package)}-{published_version(version, label, platform)}-"
        f"{wheel_tag(package, python, platform)}.whl"
    )
    path = universe.index_dir(label) / name
    if path not in universe.wheels[label]:
        raise LookupError(f"no {name} in {label}")
    return path
