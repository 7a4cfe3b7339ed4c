"""bench/gpu_flow.py end to end on a real CPU torch stack: what the GPU machine runs, here.

The real torch CPU wheel (``/opt/wheels/…``, or POETRY_TORCH_CPU_TORCH_WHEEL) is installed into
a scratch venv (kept under POETRY_TORCH_TEST_VENVS when set), Poetry 2.5.1 and uv come as wheels
(POETRY_TORCH_FLOW_WHEELS, else ``pip download`` through pip's own configuration, kept beside
the venv) with this checkout's plugin wheel, and the script runs its whole flow in CPU mode.
It takes minutes (a 700 MB install, then a dozen Poetry commands), so it runs only when selected:
``pytest tests/e2e/test_gpu_flow_cpu.py -m gpu_flow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from pathlib import Path

import pytest


pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.gpu_flow]

REPO = Path(__file__).resolve().parents[2]
CPU_TORCH = Path(
    os.environ.get(
        "POETRY_TORCH_CPU_TORCH_WHEEL",
        "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    )
)
POETRY = "2.5.1"
POETRY_COMMANDS = (
    "poetry lock",
    "poetry install",
    "poetry update",
    "poetry add tinydep",
    "poetry sync",
)


def _skip_unless_selected(config: pytest.Config) -> None:
    # called first by the session fixtures too: they would otherwise install the stack before
    # a function-scoped skip is reached
    if "gpu_flow" not in (config.getoption("markexpr") or ""):
        pytest.skip("minutes of pip and Poetry on the real torch wheel: select with -m gpu_flow")


@pytest.fixture(autouse=True)
def _only_when_selected(request: pytest.FixtureRequest) -> None:
    _skip_unless_selected(request.config)


def _cache(factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("POETRY_TORCH_TEST_VENVS")
    return Path(shared) if shared else factory.getbasetemp()


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


@pytest.fixture(scope="session")
def cpu_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv holding the real torch CPU wheel and its dependencies (pip's own
    configuration finds them; this runs before the per-test isolation)."""
    _skip_unless_selected(request.config)
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    if not CPU_TORCH.is_file():
        pytest.skip(f"no real torch CPU wheel at {CPU_TORCH} (POETRY_TORCH_CPU_TORCH_WHEEL)")
    if f"-{tag}-" not in CPU_TORCH.name:
        pytest.skip(f"{CPU_TORCH.name} is not for this Python ({tag})")
    venv = _cache(tmp_path_factory) / f"gpu-flow-stack-{CPU_TORCH.stem}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", str(CPU_TORCH)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"pip cannot install {CPU_TORCH.name} here: {_last_line(result)}")
        (venv / ".ready").write_text(CPU_TORCH.name)
    return python


@pytest.fixture(scope="session")
def flow_wheels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Poetry, its dependencies and uv as wheels for this Python, plus this checkout's plugin."""
    _skip_unless_selected(request.config)
    given = os.environ.get("POETRY_TORCH_FLOW_WHEELS")
    source = Path(given) if given else _cache(tmp_path_factory) / f"gpu-flow-wheels-{POETRY}"
    if not any(source.glob(f"poetry-{POETRY}-*.whl")) and not given:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:"),
                *("-d", str(source), f"poetry=={POETRY}", "uv"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"no Poetry {POETRY} wheels without network: {_last_line(result)}")
    if not any(source.glob(f"poetry-{POETRY}-*.whl")):
        pytest.skip(f"no poetry-{POETRY} wheel in {source} (POETRY_TORCH_FLOW_WHEELS)")
    wheels = tmp_path_factory.mktemp("flow-wheels")
    for wheel in source.glob("*.whl"):
        shutil.copy2(wheel, wheels)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from poetry.core.masonry.api import build_wheel; build_wheel(sys.argv[1])",
            str(wheels),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return wheels


def test_the_whole_flow_on_the_cpu_stack(
    cpu_stack: Path, flow_wheels: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            *(sys.executable, str(REPO / "bench" / "gpu_flow.py"), "--wheels", str(flow_wheels)),
            *("--python", str(cpu_stack), "--out", str(out), "--pairs", "2"),
            *("--work", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    record = json.loads((out / "gpu-flow.json").read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert record["ok"] and record["problems"] == []
    assert record["stack"]["torch"] == "2.13.0+cpu" and record["stack"]["cuda"] is None
    assert record["machine"]["cores"] and record["poetry"].endswith(f"{POETRY})")
    assert "torch==2.13.0+cpu" in record["repack"]["packages"]
    assert record["repack"]["relabelled"] == [] and record["repack"]["missing"] == []

    commands = [step["command"] for step in record["steps"]]
    assert commands == [
        "poetry torch install --cpu torch",
        "poetry torch check",
        "poetry torch check --runtime",  # no --require-gpu on a CPU build
        "poetry torch check --json",
        *POETRY_COMMANDS,
        "poetry torch install --cuda auto --dry-run",
    ]
    assert all(step["exit"] == 0 for step in record["steps"]), record["steps"]
    expected = record["expected_build"]
    assert expected["__version__"] == "2.13.0+cpu" and expected["cuda"] is None
    assert expected["versions"] == {"torch": "2.13.0+cpu"}
    for step in record["steps"]:
        if step["command"] in POETRY_COMMANDS:
            assert step["same_build"] and not step["reinstalled"], step
            assert step["build"]["versions"] == expected["versions"], step
    assert record["steps"][3]["report"]  # check --json, parsed
    assert record["pypi_role_torch_requests"] == []

    for name in ("hook", "check"):
        timing = record["timings"][name]
        assert timing["pairs"] == 2 and timing["ratio"] > 0
        assert all(len(samples) == 2 for samples in timing["ms"].values())
        assert all(codes == [0] for codes in timing["exit_codes"].values())
    log = (out / "gpu-flow.log").read_text()
    assert "### poetry sync\n" in log and "### problems: none" in log
    assert (out / "gpu-flow.json").stat().st_size < 64_000 and len(log) < 64_000
