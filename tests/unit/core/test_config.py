from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.errors import ConfigError
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


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[tool.poetry-torch]\npackages = ["numpy"]\n', "not a PyTorch-index package"),
        ('[tool.poetry-torch]\npackages = ["torch>>2"]\n', "not a valid requirement"),
        ('[tool.poetry-torch]\npackages = ["torchvision"]\n', "must include torch"),
        ('[tool.poetry-torch]\npackages = "torch"\n', "must be a list"),
        ('[tool.poetry-torch]\npakages = ["torch"]\n', "unknown key 'pakages'"),
        ('[tool.poetry-torch]\ninstaller = "conda"\n', "installer"),
        ('[tool.poetry-torch]\npackages = ["torch @ https://evil/torch.whl"]\n', "direct URL"),
    ],
)
def test_bad_tool_table(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        read_config(loads(table))
    assert "\n" not in str(info.value)


def test_held_family() -> None:
    settings = read_config({"tool": {"poetry-torch": {"packages": ["torch", "torchao"]}}})
    for name in (
        "torch",
        "torchao",
        "nvidia-cublas-cu12",
        "Triton",
        "cuda-toolkit",
        "cuda-bindings",
        "cuda-pathfinder",
        "pytorch-triton-rocm",
    ):
        assert settings.held(name), name
    for name in ("torchmetrics", "nvidia-ml-py", "numpy", "torchvision"):
        assert not settings.held(name), name


def test_index_base_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = read_config({"tool": {"poetry-torch": {"index-base": "https://m/whl/"}}})
    assert effective_index_base(settings) == "https://m/whl"
    monkeypatch.setenv(INDEX_BASE_ENV, "http://127.0.0.1:1/whl")
    assert effective_index_base(settings) == "http://127.0.0.1:1/whl"
    assert effective_index_base(settings, "https://cli/whl") == "https://cli/whl"
