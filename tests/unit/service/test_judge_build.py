"""The machine verdict for the exact build (issue 22 item 1): ``judge_build`` judges the release
poetry-torch.lock pins, else the newest the index publishes that the project admits, else the
facts (and says so); ``auto`` takes the newest (release, variant) pair this machine runs."""

from __future__ import annotations

import urllib.parse

from typing import TYPE_CHECKING
from typing import Any

import pytest

from poetry_torch_plugin.core.fit import Exact
from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.index.access import IndexAccess
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import Listing
from poetry_torch_plugin.index.pages import newest_admitted
from poetry_torch_plugin.index.pages import wanted_packages
from poetry_torch_plugin.machine.detect import machine_from_dict
from poetry_torch_plugin.service.choose import LiveIndex
from poetry_torch_plugin.service.choose import judge_build
from tests.unit.index.test_pages_published import CP312_LINUX


if TYPE_CHECKING:
    from pathlib import Path

CU128 = Variant("cuda", (12, 8))
DECLARED = ("torch>=2.8,<2.9",)


def nvidia(cc: tuple[int, int], name: str, driver: str = "580.95.05") -> Any:
    gpu = {"name": name, "compute_capability": list(cc)}
    return machine_from_dict(
        {
            "nvidia": {"driver_version": driver, "cuda_driver_version": [13, 0], "gpus": [gpu]},
            "platform": "linux-x86_64",
        }
    )


H100 = nvidia((9, 0), "NVIDIA H100 80GB HBM3")
GTX_1080_TI = nvidia((6, 1), "NVIDIA GeForce GTX 1080 Ti")
OLD_DRIVER = nvidia((9, 0), "NVIDIA H100 80GB HBM3", driver="520.61.05")


def write_torch_index(root: Path, versions: dict[str, list[str]]) -> str:
    """``root/<variant>/torch/index.html`` linking a cp312 Linux wheel of each version."""
    for variant, found in versions.items():
        folder = root / variant / "torch"
        folder.mkdir(parents=True)
        links = "".join(
            f'<a href="{urllib.parse.quote(name)}#sha256={"0" * 64}">{name}</a>\n'
            for name in (
                f"torch-{version}+{variant}-cp312-cp312-manylinux_2_28_x86_64.whl"
                for version in found
            )
        )
        (folder / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return root.as_uri()


def live(base: str, packages: tuple[str, ...] = DECLARED) -> LiveIndex:
    return LiveIndex(IndexPages(IndexAccess), base, packages, CP312_LINUX)


@pytest.fixture
def torch28(tmp_path: Path) -> str:
    """torch 2.8.0 (and an older 2.7.1) for cu126, cu128 and cu129; 2.9.0 on cu129 too."""
    return write_torch_index(
        tmp_path / "whl",
        {
            "cu126": ["2.7.1", "2.8.0"],
            "cu128": ["2.7.1", "2.8.0"],
            "cu129": ["2.8.0", "2.9.0"],
        },
    )


def test_auto_takes_the_newest_pair_the_index_publishes(torch28: str) -> None:
    verdict = judge_build(H100, (), DECLARED, None, live=live(torch28))
    assert (verdict.variant.index_name, verdict.torch, verdict.by) == ("cu129", "2.8.0", "index")
    assert verdict.reason.startswith("cu129 is the newest CUDA build of torch 2.8.0 on the index")
    assert verdict.judged_by == "torch 2.8.0 on the index"
    assert "2.15" not in verdict.reason


def test_auto_judges_each_release_by_its_own_architectures(torch28: str) -> None:
    # sm_61: torch 2.8's cu128 list (checked) lacks it; cu129's (unchecked) too; cu126 has it
    verdict = judge_build(GTX_1080_TI, (), DECLARED, None, live=live(torch28))
    assert (verdict.variant.index_name, verdict.torch, verdict.by) == ("cu126", "2.8.0", "index")


def test_auto_takes_the_lock_first_and_reads_no_index(torch28: str) -> None:
    index = live(torch28)
    verdict = judge_build(H100, (), DECLARED, None, live=index, locked={"cu128": "2.8.0"})
    assert (verdict.variant.index_name, verdict.by) == ("cu128", "lock")
    assert "torch 2.8.0 in poetry-torch.lock" in verdict.reason
    assert index.pages.read == 0


def test_auto_goes_on_to_the_index_when_no_locked_build_runs_here(torch28: str) -> None:
    index = live(torch28)
    verdict = judge_build(GTX_1080_TI, (), DECLARED, None, live=index, locked={"cu128": "2.8.0"})
    assert (verdict.variant.index_name, verdict.by) == ("cu126", "index")


def test_a_named_package_sets_the_lock_aside(torch28: str) -> None:
    verdict = judge_build(
        H100, ("torch==2.9.0",), DECLARED, None, live=live(torch28), locked={"cu128": "2.8.0"}
    )
    assert verdict.by == "index"


def test_an_explicit_variant_is_refused_for_its_exact_release(torch28: str) -> None:
    verdict = judge_build(
        GTX_1080_TI, (), DECLARED, None, variant=CU128, live=live(torch28), option="--cuda 12.8"
    )
    assert (verdict.torch, verdict.by) == ("2.8.0", "index")
    assert verdict.fit is not None and verdict.fit.refusal is not None
    assert verdict.fit.refusal.startswith(
        "--cuda 12.8 (torch 2.8.0 on the index) cannot run on this machine: GPU 0"
        " (NVIDIA GeForce GTX 1080 Ti, sm_61)"
    )
    assert "(picks cu126 here) or `poetry torch install --cuda 12.6`" in verdict.fit.refusal


def test_a_refusal_no_release_changes_reads_no_index(torch28: str) -> None:
    index = live(torch28)
    verdict = judge_build(OLD_DRIVER, (), DECLARED, None, variant=CU128, live=index)
    assert verdict.fit is not None and verdict.fit.refusal is not None
    assert index.pages.read == 0 and verdict.by == "facts"


def test_an_unreadable_index_falls_back_to_the_facts_and_says_so() -> None:
    index = live("http://127.0.0.1:9/whl")
    verdict = judge_build(GTX_1080_TI, (), DECLARED, None, variant=CU128, live=index)
    assert verdict.by == "facts" and verdict.note is not None
    assert verdict.note.startswith("cannot reach the index http://127.0.0.1:9/whl/cu128")
    assert verdict.note.endswith("judged by the facts alone (facts.json), not the index")
    # the facts judge the newest release the project admits (2.8), not the table's newest
    assert verdict.fit is not None and verdict.fit.refusal is not None
    auto = judge_build(H100, (), DECLARED, None, live=live("http://127.0.0.1:9/whl"))
    assert auto.by == "facts" and auto.note is not None
    assert "torch 2.8" in auto.reason and "2.15" not in auto.reason


def test_the_newest_admitted_release_prefers_a_final_one() -> None:
    files = tuple(
        (f"torch-{v}-cp312-cp312-manylinux_2_28_x86_64.whl", "")
        for v in ("2.8.0+cu129", "2.9.0.dev20250801+cu129", "2.7.1+cu129")
    )
    listing = Listing("torch", "file:///x/torch/", files)
    assert newest_admitted(listing, None, CP312_LINUX) == "2.8.0"
    admits = wanted_packages(["torch<2.8"])["torch"]
    assert newest_admitted(listing, admits, CP312_LINUX) == "2.7.1"
    nightly = wanted_packages(["torch>=2.9.0.dev0"])["torch"]
    assert newest_admitted(listing, nightly, CP312_LINUX) == "2.9.0.dev20250801"


def test_exact_releases_order_the_candidates_by_release_then_variant() -> None:
    exact = Exact({"cu126": "2.9.0", "cu128": "2.8.0", "cu129": "2.8.0"}, "on the index")
    choice = choose(load_facts(), H100, (), DECLARED, exact=exact)
    assert (choice.variant.index_name, choice.torch_version) == ("cu126", "2.9.0")


def test_an_index_with_no_admitted_torch_for_any_gpu_build_says_so(torch28: str) -> None:
    verdict = judge_build(H100, (), ("torch>=3.0",), None, live=live(torch28, ("torch>=3.0",)))
    assert (verdict.variant.index_name, verdict.by) == ("cpu", "index")
    assert verdict.reason == "the index publishes no torch>=3.0 for this machine's GPU builds"
    # torch>=3.0 is newer than the facts: the candidates are the newest release's (2.15)
    assert [line.split(":", 1)[0] for line in verdict.dropped] == ["cu132", "cu130"]
    assert all("torch is not published on" in line for line in verdict.dropped)


def test_the_refusal_names_what_auto_picks_by_the_same_rule(tmp_path: Path) -> None:
    """The index has no cu126 torch 2.8: the build to run instead is judged on the index too
    (cpu here), not taken from the facts (which would name cu126)."""
    base = write_torch_index(tmp_path / "whl", {"cu128": ["2.8.0"], "cu129": ["2.8.0"]})
    verdict = judge_build(
        GTX_1080_TI, (), DECLARED, None, variant=CU128, live=live(base), option="--cuda 12.8"
    )
    assert verdict.fit is not None and verdict.fit.refusal is not None
    assert "(picks cpu here) or `poetry torch install --cpu`" in verdict.fit.refusal
    assert "cu126" not in verdict.fit.refusal
