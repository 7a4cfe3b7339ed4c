"""The live index decides what exists (issue 13 item 2): real Poetry, a local index whose
cu130 lacks torchaudio and whose cu126 has torchaudio only for Windows, a fake H100 machine
whose driver runs every CUDA build of torch 2.11 (cu130, cu128 and cu126, all stable).  The index
writes its pages as download.pytorch.org does in 2026 (``IndexServer(real=True)``): `auto` and
`check --index` read that shape."""

from __future__ import annotations

import json
import re

from typing import TYPE_CHECKING

import pytest

from tests.support.project import Project
from tests.support.project import pyproject_text
from tests.support.wheels import _torch_family_wheel


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.support.index_server import IndexServer

pytestmark = [pytest.mark.e2e]

FAMILY = '\n[tool.poetry-torch]\npackages = ["torch==2.11.0", "torchvision", "torchaudio"]\n'
WINDOWS = "cp39-cp39-win_amd64"


@pytest.fixture
def live_index(tmp_path: Path) -> Iterator[IndexServer]:
    from tests.support.index_server import IndexServer

    root = tmp_path / "live-index"
    for label in ("cu130", "cu128", "cu126"):
        dest = root / "whl" / label
        companion = ["torch==2.11.0"]
        _torch_family_wheel(dest, "torch", "2.11.0", label, requires=[])
        _torch_family_wheel(dest, "torchvision", "0.26.0", label, requires=companion)
        if label == "cu130":
            continue  # not published
        tag = WINDOWS if label == "cu126" else "py3-none-any"
        _torch_family_wheel(dest, "torchaudio", "2.11.0", label, requires=companion, tag=tag)
    with IndexServer(root, real=True) as server:
        yield server


@pytest.fixture
def family(project: Project, live_index: IndexServer, tmp_path: Path) -> Project:
    """The demo project, configured for the torch 2.11 family, on the live index, on an H100."""
    project.pyproject.write_text(pyproject_text(_pypi(project), dependencies=()) + FAMILY)
    machine = tmp_path / "h100.json"
    machine.write_text(
        json.dumps(
            {
                "platform": "linux-x86_64",
                "nvidia": {
                    "driver_version": "580.95.05",
                    "cuda_driver_version": [13, 0],
                    "gpus": [{"name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}],
                },
            }
        )
    )
    env = {
        **project.env,
        "POETRY_TORCH_INDEX_BASE": live_index.base,
        "POETRY_TORCH_FAKE_MACHINE": str(machine),
    }
    return Project(project.root, project.poetry, env)


def _pypi(project: Project) -> str:
    found = re.search(r'url = "([^"]+)"', project.pyproject.read_text())
    assert found is not None
    return found.group(1)


def _wheels(server: IndexServer) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith(".whl")]


def test_auto_dry_run_drops_a_variant_the_index_lacks(
    family: Project, live_index: IndexServer
) -> None:
    before = family.pyproject.read_bytes()
    result = family.run("torch", "install", "--cuda", "auto", "--dry-run")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("--cuda auto: cu128 (cu128 is the newest CUDA build of torch 2.11")
    assert "skipped cu130 (not on the index)" in lines[0]
    assert lines[1] == (
        f"--cuda auto: dropped cu130: torchaudio is not published on {live_index.base}/cu130"
    )
    assert "from pytorch_cuda_cu128" in result.stdout
    assert "Would run:" in result.stdout
    assert "cannot reach" not in result.stdout + result.stderr
    assert family.pyproject.read_bytes() == before
    assert _wheels(live_index) == []
    # each page once: every candidate's torch (its release: issue 22 item 1), cu130's
    # torchvision and (missing) torchaudio, cu128's two
    pages = [r.path for r in live_index.requests if "urllib" in r.agent]
    assert len(pages) == len(set(pages)) == 7, pages


def test_explicit_variant_without_a_package_stops_before_any_download(
    family: Project, live_index: IndexServer
) -> None:
    before = family.pyproject.read_bytes()
    result = family.run("torch", "install", "--cuda", "13.0", check=False)
    # the environment is created first (as `poetry install` would), so its tags are the target's
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("Creating virtualenv")
    ]
    assert result.returncode == 1 and len(errors) == 1, result.stdout + result.stderr
    assert errors[0].startswith(
        f"poetry-torch: cu130: torchaudio is not published on {live_index.base}/cu130;"
        " nothing was downloaded"
    ), errors[0]
    assert "--cuda auto" in errors[0]
    windows_only = family.run("torch", "install", "--cuda", "12.6", "--dry-run", check=False)
    assert windows_only.returncode == 1
    assert re.search(
        r"^poetry-torch: cu126: torchaudio has no wheel for cp3\d+ linux_x86_64;",
        windows_only.stderr,
        re.MULTILINE,
    ), windows_only.stderr
    assert family.pyproject.read_bytes() == before
    assert not (family.root / "poetry-torch.lock").exists()
    assert _wheels(live_index) == []


def test_auto_installs_the_next_candidate(family: Project, live_index: IndexServer) -> None:
    result = family.run("torch", "install", "--cuda", "auto")
    assert "--cuda auto: dropped cu130: torchaudio is not published" in result.stdout
    assert family.version_of("torch") == "2.11.0+cu128"
    assert family.version_of("torchaudio") == "2.11.0+cu128"
    assert 'name = "pytorch_cuda_cu128"' in family.pyproject.read_text()
    assert not [w for w in _wheels(live_index) if "/cu130/" in w]
    quick = family.run("torch", "check")  # reads no index
    assert "--cuda auto" not in quick.stdout
    check = family.run("torch", "check", "--index")
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert re.search(
        rf"^\s*ok: {re.escape(live_index.base)}/cu128 has torch, torchvision, torchaudio for"
        r" cp3\d+ linux_x86_64$",
        check.stdout,
        re.MULTILINE,
    ), check.stdout
    # a fresh poetry-torch.lock decides first (issue 22 item 1): the build it pins
    assert "info: --cuda auto picks cu128 (judged for torch 2.11.0 in poetry-torch.lock)" in lines
    # without it, the index: cu130 dropped, as the install did
    (family.root / "poetry-torch.lock").unlink()
    check = family.run("torch", "check", "--index", check=False)
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert (
        f"info: --cuda auto drops cu130: torchaudio is not published on {live_index.base}/cu130"
        in lines
    ), check.stdout
    assert "info: --cuda auto picks cu128 (judged for torch 2.11.0 on the index)" in lines
    report = family.run("torch", "check", "--index", "--json", check=False).stdout
    verdicts = json.loads(report)["verdicts"]
    assert [v["code"] for v in verdicts if v["code"].startswith(("index", "auto"))] == [
        "index-ok",
        "auto-dropped",
        "auto-choice",
    ]


def test_an_unreachable_index_falls_back_to_the_facts_with_a_note(family: Project) -> None:
    offline = {"POETRY_TORCH_INDEX_BASE": "http://127.0.0.1:9/whl"}
    result = family.run("torch", "install", "--cuda", "auto", "--dry-run", extra_env=offline)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("--cuda auto: cu130 (cu130 is the newest CUDA build of torch 2.11")
    assert lines[1].startswith("--cuda auto: cannot reach the index http://127.0.0.1:9/whl/cu130")
    assert lines[1].endswith("judged by the facts alone (facts.json), not the index")
    assert "Would run:" in result.stdout
