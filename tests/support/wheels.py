"""Small, deterministic wheels that look like PyTorch's, and the index trees that hold them.

The wheels are real: pip installs them, Poetry reads their metadata. They are byte-for-byte
reproducible (fixed zip timestamps and permissions, sorted entries), so their sha256 never
changes between runs and a hash in a lock file or a test stays valid.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile

from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Sequence
    from pathlib import Path

# The earliest timestamp a zip file can hold; any fixed value makes the archive reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_GENERATOR = "poetry-torch-plugin-tests (1.0)"

# The PyTorch-style indexes under ``whl/``; the last one holds only foreign-platform wheels.
WHL_INDEXES = ("cu129", "cu128", "cpu", "cu126")
PYPI_INDEX = "pypi"


def escape_name(name: str) -> str:
    """The distribution name as a wheel filename and ``.dist-info`` directory spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def normalize_name(name: str) -> str:
    """The PEP 503 normalized project name (``Torch_Vision`` -> ``torch-vision``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_digest(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode('ascii')}"


def _metadata(
    name: str,
    version: str,
    requires: Sequence[str],
    requires_python: str | None,
    extras: Sequence[str] = (),
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: A tiny stand-in for {name}, built by the tests")
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in extras)
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires)
    return "\n".join(lines) + "\n\n"


def _wheel_file(tag: str) -> str:
    lines = ["Wheel-Version: 1.0", f"Generator: {_GENERATOR}", "Root-Is-Purelib: true"]
    lines.append(f"Tag: {tag}")
    return "\n".join(lines) + "\n"


def _write_entry(archive: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    info.create_system = 3  # Unix, so the permission bits above are honoured
    archive.writestr(info, data)


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    padding: int = 0,
    extras: Sequence[str] = (),
) -> Path:
    """Write ``{name}-{version}-{tag}.whl`` into ``dest_dir`` and return its path.

    ``padding`` adds that many incompressible (but reproducible) bytes, for a wheel big
    enough that pip draws a progress bar for it or that a download takes measurable time.

    ``files`` maps archive paths (``"torch/version.py"``) to their text; when omitted the
    wheel holds one module named after the project. ``version`` is used verbatim, so a
    local label (``2.8.0+cu129``) stays in the filename exactly as PyTorch's indexes spell it.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    escaped = escape_name(name)
    dist_info = f"{escaped}-{version}.dist-info"
    if files is None:
        files = {f"{escaped}/__init__.py": f'__version__ = "{version}"\n'}
    entries: list[tuple[str, bytes]] = [
        (path, text.encode("utf-8")) for path, text in sorted(files.items())
    ]
    if padding:
        entries.append(
            (f"{escaped}/_padding.bin", hashlib.shake_256(name.encode()).digest(padding))
        )
    entries.append(
        (
            f"{dist_info}/METADATA",
            _metadata(name, version, requires, requires_python, extras).encode(),
        )
    )
    entries.append((f"{dist_info}/WHEEL", _wheel_file(tag).encode()))
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{path},{_record_digest(data)},{len(data)}\n" for path, data in entries)
    entries.append((record_path, f"{record}{record_path},,\n".encode()))

    wheel = dest_dir / f"{escaped}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in entries:
            _write_entry(archive, path, data)
    return wheel


@dataclass(frozen=True)
class Universe:
    """The fixture tree: ``root/whl/<index>/*.whl`` and ``root/pypi/*.whl``.

    ``wheels`` maps an index name (``"cu129"``, ..., ``"pypi"``) to the wheels built into it.
    """

    root: Path
    wheels: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)

    def index_dir(self, index: str) -> Path:
        return self.root / PYPI_INDEX if index == PYPI_INDEX else self.root / "whl" / index

    def wheel(self, index: str, project: str, version: str) -> Path:
        """The one wheel of ``project`` at exactly ``version`` (``"2.8.0+cu129"``) in ``index``."""
        prefix = f"{escape_name(project)}-{version}-"
        matches = [w for w in self.wheels[index] if w.name.startswith(prefix)]
        if len(matches) != 1:
            raise LookupError(f"{len(matches)} wheels of {project} {version} in {index}")
        return matches[0]


def _cuda_of(label: str) -> str | None:
    """``cu129`` -> ``12.9``; ``cpu`` -> None."""
    match = re.fullmatch(r"cu(\d+)(\d)", label)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _version_py(version: str, cuda: str | None) -> str:
    cuda_literal = f'"{cuda}"' if cuda else "None"
    return f'__version__ = "{version}"\ncuda = {cuda_literal}\nhip = None\ngit_version = "fake"\n'


def _init_py(package: str) -> str:
    return (
        f'"""A stand-in for {package}: only its version module is real."""\n'
        f"from {package} import version as version\n"
        f"from {package}.version import __version__ as __version__\n"
    )


def _torch_family_wheel(
    dest: Path,
    package: str,
    version: str,
    build_label: str,
    *,
    requires: Sequence[str],
    published_version: str | None = None,
    tag: str = "py3-none-any",
    padding: int = 0,
) -> Path:
    """A torch/torchvision/torchaudio wheel whose ``version.py`` reports ``build_label``.

    ``published_version`` is the version in the filename and metadata; PyPI's builds publish
    ``2.8.0`` while their ``version.py`` still says ``2.8.0+cu128``.
    """
    full = f"{version}+{build_label}"
    files = {
        f"{package}/__init__.py": _init_py(package),
        f"{package}/version.py": _version_py(full, _cuda_of(build_label)),
    }
    return build_wheel(
        dest,
        package,
        published_version or full,
        requires=requires,
        files=files,
        tag=tag,
        padding=padding,
    )


def _nvidia_wheel(dest: Path, version: str) -> Path:
    # Real nvidia-* runtime wheels install into the shared ``nvidia`` namespace package.
    files = {"nvidia/fakeblas/__init__.py": f'__version__ = "{version}"\n'}
    return build_wheel(dest, "nvidia-fakeblas-cu12", version, files=files)


# label -> the fake CUDA runtime its torch wheels pin (the real ones pin nvidia-cublas-cu12 etc.)
_NVIDIA_PIN = {"cu129": "12.9.1", "cu128": "12.8.4"}
# (torch, torchvision, torchaudio) releases that belong together, as PyTorch publishes them
_RELEASES = {"2.8.0": ("0.23.0", "2.8.0"), "2.9.0": ("0.24.0", "2.9.0")}


def _torch_release(
    dest: Path, torch: str, label: str, *, untagged: bool, nvidia: str | None
) -> list[Path]:
    vision, audio = _RELEASES[torch]
    torch_requires = [f"nvidia-fakeblas-cu12=={nvidia}"] if nvidia else []
    companions = [f"torch=={torch}"]

    def published(version: str) -> str | None:
        return version if untagged else None

    return [
        _torch_family_wheel(
            dest, "torch", torch, label, requires=torch_requires, published_version=published(torch)
        ),
        _torch_family_wheel(
            dest,
            "torchvision",
            vision,
            label,
            requires=companions,
            published_version=published(vision),
        ),
        _torch_family_wheel(
            dest,
            "torchaudio",
            audio,
            label,
            requires=companions,
            published_version=published(audio),
        ),
    ]


def _build_whl_index(root: Path, label: str) -> list[Path]:
    dest = root / "whl" / label
    nvidia = _NVIDIA_PIN.get(label)
    wheels = _torch_release(dest, "2.8.0", label, untagged=False, nvidia=nvidia)
    if label == "cu129":
        wheels += _torch_release(dest, "2.9.0", label, untagged=False, nvidia=nvidia)
    if nvidia:
        wheels.append(_nvidia_wheel(dest, nvidia))
    return wheels


def _build_foreign_index(root: Path, label: str) -> list[Path]:
    """An index whose only wheels are for another platform: nothing installs on Linux/3.11."""
    dest = root / "whl" / label
    tag = "cp39-cp39-win_amd64"
    return [
        _torch_family_wheel(dest, "torch", "2.8.0", label, requires=[], tag=tag),
        _torch_family_wheel(
            dest, "torchvision", "0.23.0", label, requires=["torch==2.8.0"], tag=tag
        ),
        _torch_family_wheel(dest, "torchaudio", "2.8.0", label, requires=["torch==2.8.0"], tag=tag),
    ]


def _build_pypi(root: Path) -> list[Path]:
    """PyPI's stand-in: untagged torch builds (really cu128 inside) and ordinary projects."""
    dest = root / PYPI_INDEX
    nvidia = _NVIDIA_PIN["cu128"]
    wheels: list[Path] = []
    for torch in _RELEASES:
        wheels += _torch_release(dest, torch, "cu128", untagged=True, nvidia=nvidia)
    # Like the real nvidia-* runtimes, every version is on PyPI too: a resolver that takes torch
    # from an explicit PyTorch source still looks for torch's dependencies on the primary one.
    wheels += [_nvidia_wheel(dest, version) for version in sorted(set(_NVIDIA_PIN.values()))]
    wheels.append(build_wheel(dest, "torchmetrics", "1.0.0", requires=["torch>=2.0"]))
    wheels.append(build_wheel(dest, "tinydep", "1.0.0"))
    wheels.append(build_wheel(dest, "tinydep", "1.1.0"))
    wheels.append(build_wheel(dest, "otherlib", "0.1.0", requires=["tinydep>=1.0"]))
    # NVIDIA projects that torch does not pull in, which users depend on directly (issue 16 item
    # 8): the hold-out must not keep them out of poetry.lock.
    nvml = {"pynvml_fake/__init__.py": '__version__ = "12.575.51"\n'}
    wheels.append(build_wheel(dest, "nvidia-ml-py", "12.575.51", files=nvml))
    cuda = {"cuda_fake/__init__.py": '__version__ = "12.9.0"\n'}
    wheels.append(build_wheel(dest, "cuda-python", "12.9.0", files=cuda))
    # cuda-bindings matches the runtime pattern that is held only while nothing says what the
    # configured build pulls in; the fake builds here do not pull it in
    bindings = {"cuda_bindings_fake/__init__.py": '__version__ = "12.9.0"\n'}
    wheels.append(build_wheel(dest, "cuda-bindings", "12.9.0", files=bindings))
    return wheels


def build_torch_universe(root: Path) -> Universe:
    """Build every index of the fixture under ``root``; rebuilding gives identical bytes.

    - ``whl/cu129``: torch 2.8.0 and 2.9.0 (+ torchvision, torchaudio), nvidia-fakeblas-cu12 12.9.1
    - ``whl/cu128``: torch 2.8.0 family, nvidia-fakeblas-cu12 12.8.4
    - ``whl/cpu``: torch 2.8.0 family, no CUDA runtime dependency
    - ``whl/cu126``: torch 2.8.0 family for Windows/CPython 3.9 only
    - ``pypi``: untagged torch 2.8.0/2.9.0 family (cu128 inside), nvidia-fakeblas-cu12 12.8.4
      and 12.9.1, torchmetrics 1.0.0, tinydep 1.0.0/1.1.0, otherlib 0.1.0, nvidia-ml-py
      12.575.51, cuda-python 12.9.0, cuda-bindings 12.9.0
    """
    wheels: dict[str, tuple[Path, ...]] = {}
    *installable, foreign = WHL_INDEXES
    for label in installable:
        wheels[label] = tuple(_build_whl_index(root, label))
    wheels[foreign] = tuple(_build_foreign_index(root, foreign))
    wheels[PYPI_INDEX] = tuple(_build_pypi(root))
    return Universe(root=root, wheels=MappingProxyType(wheels))


def build_padded_cpu_index(dest: Path, padding: int) -> list[Path]:
    """``dest`` as a ``whl/cpu`` index whose torch 2.8.0+cpu wheel carries ``padding`` more
    bytes (torchvision and torchaudio stay small): big enough for progress bars and timings."""
    vision, audio = _RELEASES["2.8.0"]
    companions = ["torch==2.8.0"]
    return [
        _torch_family_wheel(dest, "torch", "2.8.0", "cpu", requires=[], padding=padding),
        _torch_family_wheel(dest, "torchvision", vision, "cpu", requires=companions),
        _torch_family_wheel(dest, "torchaudio", audio, "cpu", requires=companions),
    ]


def write_static_index(source: Path, target: Path) -> Path:
    """A PEP 503 index as plain files (what a wheelhouse copied to a disk looks like).

    ``target/index.html`` lists the projects; ``target/<project>/index.html`` links each wheel
    as ``../<file>#sha256=…``, and the wheels themselves lie in ``target``.  Returns ``target``.
    """
    import hashlib
    import html
    import re
    import shutil

    from urllib.parse import quote

    target.mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(source.glob("*.whl")):
        shutil.copy2(wheel, target / wheel.name)
        name = re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()
        projects.setdefault(name, []).append(wheel)

    def page(title: str, links: list[tuple[str, str]]) -> str:
        anchors = "".join(
            f'<a href="{html.escape(href)}">{html.escape(text)}</a><br/>\n' for href, text in links
        )
        return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n{anchors}</body></html>\n"

    target.joinpath("index.html").write_text(
        page("Simple index", [(f"{name}/", name) for name in sorted(projects)])
    )
    for name, wheels in projects.items():
        links = [
            (f"../{quote(w.name)}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}", w.name)
            for w in wheels
        ]
        (target / name).mkdir(exist_ok=True)
        (target / name / "index.html").write_text(page(f"Links for {name}", links))
    return target


def build_shared_pin_universe(root: Path) -> Universe:
    """Indexes where torch pins a dependency that PyPI has a newer release of (issue 22 item 2).

    - ``whl/cu129``: torch 2.8.0+cu129 requiring ``sharedep==1.0.0``, and sharedep 1.0.0 (as
      PyTorch's index mirrors torch's own dependencies)
    - ``pypi``: sharedep 1.0.0 and 1.1.0, tinydep 1.0.0
    """
    whl = root / "whl" / "cu129"
    pypi = root / PYPI_INDEX
    cuda = (
        _torch_family_wheel(whl, "torch", "2.8.0", "cu129", requires=["sharedep==1.0.0"]),
        build_wheel(whl, "sharedep", "1.0.0"),
    )
    plain = (
        build_wheel(pypi, "sharedep", "1.0.0"),
        build_wheel(pypi, "sharedep", "1.1.0"),
        build_wheel(pypi, "tinydep", "1.0.0"),
    )
    return Universe(root=root, wheels=MappingProxyType({"cu129": cuda, PYPI_INDEX: plain}))


def build_family_universe(root: Path) -> Universe:
    """Indexes shaped like PyTorch's in 2026 for the family's companions (issue 22 item 6).

    - ``whl/cu132``: torch 2.14.0+cu132 and torchvision 0.29.0+cu132 (``torch==2.14.0``), and
      only a legacy torchaudio 2.2.0 pinned to ``torch==2.2.0``, as PyTorch's cu132 page lists
    - ``whl/cu130``: torch 2.14.0+cu130, torchvision 0.29.0+cu130, no torchaudio at all
    - ``whl/cu129``: torch, torchvision and torchaudio 2.8.0+cu129 that pair (``torch==2.8.0``)
    - ``whl/rocm7.14``: torch 2.14.0+rocm7.14 requiring ``rocm[libraries,device-all]==7.14.0``,
      the rocm and rocm-sdk-* packages, torchvision, no torchaudio (issue 22 item 5)
    - ``pypi``: torchaudio 2.11.1, a py3 stable-ABI-shaped wheel that declares no torch
      requirement (it works with every torch >= 2.11), torchaudio 2.2.0 (``torch==2.2.0``),
      tinydep 1.0.0 and torchmetrics 1.0.0 (``torch>=2.0``)
    """
    wheels: dict[str, tuple[Path, ...]] = {}
    for label in ("cu132", "cu130"):
        dest = root / "whl" / label
        built = [
            _torch_family_wheel(dest, "torch", "2.14.0", label, requires=[]),
            _torch_family_wheel(dest, "torchvision", "0.29.0", label, requires=["torch==2.14.0"]),
        ]
        if label == "cu132":
            legacy = {"torchaudio/__init__.py": '__version__ = "2.2.0"\n'}
            built.append(
                build_wheel(dest, "torchaudio", "2.2.0", requires=["torch==2.2.0"], files=legacy)
            )
        wheels[label] = tuple(built)
    dest = root / "whl" / "cu129"
    wheels["cu129"] = tuple(
        _torch_family_wheel(dest, name, version, "cu129", requires=requires)
        for name, version, requires in (
            ("torch", "2.8.0", []),
            ("torchvision", "0.23.0", ["torch==2.8.0"]),
            ("torchaudio", "2.8.0", ["torch==2.8.0"]),
        )
    )
    wheels["rocm7.14"] = tuple(_rocm_714_index(root / "whl" / "rocm7.14"))
    pypi = root / PYPI_INDEX
    audio = {
        "torchaudio/__init__.py": (
            '"""A stand-in for torchaudio 2.11: one wheel for every torch >= 2.11."""\n'
            "from torchaudio.version import __version__ as __version__\n"
        ),
        "torchaudio/version.py": '__version__ = "2.11.1"\n',
    }
    legacy = {"torchaudio/__init__.py": '__version__ = "2.2.0"\n'}
    wheels[PYPI_INDEX] = (
        build_wheel(pypi, "torchaudio", "2.11.1", files=audio, tag="py3-none-any"),
        build_wheel(pypi, "torchaudio", "2.2.0", requires=["torch==2.2.0"], files=legacy),
        build_wheel(pypi, "tinydep", "1.0.0"),
        build_wheel(pypi, "torchmetrics", "1.0.0", requires=["torch>=2.0"]),
    )
    return Universe(root=root, wheels=MappingProxyType(wheels))


# ROCm 7.14's pip packages, as TheRock publishes them beside torch (issue 22 item 5)
_ROCM_SDK = (
    "rocm-sdk-core",
    "rocm-sdk-libraries-gfx94x-dcgpu",
    "rocm-sdk-devices-gfx94x",
    "rocm-sdk-devices-gfx110x",
)


def _rocm_714_index(dest: Path) -> list[Path]:
    """torch 2.14.0+rocm7.14 that bundles no ROCm: it requires ``rocm[libraries,device-all]
    ==7.14.0`` (its version.py names no HIP, so only the rocm packages tell the ROCm version);
    rocm 7.14.0, whose extras pull in the rocm-sdk-* packages; torchvision; no torchaudio."""
    built = [
        _torch_family_wheel(
            dest, "torch", "2.14.0", "rocm7.14", requires=["rocm[libraries,device-all]==7.14.0"]
        ),
        _torch_family_wheel(dest, "torchvision", "0.29.0", "rocm7.14", requires=["torch==2.14.0"]),
        build_wheel(
            dest,
            "rocm",
            "7.14.0",
            extras=("libraries", "device-all"),
            requires=[
                "rocm-sdk-core==7.14.0",
                'rocm-sdk-libraries-gfx94x-dcgpu==7.14.0; extra == "libraries"',
                'rocm-sdk-devices-gfx94x==7.14.0; extra == "device-all"',
                'rocm-sdk-devices-gfx110x==7.14.0; extra == "device-all"',
            ],
        ),
    ]
    for name in _ROCM_SDK:
        module = name.replace("-", "_")
        built.append(
            build_wheel(
                dest, name, "7.14.0", files={f"{module}/__init__.py": '__version__ = "7.14.0"\n'}
            )
        )
    return built
