"""verify() reads the build from the installed files too: a torch whose label names the right
variant but whose version.py says another CUDA/HIP (or none) is wrong (issue 12, item 17)."""

from __future__ import annotations

import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import XPU
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.service.verify import verify
from tests.unit.env.test_installed import fake_dist


CU129 = Variant("cuda", (12, 9))
SETTINGS = read_config(
    {
        "tool": {
            "poetry": {
                "source": [
                    {
                        "name": "pytorch_cuda_cu129",
                        "url": "https://download.pytorch.org/whl/cu129",
                        "priority": "explicit",
                    }
                ]
            },
            "poetry-torch": {"packages": ["torch"]},
        }
    }
)


def _verify(tmp_path: Path, version: str, version_py: str, variant: Variant) -> list[str]:
    site = tmp_path / "site"
    fake_dist(site, "torch", version, version_py)
    target = TargetEnv(tmp_path, Path(sys.executable), (site,))
    return [problem.text for problem in verify(SETTINGS, target, variant)]


@pytest.mark.parametrize(
    ("version", "version_py", "variant"),
    [
        ("2.8.0+cu129", "__version__ = '2.8.0+cu129'\ncuda: Optional[str] = '12.9'\n", CU129),
        ("2.8.0+cpu", "__version__ = '2.8.0+cpu'\ncuda = None\nhip = None\n", CPU),
        ("2.8.0+xpu", "__version__ = '2.8.0+xpu'\ncuda = None\nhip = None\n", XPU),
        # ROCm 6.2.4's builds say hip 6.2.x
        (
            "2.8.0+rocm6.2.4",
            "__version__ = '2.8.0+rocm6.2.4'\ncuda = None\nhip = '6.2.41134-65d174c3e'\n",
            Variant("rocm", (6, 2, 4)),
        ),
        # a version.py without cuda/hip (an old build): the label decides
        ("2.8.0+cu129", "__version__ = '2.8.0+cu129'\n", CU129),
    ],
)
def test_builds_whose_files_match_their_label_pass(
    tmp_path: Path, version: str, version_py: str, variant: Variant
) -> None:
    assert _verify(tmp_path, version, version_py, variant) == []


def test_a_cu129_label_on_cuda_12_8_files_is_caught(tmp_path: Path) -> None:
    problems = _verify(
        tmp_path, "2.8.0+cu129", "__version__ = '2.8.0+cu129'\ncuda = '12.8'\nhip = None\n", CU129
    )
    assert problems == [
        "torch 2.8.0+cu129 is labelled cu129 but its files were built for CUDA 12.8"
        " (torch.version.cuda), not cu129"
    ]


def test_a_cuda_label_on_cpu_files_is_caught(tmp_path: Path) -> None:
    problems = _verify(
        tmp_path, "2.8.0+cu129", "__version__ = '2.8.0+cu129'\ncuda = None\nhip = None\n", CU129
    )
    assert len(problems) == 1
    assert "built for no GPU runtime (torch.version.cuda and hip are None)" in problems[0]


def test_companions_left_are_those_the_new_torch_leaves_behind(tmp_path: Path) -> None:
    """``companions_left``: the verdict check would give once ``locked`` is installed (issue 23,
    item 1): a companion pinned to the old torch, or built for another variant, and not in the
    transaction; one the transaction installs is never left behind."""
    from poetry_torch_plugin.env.installed import installed_distributions
    from poetry_torch_plugin.service.verify import companions_left
    from tests.support.check_demo import write_dist

    site = tmp_path / "site"
    write_dist(site, "torch", "2.8.0+cu128")
    write_dist(site, "torchvision", "0.23.0+cu128", requires=["torch==2.8.0"])
    write_dist(site, "torchaudio", "2.8.0+cu128", requires=["torch==2.8.0"])
    installed = installed_distributions([site])

    left = companions_left(installed, {"torch": "2.9.0+cu129"})
    assert [p.name for p in left] == ["torchvision", "torchaudio"]
    assert (
        left[0].text == "torchvision 0.23.0+cu128 requires torch==2.8.0, but torch is 2.9.0+cu129"
    )
    # the same release for another variant: the pin holds, the build label does not
    other = companions_left(installed, {"torch": "2.8.0+cu129"})
    assert [p.text for p in other][1] == (
        "torchaudio 2.8.0+cu128 is a cu128 build, but torch 2.8.0+cu129 is a cu129 build"
    )
    taken = {"torch": "2.9.0+cu129", "torchvision": "0.24.0+cu129", "torchaudio": "2.9.0+cu129"}
    assert companions_left(installed, taken) == []
    assert companions_left(installed, {"torch": "2.8.0+cu128"}) == []
    assert companions_left(installed, {"torchvision": "0.24.0+cu129"}) == []  # no torch in it


ROCM714 = Variant("rocm", (7, 14))
NO_RUNTIME = "__version__ = '2.14.0+rocm7.14'\ncuda = None\nhip = None\n"


@pytest.mark.parametrize(("rocm", "problems"), [("7.14.0", 0), ("7.13.0", 1)])
def test_rocm_714_reads_the_rocm_version_from_its_pip_package(
    tmp_path: Path, rocm: str, problems: int
) -> None:
    """ROCm 7.14 builds bundle no ROCm: the ``rocm`` package in the environment says which
    ROCm the build runs on (issue 22 item 5), not torch's version.py."""
    site = tmp_path / "site"
    fake_dist(site, "torch", "2.14.0+rocm7.14", NO_RUNTIME)
    fake_dist(site, "rocm", rocm)
    target = TargetEnv(tmp_path, Path(sys.executable), (site,))
    found = [problem.text for problem in verify(SETTINGS, target, ROCM714)]
    assert len(found) == problems, found
    if problems:
        assert "ROCm 7.13" in found[0]
