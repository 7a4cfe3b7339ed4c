"""``with_choice``: the variant this machine installs and the source it installs from,
without reading pyproject.toml again or changing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.targets import VARIANT_ENV
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.machine.detect import FAKE_MACHINE_ENV
from poetry_torch_plugin.project.files import local_variant
from poetry_torch_plugin.service.settings import with_choice


H100 = Path(__file__).resolve().parents[2] / "fixtures" / "synthetic" / "fake-machine-h100.json"
MIRROR = "https://mirror.example/pytorch/whl"


def project(tmp_path: Path, source: str | None = "cu129", **table: str) -> Path:
    lines = ['[project]\nname = "demo"\nversion = "0.1"\n']
    if source is not None:
        name = "pytorch_cpu" if source == "cpu" else f"pytorch_cuda_{source}"
        lines.append(
            f'[[tool.poetry.source]]\nname = "{name}"\nurl = "{MIRROR}/{source}"\n'
            'priority = "explicit"\n'
        )
    lines.append("[tool.poetry-torch]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items()))
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def chosen(path: Path) -> tuple[str, str, str, str]:
    from poetry_torch_plugin.core.config import parse_toml

    settings = with_choice(read_config(parse_toml(path.read_text("utf-8"))), path)
    assert settings.choice is not None
    (source,) = settings.sources
    return str(settings.choice.variant), settings.choice.rule, source.name, source.url


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIANT_ENV, raising=False)
    monkeypatch.delenv(INDEX_BASE_ENV, raising=False)
    monkeypatch.setenv(FAKE_MACHINE_ENV, str(H100))


def test_pyproject_source_as_written(tmp_path: Path) -> None:
    path = project(tmp_path)
    before = path.read_bytes()
    assert chosen(path) == ("cu129", "pyproject", "pytorch_cuda_cu129", f"{MIRROR}/cu129")
    assert path.read_bytes() == before


def test_env_beats_poetry_toml_beats_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path)
    (tmp_path / "poetry.toml").write_text(
        '[virtualenvs]\nin-project = true\n\n[poetry-torch]\nvariant = "cu128"\n', "utf-8"
    )
    # next to the configured source: same mirror, same name (so the same login)
    assert chosen(path) == ("cu128", "local config", "pytorch_cuda_cu129", f"{MIRROR}/cu128")
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    assert chosen(path) == ("cpu", "env", "pytorch_cuda_cu129", f"{MIRROR}/cpu")


def test_index_base_env_never_decides_a_derived_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variable is where this machine fetches from, not the URL the choice names: the
    derived source stays next to the configured one (issue 23, item 7)."""
    monkeypatch.setenv(VARIANT_ENV, "cpu")
    monkeypatch.setenv(INDEX_BASE_ENV, "http://127.0.0.1:9/whl/")
    assert chosen(project(tmp_path)) == ("cpu", "env", "pytorch_cuda_cu129", f"{MIRROR}/cpu")


def test_auto_without_a_source(tmp_path: Path) -> None:
    variant, rule, name, url = chosen(project(tmp_path, source=None, variant="auto"))
    assert rule == "auto"
    assert variant.startswith("cu")  # the fake H100 with driver 580
    assert (name, url) == (f"pytorch_cuda_{variant}", f"https://download.pytorch.org/whl/{variant}")


def test_auto_beats_the_source(tmp_path: Path) -> None:
    path = project(tmp_path, source="cpu", variant="auto")
    variant, rule, name, url = chosen(path)
    assert (rule, name) == ("auto", "pytorch_cpu")
    assert url == f"{MIRROR}/{variant}" and variant != "cpu"


def test_variant_key_beats_the_source(tmp_path: Path) -> None:
    assert chosen(project(tmp_path, variant="cpu"))[:2] == ("cpu", "pyproject")


def test_bad_override_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIANT_ENV, "gpu")
    with pytest.raises(ConfigError, match=r"^POETRY_TORCH_VARIANT = 'gpu' is not a PyTorch"):
        chosen(project(tmp_path))


def test_local_variant(tmp_path: Path) -> None:
    assert local_variant(tmp_path) is None
    (tmp_path / "poetry.toml").write_text("[virtualenvs]\ncreate = false\n", "utf-8")
    assert local_variant(tmp_path) is None
    (tmp_path / "poetry.toml").write_text('[poetry-torch]\nvariant = "ROCm6.4"\n', "utf-8")
    assert local_variant(tmp_path) == "rocm6.4"
    (tmp_path / "poetry.toml").write_text('[poetry-torch]\nvariant = "x"\n', "utf-8")
    with pytest.raises(ConfigError, match=r"poetry\.toml: \[poetry-torch\] variant = 'x'"):
        local_variant(tmp_path)
    (tmp_path / "poetry.toml").write_text("[poetry-torch\n", "utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        local_variant(tmp_path)
