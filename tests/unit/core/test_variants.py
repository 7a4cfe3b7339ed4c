from __future__ import annotations

import re

import pytest

from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import FAMILIES
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.core.variants import channel_base
from poetry_torch_plugin.core.variants import channel_of
from poetry_torch_plugin.core.variants import from_cuda_version
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.core.variants import from_local_label
from poetry_torch_plugin.core.variants import from_source_name
from poetry_torch_plugin.core.variants import from_url
from poetry_torch_plugin.core.variants import parse_channel
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.core.variants import parse_rocm
from poetry_torch_plugin.errors import VariantError


@pytest.mark.parametrize(
    ("value", "index", "source"),
    [
        ("12.9", "cu129", "pytorch_cuda_cu129"),
        ("cu129", "cu129", "pytorch_cuda_cu129"),
        (" CU128 ", "cu128", "pytorch_cuda_cu128"),
        ("11.8", "cu118", "pytorch_cuda_cu118"),
        ("13.0", "cu130", "pytorch_cuda_cu130"),
    ],
)
def test_parse_cuda(value: str, index: str, source: str) -> None:
    variant = parse_cuda(value)
    assert variant.index_name == index
    assert variant.source_name == source
    assert from_source_name(source) == variant
    assert from_index_name(index) == variant


@pytest.mark.parametrize(
    "value",
    [
        "",
        "12.9.1",
        "cu12",
        "cu1290",
        "129",
        "abc",
        "12.9; rm -rf /",
        "$(reboot)",
        "9.2",
        "12.x",
        "cu129\nx",
        "1" * 500,
    ],
)
def test_parse_cuda_refuses_garbage_in_one_line(value: str) -> None:
    with pytest.raises(VariantError) as info:
        parse_cuda(value)
    message = str(info.value)
    assert "\n" not in message
    assert "nothing was changed" in message
    assert len(message) < 400


def test_rocm_and_cpu() -> None:
    rocm = parse_rocm("6.4")
    assert rocm == parse_rocm("rocm6.4")
    assert rocm.index_name == "rocm6.4"
    assert rocm.source_name == "pytorch_rocm6_4"
    assert from_source_name("pytorch_rocm6_4") == rocm
    assert CPU.source_name == "pytorch_cpu"
    assert from_url("https://download.pytorch.org/whl/cpu/") == CPU
    with pytest.raises(VariantError):
        parse_rocm("six")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.8.0+cu129", Variant("cuda", (12, 9))),
        ("2.8.0+cpu", CPU),
        ("2.8.0+rocm6.4", Variant("rocm", (6, 4))),
        ("2.8.0", None),
        ("2.8.0+local", None),
    ],
)
def test_local_label(version: str, expected: Variant | None) -> None:
    assert from_local_label(version) == expected


def test_from_cuda_version_and_order() -> None:
    assert from_cuda_version("12.8") == Variant("cuda", (12, 8))
    assert from_cuda_version(None, "6.4.43482-0f2d60242") == Variant("rocm", (6, 4))
    assert from_cuda_version(None) == CPU
    ordered = sorted(
        [parse_cuda("12.9"), CPU, parse_cuda("11.8")],
        key=Variant.sort_key,
    )
    assert [v.index_name for v in ordered] == ["cpu", "cu118", "cu129"]


@pytest.mark.parametrize(
    ("value", "index", "source", "parts"),
    [
        ("6.4", "rocm6.4", "pytorch_rocm6_4", (6, 4)),
        ("6.4.1", "rocm6.4.1", "pytorch_rocm6_4_1", (6, 4, 1)),
        ("rocm6.2.4", "rocm6.2.4", "pytorch_rocm6_2_4", (6, 2, 4)),
        ("7.14", "rocm7.14", "pytorch_rocm7_14", (7, 14)),
        ("rocm7.14", "rocm7.14", "pytorch_rocm7_14", (7, 14)),
        ("10.0.12", "rocm10.0.12", "pytorch_rocm10_0_12", (10, 0, 12)),
    ],
)
def test_rocm_accepts_every_published_form(
    value: str, index: str, source: str, parts: tuple[int, ...]
) -> None:
    """X.Y and X.Y.Z, with one- or two-digit parts (issue 13 item 4)."""
    variant = parse_rocm(value)
    assert variant == Variant("rocm", parts)
    assert variant.index_name == index
    assert variant.source_name == source
    assert from_source_name(source) == variant
    assert from_index_name(index) == variant
    assert from_url(f"https://download.pytorch.org/whl/{index}/") == variant
    assert from_local_label(f"2.14.0+{index}") == variant


@pytest.mark.parametrize("value", ["6", "6.", "6.4.1.2", "123.4", "6.4a", "rocm6_4"])
def test_rocm_rejects_other_forms(value: str) -> None:
    with pytest.raises(VariantError, match="invalid --rocm value"):
        parse_rocm(value)


def test_two_digit_rocm_minors_order_numerically() -> None:
    assert parse_rocm("7.14").sort_key() > parse_rocm("7.2").sort_key()


def test_xpu() -> None:
    """Intel GPU builds: ``/whl/xpu``, source ``pytorch_xpu``, label ``+xpu``."""
    xpu = from_index_name("xpu")
    assert xpu == Variant("xpu")
    assert xpu.index_name == "xpu" and xpu.local_label == "xpu"
    assert xpu.source_name == "pytorch_xpu"
    assert from_source_name("pytorch_xpu") == xpu
    assert from_url("https://download.pytorch.org/whl/xpu") == xpu
    assert from_local_label("2.8.0+xpu") == xpu
    assert xpu.describe() == "Intel GPU (xpu)"
    assert CPU.sort_key() < xpu.sort_key() < parse_rocm("6.4").sort_key()


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("https://download.pytorch.org/whl/nightly/cu130", "nightly"),
        ("https://download.pytorch.org/whl/test/cu130/", "test"),
        ("https://download.pytorch.org/whl/cu130", "stable"),
        ("https://mirror.example/nightly/whl/cu130", "stable"),
        ("cu130", "stable"),
    ],
)
def test_channel_of(url: str, channel: str) -> None:
    assert channel_of(url) == channel


def test_channels() -> None:
    assert parse_channel(" Nightly ") == "nightly"
    assert channel_base("https://download.pytorch.org/whl/", "nightly") == (
        "https://download.pytorch.org/whl/nightly"
    )
    assert channel_base("https://download.pytorch.org/whl", "stable") == (
        "https://download.pytorch.org/whl"
    )
    with pytest.raises(VariantError, match="invalid --channel value 'rc'"):
        parse_channel("rc")


@pytest.mark.parametrize(
    ("variant", "option"),
    [
        (Variant("cuda", (12, 9)), "--cuda 12.9"),
        (Variant("rocm", (6, 4, 1)), "--rocm 6.4.1"),
        (Variant("xpu"), "--xpu"),
        (CPU, "--cpu"),
    ],
)
def test_each_family_row_round_trips(variant: Variant, option: str) -> None:
    assert variant.family in FAMILIES
    assert from_index_name(variant.index_name) == variant
    assert from_source_name(variant.source_name) == variant
    assert variant.option == option


def test_families_are_one_row_each_in_rank_order() -> None:
    assert [family.kind for family in FAMILIES] == ["cpu", "xpu", "rocm", "cuda"]
    assert [family.rank for family in FAMILIES] == sorted({family.rank for family in FAMILIES})
    assert len({family.option for family in FAMILIES}) == len(FAMILIES)


def test_each_family_pattern_begins_with_its_prefix() -> None:
    """``Family.match_index`` turns a name away on its prefix before running the pattern: each
    pattern must begin with ``^`` and the prefix, so the shortcut never refuses a name the
    pattern would take."""
    for family in FAMILIES:
        assert family.index.startswith("^" + re.escape(family.prefix)), family.kind
    assert from_index_name("cu129") == Variant("cuda", (12, 9))
    assert from_index_name("xpu") == Variant("xpu")
    assert from_index_name("rocm6.4") == Variant("rocm", (6, 4))
    assert from_index_name("cpux") is None
    assert from_index_name("ucpu") is None


# What PyTorch publishes, for the typo tests (a fixed list: the facts change, the rules don't).
PUBLISHED = tuple(
    from_index_name(name)
    for name in ("cu118", "cu126", "cu128", "cu129", "cu130", "cpu", "rocm6.3", "rocm6.4", "xpu")
)


def published() -> list[Variant]:
    return [variant for variant in PUBLISHED if variant is not None]


def test_a_bare_cuda_major_means_its_dot_zero() -> None:
    """``--cuda 13`` is 13.0 (issue 23 item 6); without a list to ask, so is ``12``."""
    assert parse_cuda("13") == parse_cuda("13.0") == parse_cuda("13", published)
    assert parse_cuda("12").index_name == "cu120"


@pytest.mark.parametrize(
    ("value", "nearest"),
    [
        ("12.99", "12.9"),
        ("cu1299", "12.9"),
        ("12.x", "12.9"),  # only a major: its newest build
        ("cu12", "12.9"),
        ("12", "12.9"),  # a bare major PyTorch never published (no 12.0)
        ("14", "13.0"),
        ("11.8.0", "11.8"),
    ],
)
def test_a_typo_names_the_published_builds_and_the_nearest(value: str, nearest: str) -> None:
    with pytest.raises(VariantError) as info:
        parse_cuda(value, published)
    message = str(info.value)
    assert "PyTorch publishes builds for CUDA 11.8, 12.6, 12.8, 12.9, 13.0;" in message
    assert f"the nearest is {nearest}: run `poetry torch install --cuda {nearest}`" in message
    assert "nothing was changed" in message
    assert "\n" not in message


@pytest.mark.parametrize("value", ["banana", "", "$(reboot)"])
def test_a_word_gets_the_list_and_auto(value: str) -> None:
    with pytest.raises(VariantError) as info:
        parse_cuda(value, published)
    message = str(info.value)
    assert "PyTorch publishes builds for CUDA 11.8, 12.6, 12.8, 12.9, 13.0;" in message
    assert "run `poetry torch install --cuda auto`" in message
    assert "nearest" not in message


def test_a_rocm_typo_names_the_nearest_rocm_build() -> None:
    with pytest.raises(VariantError) as info:
        parse_rocm("6.4.0.1", published)
    message = str(info.value)
    assert "PyTorch publishes builds for ROCm 6.3, 6.4;" in message
    assert "the nearest is 6.4: run `poetry torch install --rocm 6.4`" in message
    with pytest.raises(VariantError, match=r"run `poetry torch install --rocm auto`"):
        parse_rocm("six", published)


def test_every_suggested_option_parses() -> None:
    """The command a typo's refusal names is one the plugin accepts."""
    for value in ("12.99", "cu1299", "12", "14", "11.8.0"):
        with pytest.raises(VariantError) as info:
            parse_cuda(value, published)
        suggested = str(info.value).split("`poetry torch install --cuda ", 1)[1].split("`")[0]
        assert parse_cuda(suggested, published) in PUBLISHED
