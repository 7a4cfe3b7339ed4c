from __future__ import annotations

from pathlib import Path

import pytest

from poetry_torch_plugin.core.facts import arch_row
from poetry_torch_plugin.core.facts import arch_supported
from poetry_torch_plugin.core.facts import archs_for
from poetry_torch_plugin.core.facts import companion_published
from poetry_torch_plugin.core.facts import driver_floor
from poetry_torch_plugin.core.facts import driver_supports
from poetry_torch_plugin.core.facts import full_feature_driver_for_cuda
from poetry_torch_plugin.core.facts import known_torch_releases
from poetry_torch_plugin.core.facts import min_driver_for_cuda
from poetry_torch_plugin.core.facts import variants_for_torch
from poetry_torch_plugin.core.fit import choose_auto_variant
from poetry_torch_plugin.core.machine import Gpu
from poetry_torch_plugin.core.machine import Machine
from poetry_torch_plugin.core.machine import NvidiaInfo
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.machine.probes import parse_query_gpu_csv
from poetry_torch_plugin.machine.probes import parse_smi_header


FACTS = load_facts()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TURING_TO_BLACKWELL = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
MAXWELL_TO_HOPPER = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")


def recorded_h100() -> NvidiaInfo:
    """The H100 machine, read through the parsers from its recorded nvidia-smi outputs."""
    folder = FIXTURES / "nvidia-h100"
    query = parse_query_gpu_csv(
        (folder / "nvidia-smi--query-gpu.csv").read_text(encoding="utf-8"),
        ("name", "driver_version", "compute_cap", "pci.device_id", "memory.total"),
    )
    header = parse_smi_header((folder / "nvidia-smi.txt").read_text(encoding="utf-8"))
    assert query is not None and header is not None
    return replace(query, cuda_driver_version=header.cuda_driver_version)


def gpus(*specs: tuple[str, tuple[int, int] | None]) -> tuple[Gpu, ...]:
    return tuple(Gpu(index, name, cc, None) for index, (name, cc) in enumerate(specs))


def nvidia_machine(driver: str, *specs: tuple[str, tuple[int, int] | None]) -> Machine:
    return Machine(NvidiaInfo(driver, None, gpus(*specs), "nvml"), None, False, None, "linux")


H100 = ("NVIDIA H100 80GB HBM3", (9, 0))
A100 = ("NVIDIA A100-SXM4-80GB", (8, 0))
RTX_4090 = ("NVIDIA GeForce RTX 4090", (8, 9))
RTX_5090 = ("NVIDIA GeForce RTX 5090", (12, 0))
V100 = ("Tesla V100-SXM2-16GB", (7, 0))
GTX_1080 = ("NVIDIA GeForce GTX 1080", (6, 1))
M6000 = ("Quadro M6000", (5, 2))
K80 = ("Tesla K80", (3, 7))
NO_GPU = Machine(None, None, False, None, "linux-x86_64")


@pytest.mark.parametrize(
    ("cuda", "expected"),
    [
        ((11, 0), "450.36.06"),
        ((11, 8), "450.80.02"),
        ((12, 0), "525.60.13"),
        ((12, 9), "525.60.13"),
        ((13, 0), "580"),
        ((13, 2), "580"),
        ((10, 2), None),
        ((14, 0), None),
    ],
)
def test_min_driver_for_cuda(cuda: tuple[int, int], expected: str | None) -> None:
    assert min_driver_for_cuda(FACTS, cuda) == expected


@pytest.mark.parametrize(
    ("cuda", "expected"),
    [((12, 6), "560.28.03"), ((12, 8), "570.26"), ((12, 9), "575.51.03"), ((13, 0), "580.65.06")],
)
def test_full_feature_driver_for_cuda(cuda: tuple[int, int], expected: str) -> None:
    assert full_feature_driver_for_cuda(FACTS, cuda) == expected


@pytest.mark.parametrize(
    ("driver", "cuda", "expected"),
    [
        ("580.159.04", (13, 0), True),
        ("580.65.06", (13, 0), True),
        ("575.57.08", (13, 0), False),
        ("550.54.15", (12, 9), True),
        ("525.60.13", (12, 8), True),
        ("525.60.12", (12, 0), False),
        ("525.60", (12, 0), False),
        ("470.82.01", (12, 6), False),
        ("470.82.01", (11, 8), True),
        ("450.80.01", (11, 8), False),
        # Numeric, not string, comparison: "1000" sorts before "580" as text.
        ("1000.1", (13, 0), True),
        ("99.1", (12, 0), False),
        ("not-a-driver", (12, 0), False),
        ("580.159.04", (14, 0), False),
    ],
)
def test_driver_supports(driver: str, cuda: tuple[int, int], expected: bool) -> None:
    assert driver_supports(FACTS, driver, cuda) is expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0.1", ("cu117", "cu118", "cpu", "rocm5.3", "rocm5.4.2")),
        ("2.7", ("cu118", "cu126", "cu128", "cpu", "rocm6.2.4", "rocm6.3", "xpu")),
        ("2.8.0", ("cu126", "cu128", "cu129", "cpu", "rocm6.3", "rocm6.4", "xpu")),
        ("2.9.1", ("cu126", "cu128", "cu130", "cpu", "rocm6.3", "rocm6.4", "xpu")),
        ("2.11.0+cu130", ("cu126", "cu128", "cu130", "cpu", "rocm7.2", "xpu")),
        ("==2.10.0", ("cu126", "cu128", "cu130", "cpu", "rocm7.0", "rocm7.1", "xpu")),
        ("2.13.0", ("cu126", "cu130", "cu132", "cpu", "rocm7.2", "xpu")),
        ("2.14.0", ("cu126", "cu130", "cu132", "cpu", "rocm7.14", "xpu")),
        # pytorch/pytorch#190385, pytorch/test-infra#8739: no CUDA 12.6 build from 2.15 on.
        ("2.15.0", ("cu130", "cu132", "cpu", "xpu")),
        ("1.13.1", None),
        ("latest", None),
        ("", None),
    ],
)
def test_variants_for_torch(version: str, expected: tuple[str, ...] | None) -> None:
    found = variants_for_torch(FACTS, version)
    assert (sorted(found) if found is not None else None) == (
        sorted(expected) if expected is not None else None
    )


@pytest.mark.parametrize(
    ("variant", "torch_version", "expected"),
    [
        # Read from torch.cuda.get_arch_list() on the H100 machine (tests/fixtures/nvidia-h100).
        ("cu130", "2.11.0", TURING_TO_BLACKWELL),
        ("cu126", "2.11.0", MAXWELL_TO_HOPPER),
        ("cu128", "2.11", TURING_TO_BLACKWELL),
        ("cu128", "2.10", ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")),
        ("cu128", "2.7.1", (*MAXWELL_TO_HOPPER, "sm_100", "sm_120")),
        ("cpu", "2.11", None),
        ("rocm6.4", "2.8", None),
        ("cu129", "2.11", None),
        ("cu118", "2.4", ("sm_37", *MAXWELL_TO_HOPPER)),
        ("cu118", "1.13", None),
        ("cu130", None, TURING_TO_BLACKWELL),
        ("cu126", "9.0", MAXWELL_TO_HOPPER),
        ("cu126", "2.14", MAXWELL_TO_HOPPER),
        ("cu126", "2.15", None),
    ],
)
def test_archs_for(
    variant: str, torch_version: str | None, expected: tuple[str, ...] | None
) -> None:
    assert archs_for(FACTS, variant, torch_version) == expected


@pytest.mark.parametrize(
    ("archs", "capability", "expected"),
    [
        (TURING_TO_BLACKWELL, (9, 0), True),
        (TURING_TO_BLACKWELL, (8, 9), True),  # sm_86 cubins run on Ada
        (TURING_TO_BLACKWELL, (12, 1), True),
        (TURING_TO_BLACKWELL, (10, 3), True),
        (TURING_TO_BLACKWELL, (7, 0), False),
        (TURING_TO_BLACKWELL, (5, 2), False),
        (TURING_TO_BLACKWELL, (11, 0), False),
        (MAXWELL_TO_HOPPER, (5, 2), True),
        (MAXWELL_TO_HOPPER, (6, 1), True),
        (MAXWELL_TO_HOPPER, (12, 0), False),
        (("sm_86",), (8, 0), False),
        (("sm_90a",), (9, 0), True),
        (("sm_90a",), (9, 1), False),
        (("compute_120",), (12, 0), False),
        ((), (9, 0), False),
    ],
)
def test_arch_supported(
    archs: tuple[str, ...], capability: tuple[int, int], expected: bool
) -> None:
    assert arch_supported(archs, capability) is expected


@pytest.mark.parametrize(
    ("machine", "torch_version", "variant", "reason_has"),
    [
        pytest.param(
            Machine(recorded_h100(), None, False, None, "linux-x86_64"),
            "2.11.0",
            "cu130",
            "580.159.04",
            id="h100-580-torch-2.11",
        ),
        pytest.param(
            nvidia_machine("550.54.15", H100),
            "2.8.0",
            "cu128",  # cu129 is 2.8's experimental build
            "525.60.13",
            id="h100-550-torch-2.8",
        ),
        pytest.param(
            nvidia_machine("550.54.15", H100), "2.11", "cu128", "cu128", id="h100-550-torch-2.11"
        ),
        pytest.param(
            nvidia_machine("575.57.08", RTX_5090), "2.11", "cu128", "sm_120", id="5090-575-no-cu130"
        ),
        pytest.param(
            nvidia_machine("470.82.01", V100), "2.8", "cpu", "too old", id="driver-470-torch-2.8"
        ),
        pytest.param(
            nvidia_machine("470.82.01", V100),
            "2.7",
            "cu118",
            "450.80.02",
            id="driver-470-minor-compat",
        ),
        pytest.param(
            nvidia_machine("580.95.05", M6000), "2.11", "cu126", "sm_52", id="maxwell-torch-2.11"
        ),
        pytest.param(
            nvidia_machine("580.95.05", GTX_1080), "2.8", "cu126", "sm_61", id="pascal-torch-2.8"
        ),
        pytest.param(
            nvidia_machine("580.95.05", V100), "2.11", "cu126", "sm_70", id="volta-torch-2.11"
        ),
        pytest.param(
            nvidia_machine("580.95.05", V100), "2.10", "cu128", "sm_70", id="volta-torch-2.10"
        ),
        pytest.param(
            nvidia_machine("580.95.05", K80),
            "2.11",
            "cpu",
            "has kernels for Tesla K80",
            id="kepler",
        ),
        pytest.param(
            nvidia_machine("570.86.10", RTX_5090), "2.6", "cpu", "sm_120", id="blackwell-torch-2.6"
        ),
        pytest.param(
            nvidia_machine("550.54.15", A100, A100, RTX_4090),
            "2.11",
            "cu128",
            "NVIDIA A100-SXM4-80GB (sm_80), NVIDIA GeForce RTX 4090 (sm_89)",
            id="mixed-a100-4090",
        ),
        pytest.param(
            nvidia_machine("580.95.05", H100, M6000),
            "2.11",
            "cu126",
            "cu126",
            id="mixed-h100-maxwell",
        ),
        pytest.param(
            nvidia_machine("580.159.04", ("NVIDIA H100 80GB HBM3", None)),
            "2.11",
            "cu130",
            "cu130",
            id="capability-unknown",
        ),
        pytest.param(NO_GPU, "2.11", "cpu", "no NVIDIA GPU", id="no-gpu"),
        pytest.param(
            Machine(NvidiaInfo("580.159.04", None, (), "proc"), None, False, None, "linux"),
            "2.11",
            "cpu",
            "no GPU is visible",
            id="driver-without-gpu",
        ),
        pytest.param(
            Machine(None, None, True, None, "darwin-arm64"), "2.11", "cpu", "MPS", id="apple-mps"
        ),
        pytest.param(
            Machine(None, None, False, "6.4.1", "linux-x86_64"), "2.8", "rocm6.4", "ROCm", id="rocm"
        ),
        pytest.param(
            Machine(None, None, False, "6.4.1", "linux-x86_64"),
            "2.11",
            "rocm7.2",
            "ROCm",
            id="rocm-2.11",
        ),
    ],
)
def test_choose_auto_variant(
    machine: Machine, torch_version: str, variant: str, reason_has: str
) -> None:
    chosen, reason = choose_auto_variant(FACTS, machine, torch_version)
    assert (chosen, reason_has in reason) == (variant, True), reason
    assert "\n" not in reason


@pytest.mark.parametrize("gpu", [M6000, GTX_1080, V100], ids=["maxwell", "pascal", "volta"])
def test_pre_turing_gpus_keep_cu126_up_to_2_14_and_have_no_cuda_build_of_2_15(
    gpu: tuple[str, tuple[int, int]],
) -> None:
    """2.14 keeps CUDA 12.6 as Legacy (pytorch/pytorch#190355); 2.15 publishes none
    (#190385), and CUDA 13 has no kernels below sm_75, so the facts offer such a GPU cpu."""
    machine = nvidia_machine("580.95.05", gpu)
    assert choose_auto_variant(FACTS, machine, "2.14.0")[0] == "cu126"
    chosen, reason = choose_auto_variant(FACTS, machine, "2.15.0")
    assert chosen == "cpu" and gpu[0] in reason and "torch 2.15" in reason, reason
    legacy = arch_row(FACTS, "cu126", "2.14", "linux-x86_64")
    assert legacy is not None and legacy.checked
    assert arch_row(FACTS, "cu126", "2.15") is None


def test_choose_auto_variant_driver_reason_names_the_floor() -> None:
    _, reason = choose_auto_variant(FACTS, nvidia_machine("470.82.01", V100), "2.11")
    assert "470.82.01" in reason and "cu126" in reason and "525.60.13" in reason


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (["cpu", "cu126", "cu128"], "cu128"),
        (["cu130", "cu126", "cpu", "not-a-variant"], "cu130"),
        (["cpu", "rocm7.2"], "cpu"),
        # cu129 has no arch list for 2.11 in the table: not trusted on a GPU of known capability.
        (["cpu", "cu129", "cu126"], "cu126"),
        ([], "cpu"),
    ],
)
def test_choose_auto_variant_uses_what_the_index_lists(available: list[str], expected: str) -> None:
    machine = nvidia_machine("580.159.04", H100)
    assert choose_auto_variant(FACTS, machine, "2.11.0", available)[0] == expected


def test_choose_auto_variant_without_torch_version_uses_newest_release() -> None:
    machine = nvidia_machine("580.159.04", H100)
    newest = known_torch_releases(FACTS)[-1]
    chosen, reason = choose_auto_variant(FACTS, machine, None)
    assert chosen == choose_auto_variant(FACTS, machine, newest)[0]
    assert chosen.startswith("cu13")
    assert f"newest torch in the table ({newest})" in reason


def test_choose_auto_variant_unknown_torch_version_says_so() -> None:
    chosen, reason = choose_auto_variant(FACTS, nvidia_machine("580.159.04", H100), "9.1.0")
    assert chosen.startswith("cu13")
    assert "torch 9.1 (not in the table" in reason


@pytest.mark.parametrize("torch_version", ["2.12.0", "2.13.0", "2.14.0", "2.15.0", None])
def test_auto_never_picks_a_variant_without_a_configured_torchaudio(
    torch_version: str | None,
) -> None:
    machine = nvidia_machine("580.159.04", H100)
    available = ["cpu", "cu126", "cu130", "cu132"]
    for names in (None, available):
        chosen, reason = choose_auto_variant(
            FACTS, machine, torch_version, names, companions=["torchvision", "torchaudio"]
        )
        assert chosen == "cu130", reason
        assert companion_published(FACTS, "torchaudio", chosen, torch_version) is True


def test_auto_without_torchaudio_takes_the_newest_stable_build() -> None:
    machine = nvidia_machine("580.159.04", H100)
    assert choose_auto_variant(FACTS, machine, "2.14.0")[0] == "cu132"
    chosen, reason = choose_auto_variant(FACTS, machine, "2.14.0", companions=["torchaudio"])
    assert chosen == "cu130"
    assert "skipped cu132 (no torchaudio)" in reason
    # 2.12: cu132 is experimental, so the stable cu130 wins even without torchaudio.
    assert choose_auto_variant(FACTS, machine, "2.12.0")[0] == "cu130"


@pytest.mark.parametrize(
    ("package", "variant", "torch_version", "expected"),
    [
        ("torchaudio", "cu132", "2.12.1", False),
        ("torchaudio", "cu130", "2.13", True),
        ("torchaudio", "cu129", "2.8.0", True),
        ("torchaudio", "cu129", "2.11", None),  # 2.11 has no cu129 at all
        ("torchvision", "cu132", "2.12", True),
        ("torchaudio", "cu132", "9.0", False),  # newer than the facts: like the newest
        ("torchaudio", "cu118", "1.13", None),
    ],
)
def test_companion_published(
    package: str, variant: str, torch_version: str, expected: bool | None
) -> None:
    assert companion_published(FACTS, package, variant, torch_version) is expected


def test_unchecked_rows_are_marked() -> None:
    # Windows floors are not checked against NVIDIA's table: they may only warn.
    floor = driver_floor(FACTS, (12, 8), "windows")
    assert floor is not None and floor.driver == "528.33" and floor.checked is False
    linux = driver_floor(FACTS, (12, 8), "linux")
    assert linux is not None and linux.checked is True
    row = arch_row(FACTS, "cu126", "2.12", "linux-aarch64")
    assert row is not None and row.value == ("sm_80", "sm_90") and row.checked
    assert arch_row(FACTS, "cu128", "2.7", "linux-aarch64") is None
