"""What the hold-out built for a Poetry command suggests after a failed solve (issue 23)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from poetry_torch_plugin.core.config import TorchConfig
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.targets import VariantChoice
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.service.standin import build


if TYPE_CHECKING:
    from pathlib import Path


def _settings() -> TorchConfig:
    source = Source("pytorch_cuda_cu129", "https://download.pytorch.org/whl/cu129", "explicit")
    return TorchConfig(sources=(source,), written=("torch>=2.8", "torchvision", "torchaudio"))


def test_the_advice_names_the_committed_variant_and_the_companions(tmp_path: Path) -> None:
    hold = build(_settings(), None, tmp_path / "pyproject.toml", lambda _: None)
    hold.refused[("torch", "^2.9.0")] = "2.8.0+cu129"
    assert hold.conflict() == (
        "a dependency requires torch (^2.9.0), but the configured build is 2.8.0+cu129; nothing"
        " was locked or installed. Relax that requirement, or install a build it accepts:"
        ' `poetry torch install --cuda 12.9 "torch>=2.9.0,<3.0.0" torchvision torchaudio`.'
    )


def test_a_machine_local_choice_is_not_put_into_the_advice(tmp_path: Path) -> None:
    """This machine installs cpu (POETRY_TORCH_VARIANT): the advice edits pyproject.toml, so
    it keeps the committed cu129 rather than committing this machine's choice."""
    cpu, cu129 = from_index_name("cpu"), from_index_name("cu129")
    assert cpu is not None and cu129 is not None
    local = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    settings = replace(
        _settings(),
        sources=(local,),
        choice=VariantChoice(cpu, "env", "POETRY_TORCH_VARIANT=cpu", committed=cu129),
    )
    hold = build(settings, None, tmp_path / "pyproject.toml", lambda _: None)
    hold.refused[("torch", ">=2.9")] = "2.8.0+cpu"
    assert '`poetry torch install --cuda 12.9 "torch>=2.9" torchvision torchaudio`' in (
        hold.conflict() or ""
    )


def test_the_held_closure_follows_the_extras_torch_asks_for(tmp_path: Path) -> None:
    """torch 2.14's ``rocm[libraries,device-all]`` pulls in rocm-sdk-* through rocm's extras
    (issue 22 item 5); an extra nobody asked for is not followed."""
    from poetry_torch_plugin.env.installed import installed_distributions
    from poetry_torch_plugin.service.standin import _closure
    from tests.unit.env.test_installed import fake_dist

    site = tmp_path / "site"
    fake_dist(site, "torch", "2.14.0+rocm7.14", requires=("rocm[libraries,device-all]==7.14.0",))
    fake_dist(
        site,
        "rocm",
        "7.14.0",
        requires=(
            "rocm-sdk-core==7.14.0",
            'rocm-sdk-libraries-gfx94x==7.14.0; extra == "libraries"',
            'rocm-sdk-devices-gfx94x==7.14.0; extra == "device-all"',
            'rocm-sdk-tests==7.14.0; extra == "tests"',
        ),
    )
    # (dist-info folders spell the name with underscores, as installers write them)
    for name in ("rocm_sdk_core", "rocm_sdk_libraries_gfx94x", "rocm_sdk_devices_gfx94x"):
        fake_dist(site, name, "7.14.0")
    fake_dist(site, "rocm_sdk_tests", "7.14.0")
    installed = installed_distributions((site,))
    assert _closure(["torch"], installed, lambda _: True) == {
        "torch",
        "rocm",
        "rocm-sdk-core",
        "rocm-sdk-libraries-gfx94x",
        "rocm-sdk-devices-gfx94x",
    }


@pytest.mark.parametrize(
    "line",
    [
        'nvidia-cublas-cu12==12.8.4.1; platform_system == "Linux" and platform_machine == "x86_64"',
        "filelock",
        "Typing_Extensions>=4.10.0",
        "Foo.Bar (>=1.0)",
        "numpy @ https://example.invalid/numpy-2.0.0-py3-none-any.whl",
        'triton==3.5.0; python_version < "3.14"',
        "rocm[libraries,device-all]==7.14.0",
        'opt-einsum>=3.3; extra == "opt-einsum"',
        "extras-lib>=1",
    ],
)
def test_a_requirement_step_read_by_name_is_what_the_full_parse_gives(line: str) -> None:
    """Lines without extras or an extra marker are read by their name alone (the hook runs
    after every command): the same step a parsed Requirement gives, for each extra asked."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from poetry_torch_plugin.service.standin import _requirement_step

    requirement = Requirement(line)
    for asked in (frozenset(), frozenset({"opt-einsum"}), frozenset({"libraries"})):
        marker = requirement.marker
        applies = not (marker is not None and "extra" in str(marker)) or any(
            marker.evaluate({"extra": extra}) for extra in asked
        )
        expected = (
            (canonicalize_name(requirement.name), frozenset(requirement.extras))
            if applies
            else None
        )
        assert _requirement_step(line, asked) == expected
