"""pyproject.toml edits and the atomic writer, on text in memory and in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from poetry_torch_plugin.core.config import Source
from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project.edits import apply_install_edits
from poetry_torch_plugin.project.pyproject import load
from poetry_torch_plugin.project.pyproject import write_atomic
from tests.support.toml import loads


SAMPLE = """# top comment
[project]
name = "demo"
version = "0.1.0"
dependencies = [
    "torchmetrics>=1.0",  # keeps this comment
    "torch>=2.7,<2.9",
]

[tool.poetry]
package-mode = false

[tool.poetry.dependencies]
torchvision = { version = "^0.23", source = "pytorch_cuda_cu128" }

[tool.poetry.group.dev.dependencies]
torchaudio = "2.8.*"
pytest = "*"

[[tool.poetry.source]]
name = "pytorch_cuda_cu128"   # was cu128
url = "https://mirror.example/whl/cu128"
priority = "explicit"

[[tool.poetry.source]]
name = "internal"
url = "https://pypi.internal/simple"
"""


def edit(text: str, source: Source, requested: tuple[str, ...] = ()) -> str:
    document = tomlkit.parse(text)
    current = read_config(document)
    result = apply_install_edits(
        document,
        source=source,
        configured=current.packages,
        requested=parse_requirements(requested, where="cli", require_torch=False),
        original_text=text,
    )
    return result.text


def test_edits_move_dependencies_and_keep_layout() -> None:
    source = Source("pytorch_cuda_cu129", "https://mirror.example/whl/cu129", "explicit")
    text = edit(SAMPLE, source)
    data = loads(text)
    assert data["project"]["dependencies"] == ["torchmetrics>=1.0"]
    assert "torchvision" not in data["tool"]["poetry"]["dependencies"]
    assert data["tool"]["poetry"]["group"]["dev"]["dependencies"] == {"pytest": "*"}
    assert data["tool"]["poetry-torch"]["packages"] == [
        "torch>=2.7,<2.9",
        "torchvision<0.24,>=0.23",
        "torchaudio==2.8.*",
    ]
    assert [s["name"] for s in data["tool"]["poetry"]["source"]] == [
        "pytorch_cuda_cu129",
        "internal",
    ]
    # everything outside the edited tables is byte for byte the same
    assert text.startswith("# top comment\n[project]\n")
    assert '"torchmetrics>=1.0",  # keeps this comment' in text
    assert 'name = "internal"\nurl = "https://pypi.internal/simple"\n' in text


def test_edit_is_idempotent() -> None:
    source = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    once = edit(SAMPLE, source)
    twice = edit(once, source)
    assert once == twice


def test_requested_requirement_wins() -> None:
    source = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    text = edit(SAMPLE, source, ("torch==2.8.0",))
    assert loads(text)["tool"]["poetry-torch"]["packages"][0] == "torch==2.8.0"


def test_two_sources_need_a_choice() -> None:
    text = (
        SAMPLE
        + '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu129"\nurl = "https://x/whl/cu129"\npriority = "explicit"\n'
    )
    settings = read_config(tomlkit.parse(text))
    assert len(settings.sources) == 2
    with pytest.raises(ConfigError, match="2 pytorch sources"):
        settings.source()
    # an explicit variant resolves it: exactly one remains
    fixed = edit(text, Source("pytorch_cuda_cu129", "https://x/whl/cu129", "explicit"))
    assert len(read_config(tomlkit.parse(fixed)).sources) == 1


def test_load_malformed_and_atomic_write(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text("[project\nname = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load(bad)
    assert "\n" not in str(info.value)

    good = tmp_path / "good.toml"
    good.write_text(SAMPLE)
    loaded = load(good)
    good.write_text(SAMPLE + "# edited by someone else\n")
    with pytest.raises(ConfigError, match="changed while"):
        write_atomic(loaded, "x = 1\n")
    assert good.read_text().endswith("# edited by someone else\n")
    loaded = load(good)
    good.chmod(0o640)
    write_atomic(loaded, "x = 1\n")
    assert good.read_text() == "x = 1\n"
    assert good.stat().st_mode & 0o777 == 0o640
    assert list(tmp_path.glob(".pyproject.*")) == []
