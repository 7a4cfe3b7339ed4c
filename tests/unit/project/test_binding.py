"""Binding the family's declarations to the plugin's source, as ``poetry add --source`` would
(issue 22 item 8): what the edit writes, what it leaves alone, and what poetry-core reads."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import pytest
import tomlkit

from poetry.core.factory import Factory

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.project.edits import EditResult
from poetry_torch_plugin.project.edits import apply_install_edits
from poetry_torch_plugin.service.install import binding_for
from tests.support.toml import loads


if TYPE_CHECKING:
    from pathlib import Path

CU129 = Source("pytorch_cuda_cu129", "https://download.pytorch.org/whl/cu129", "explicit")
CU128 = Source("pytorch_cuda_cu128", "https://download.pytorch.org/whl/cu128", "explicit")

PEP621 = """[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
    "torch>=2.8",  # the CUDA build, please
    "tinydep>=1.0",
]

[project.optional-dependencies]
vision = ["torchvision>=0.23; sys_platform == 'linux'"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "pytorch_cuda_cu129"
url = "https://download.pytorch.org/whl/cu129"
priority = "explicit"
"""

POETRY = """[tool.poetry]
name = "demo"
version = "0.1.0"
description = ""
authors = []

[tool.poetry.dependencies]
python = "^3.9"
torch = '^2.8'  # the CUDA build, please
torchvision = { version = "^0.23", markers = "sys_platform == 'linux'", extras = ["x"] }

[tool.poetry.group.gpu]
optional = true

[tool.poetry.group.gpu.dependencies]
torchaudio = ">=2.8"

[dependency-groups]
test = ["pytest>=8", "torch>=2.8; python_version >= '3.10'", {include-group = "lint"}]
lint = ["ruff"]

[build-system]
requires = ["poetry-core>=2.0"]
build-backend = "poetry.core.masonry.api"
"""


def edit(text: str, source: Source = CU129) -> EditResult:
    document = tomlkit.parse(text)
    current = read_config(document, declared=False)
    return apply_install_edits(
        document, source=source, configured=current.written, requested=(), original_text=text
    )


def requires(text: str, tmp_path: Path) -> dict[str, Any]:
    """What poetry-core reads from ``text``: each group's dependencies by name, as Poetry
    locks them (``[project]`` entries merged with their ``[tool.poetry]`` enrichment)."""
    (tmp_path / "pyproject.toml").write_text(text)
    package = Factory().create_poetry(tmp_path).package
    found: dict[str, Any] = {}
    for group in package.dependency_group_names(include_optional=True):
        for dependency in package.dependency_group(group).dependencies_for_locking:
            found[f"{group}:{dependency.name}"] = dependency
    return found


def test_project_declarations_get_an_entry_holding_only_the_source(tmp_path: Path) -> None:
    result = edit(PEP621)
    data = loads(result.text)
    assert data["project"] == loads(PEP621)["project"]
    assert data["tool"]["poetry"]["dependencies"] == {
        "torch": {"source": "pytorch_cuda_cu129"},
        "torchvision": {"source": "pytorch_cuda_cu129"},
    }
    assert result.bound == (
        "torch ([tool.poetry.dependencies])",
        "torchvision ([tool.poetry.dependencies])",
    )
    assert '    "torch>=2.8",  # the CUDA build, please\n' in result.text
    # Poetry merges the entry with [project]'s: version, markers and extra stay the user's
    found = requires(result.text, tmp_path)
    torch, vision = found["main:torch"], found["main:torchvision"]
    assert (torch.source_name, str(torch.constraint)) == ("pytorch_cuda_cu129", ">=2.8")
    assert vision.source_name == "pytorch_cuda_cu129"
    assert vision.is_optional() and "linux" in str(vision.marker)
    assert found["main:tinydep"].source_name is None
    assert edit(result.text).text == result.text  # bound once: nothing more to do


def test_poetry_declarations_get_the_source_in_their_table(tmp_path: Path) -> None:
    result = edit(POETRY + '\n[[tool.poetry.source]]\nname = "x"\nurl = "https://x/simple"\n')
    text = result.text
    assert "torch = {version = '^2.8', source = \"pytorch_cuda_cu129\"}  # the CUDA build" in text
    data = loads(text)["tool"]["poetry"]
    assert data["dependencies"]["torchvision"] == {
        "version": "^0.23",
        "markers": "sys_platform == 'linux'",
        "extras": ["x"],
        "source": "pytorch_cuda_cu129",
    }
    assert data["group"]["gpu"] == {
        "optional": True,
        "dependencies": {"torchaudio": {"version": ">=2.8", "source": "pytorch_cuda_cu129"}},
    }
    # a PEP 735 group gets its [tool.poetry.group.<name>.dependencies] entry
    assert data["group"]["test"] == {"dependencies": {"torch": {"source": "pytorch_cuda_cu129"}}}
    assert "lint" not in data["group"]
    assert "[dependency-groups]\ntest = [" in text
    found = requires(text, tmp_path)
    assert str(found["main:torch"].constraint) == ">=2.8,<3.0"
    assert {
        found[key].source_name for key in ("main:torch", "main:torchvision", "gpu:torchaudio")
    } == {"pytorch_cuda_cu129"}
    assert found["test:torch"].source_name == "pytorch_cuda_cu129"
    assert 'python_version >= "3.10"' in str(found["test:torch"].marker)
    assert found["test:pytest"].source_name is None
    assert not Factory.validate(loads(text), strict=False)["errors"]


def test_line_endings_and_comments_survive() -> None:
    crlf = POETRY.replace("\n", "\r\n")
    text = edit(crlf).text
    assert "\n" not in text.replace("\r\n", "")
    assert 'source = "pytorch_cuda_cu129"}  # the CUDA build, please\r\n' in text


def test_a_switch_moves_the_binding() -> None:
    bound = edit(PEP621).text
    switched = edit(bound, CU128)
    data = loads(switched.text)
    assert [s["name"] for s in data["tool"]["poetry"]["source"]] == ["pytorch_cuda_cu128"]
    assert data["tool"]["poetry"]["dependencies"] == {
        "torch": {"source": "pytorch_cuda_cu128"},
        "torchvision": {"source": "pytorch_cuda_cu128"},
    }
    assert switched.bound == (
        "torch ([tool.poetry.dependencies])",
        "torchvision ([tool.poetry.dependencies])",
    )
    assert data["project"] == loads(PEP621)["project"]


def test_the_users_own_source_is_left_alone() -> None:
    text = PEP621 + '\n[tool.poetry.dependencies]\ntorch = { source = "pytorch" }\n'
    result = edit(text)
    assert loads(result.text)["tool"]["poetry"]["dependencies"]["torch"] == {"source": "pytorch"}
    assert result.notes == (
        "torch in [tool.poetry.dependencies] stays bound to your source 'pytorch', which is"
        " not one of the plugin's; Poetry without the plugin installs it from there.",
    )
    assert result.bound == ("torchvision ([tool.poetry.dependencies])",)


def test_a_list_of_constraints_is_left_as_written() -> None:
    text = (
        '[tool.poetry.dependencies]\ntorch = [\n    {version = "^2.8", python = "<3.10"},\n'
        '    {version = "^2.8", python = ">=3.10"},\n]\n'
    )
    result = edit(text)
    assert (
        loads(result.text)["tool"]["poetry"]["dependencies"]
        == loads(text)["tool"]["poetry"]["dependencies"]
    )
    assert result.bound == ()
    assert "is a list of constraints, none bound to a source; left as written" in result.notes[0]


def test_no_binding_asked_leaves_declarations_alone() -> None:
    document = tomlkit.parse(PEP621)
    result = apply_install_edits(
        document, source=CU129, configured=(), requested=(), original_text=PEP621, bind=False
    )
    assert "dependencies" not in loads(result.text)["tool"]["poetry"]
    assert result.bound == ()


@pytest.mark.parametrize(
    ("targets", "binds"),
    [
        ("", True),
        ('linux-x86_64 = "cu129"\n', True),
        ('linux-x86_64 = "cu129"\nmacos = "cpu"\n', False),
        ('no-gpu = "cpu"\n', False),
    ],
)
def test_targets_that_differ_cannot_be_one_source(targets: str, binds: bool) -> None:
    text = PEP621 + ("\n[tool.poetry-torch.targets]\n" + targets if targets else "")
    variant = from_index_name("cu129")
    assert variant is not None
    bind, note = binding_for(read_config(tomlkit.parse(text)), variant, ("torch", "torchvision"))
    assert bind is binds
    if binds:
        assert note is None
    else:
        assert note is not None
        assert note.startswith(
            "The declarations of torch, torchvision were not bound to pytorch_cuda_cu129:"
        )
        assert "other machines cpu, which one source cannot say" in note
