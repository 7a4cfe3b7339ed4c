from __future__ import annotations

from pathlib import Path

import pytest

from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.env.installed import requires_of


def fake_dist(
    site: Path,
    name: str,
    version: str,
    version_py: str | None = None,
    requires: tuple[str, ...] = (),
) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta + "\nlong description\nRequires-Dist: not-a-header\n")
    (info / "RECORD").write_text("")
    if version_py is not None:
        (site / name).mkdir()
        (site / name / "version.py").write_text(version_py)


@pytest.mark.parametrize(
    ("version", "version_py", "variant", "build"),
    [
        ("2.8.0+cu129", None, Variant("cuda", (12, 9)), "2.8.0+cu129"),
        # PyPI's builds: no label in the dist-info, version.py tells
        (
            "2.11.0",
            "__version__ = '2.11.0+cu130'\ncuda: Optional[str] = '13.0'\n",
            Variant("cuda", (13, 0)),
            "2.11.0+cu130",
        ),
        (
            "2.8.0",
            "__version__ = '2.8.0'\ncuda = '12.8'\nhip = None\n",
            Variant("cuda", (12, 8)),
            "2.8.0",
        ),
        ("2.8.0", "__version__ = '2.8.0'\ncuda = None\nhip = None\n", Variant("cpu"), "2.8.0"),
        ("2.8.0", None, None, "2.8.0"),
    ],
)
def test_variant_without_importing(
    tmp_path: Path, version: str, version_py: str | None, variant: Variant | None, build: str
) -> None:
    fake_dist(tmp_path, "torch", version, version_py)
    dist = installed_distributions([tmp_path])["torch"]
    assert dist.variant() == variant
    assert dist.build_version() == build


def test_scan_order_and_requires(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    fake_dist(
        first, "torch", "2.8.0+cpu", requires=("filelock", "nvidia-x; platform_system == 'Linux'")
    )
    fake_dist(second, "torch", "2.9.0+cu129")
    found = installed_distributions([first, second, tmp_path / "missing"])
    assert found["torch"].version == "2.8.0+cpu"
    assert requires_of(found["torch"]) == ["filelock", "nvidia-x; platform_system == 'Linux'"]
    assert found["torch"].is_complete()
    (found["torch"].dist_info / "RECORD").unlink()
    assert not installed_distributions([first])["torch"].is_complete()


def test_only_name_dash_version_dist_info_folders_count(tmp_path: Path) -> None:
    """The scan reads ``<name>-<version>.dist-info`` (the parts escaped, so neither holds a
    dash) and passes by anything else in site-packages."""
    for folder in (
        "Torch_Vision-0.24.0+cu129.dist-info",  # read: torch-vision 0.24.0+cu129
        "nvidia_cublas_cu12-12.9.1.4.dist-info",
        "torch-2.9.0.dist-info.bak",  # not a dist-info
        "-1.0.dist-info",  # no name
        "triton-.dist-info",  # no version
        "bad-1.0-py3.dist-info",  # a dash in the version
        "torch.dist-info",  # no dash at all
        "torchaudio-2.9.0.egg-info",
    ):
        (tmp_path / folder).mkdir()
    found = installed_distributions([tmp_path])
    assert {name: dist.version for name, dist in found.items()} == {
        "torch-vision": "0.24.0+cu129",
        "nvidia-cublas-cu12": "12.9.1.4",
    }
