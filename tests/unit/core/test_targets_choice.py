"""Which variant this machine installs: env > poetry.toml > pyproject > auto."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.targets import VariantChoice
from poetry_torch_plugin.core.targets import choose_variant
from poetry_torch_plugin.core.targets import parse_variant
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import Variant
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.errors import ConfigError


CU129 = Variant("cuda", (12, 9))
CU128 = Variant("cuda", (12, 8))


def auto() -> tuple[Variant, str]:
    return CU128, "driver 570 runs CUDA 12.8"


def pick(
    env: str | None = None,
    local: str | None = None,
    pyproject: str | None = None,
    source: Variant | None = CU129,
) -> VariantChoice:
    choice = choose_variant(
        env=env,
        local=local,
        pyproject=pyproject,
        source=source,
        source_name=source.source_name if source else None,
        auto=auto,
    )
    assert choice is not None
    return choice


@pytest.mark.parametrize(
    ("env", "local", "pyproject", "source", "variant", "rule"),
    [
        ("cpu", "rocm6.4", "cu130", CU129, "cpu", "env"),
        (None, "rocm6.4", "cu130", CU129, "rocm6.4", "local config"),
        (None, None, "cu130", CU129, "cu130", "pyproject"),
        (None, None, None, CU129, "cu129", "pyproject"),
        (None, None, "auto", CU129, "cu128", "auto"),
        ("auto", None, None, CU129, "cu128", "auto"),
        (None, "auto", "cpu", CU129, "cu128", "auto"),
        ("cpu", "auto", "auto", None, "cpu", "env"),
    ],
)
def test_precedence(
    env: str | None,
    local: str | None,
    pyproject: str | None,
    source: Variant | None,
    variant: str,
    rule: str,
) -> None:
    choice = pick(env, local, pyproject, source)
    assert (str(choice.variant), choice.rule) == (variant, rule)


def test_auto_runs_only_when_the_hardware_decides() -> None:
    def boom() -> tuple[Variant, str]:
        raise AssertionError("detected the machine although a rule above decided")

    choice = choose_variant(
        env="cpu", local=None, pyproject=None, source=CU129, source_name="x", auto=boom
    )
    assert choice is not None and choice.variant == CPU


def test_nothing_names_a_variant() -> None:
    # no source, no `variant`, no override: no guess (the commands say how to configure one)
    none = choose_variant(
        env=None, local=None, pyproject=None, source=None, source_name=None, auto=auto
    )
    assert none is None


def test_committed_and_machine_local() -> None:
    assert not pick().machine_local
    assert pick().committed == CU129
    assert pick(env="cpu").machine_local
    assert not pick(env="cu129").machine_local  # the override agrees with the file
    assert pick(pyproject="auto").committed is None
    assert pick(pyproject="auto").machine_local  # auto is never committed
    assert pick(pyproject="cu130").committed == from_index_name("cu130")


def test_line_names_rule_and_where() -> None:
    assert pick(env="cpu").line() == "cpu, chosen by env (POETRY_TORCH_VARIANT=cpu)"
    assert 'poetry.toml: [poetry-torch] variant = "rocm6.4"' in pick(local="rocm6.4").line()
    assert "source pytorch_cuda_cu129" in pick().line()
    assert "driver 570" in pick(pyproject="auto").line()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cpu", "cpu"),
        (" CU128 ", "cu128"),
        ("rocm6.4", "rocm6.4"),
        ("Auto", "auto"),
        ("", None),
        (None, None),
    ],
)
def test_parse_variant(value: object, expected: str | None) -> None:
    assert parse_variant(value, where="X", fix="Fix it") == expected


@pytest.mark.parametrize("value", ["12.8", "cuda", "gpu", 129, True])
def test_parse_variant_refuses(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^X = .* nothing was changed\. Fix it"):
        parse_variant(value, where="X", fix="Fix it")


def test_pyproject_variant_key() -> None:
    data = {"tool": {"poetry-torch": {"variant": "auto"}}}
    config = read_config(data)
    assert config.variant == "auto"
    assert config.active
    assert read_config({"tool": {"poetry-torch": {}}}).variant is None
    with pytest.raises(ConfigError, match=r"\[tool\.poetry-torch\] variant = 'gpu'"):
        read_config({"tool": {"poetry-torch": {"variant": "gpu"}}})
