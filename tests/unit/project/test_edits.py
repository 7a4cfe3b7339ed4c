"""pyproject.toml edits and the atomic writer, on text in memory and in a temporary folder."""

from __future__ import annotations

import copy

from pathlib import Path
from typing import Any

import pytest
import tomlkit

from poetry.factory import Factory

from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.project.edits import apply_install_edits
from poetry_torch_plugin.project.edits import load
from poetry_torch_plugin.project.edits import write_atomic
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
    current = read_config(document, declared=False)
    result = apply_install_edits(
        document,
        source=source,
        configured=current.written,
        requested=parse_requirements(requested, where="cli", require_torch=False),
        original_text=text,
    )
    return result.text


CU129 = Source("pytorch_cuda_cu129", "https://mirror.example/whl/cu129", "explicit")


def _unbound(table: Any, source: str) -> Any:
    """A Poetry dependency table without the binding to ``source``: an entry that held only
    ``source`` dropped, ``{version = "^2.8"}`` read back as ``"^2.8"``."""
    if not isinstance(table, dict):
        return table
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and value.get("source") == source:
            value = {k: v for k, v in value.items() if k != "source"}
            if not value:
                continue
            if list(value) == ["version"]:
                value = value["version"]
        out[key] = value
    return out


def declared_tables(data: dict[str, Any], bound: str = "pytorch_cuda_cu129") -> list[Any]:
    """Every table where a user declares dependencies, minus ``source`` keys and the binding
    of the family to the plugin's source ``bound``."""
    poetry = copy.deepcopy(data.get("tool", {}).get("poetry", {}))
    if "dependencies" in poetry:
        poetry["dependencies"] = _unbound(poetry["dependencies"], bound) or None
    for group in (poetry.get("group") or {}).values():
        if "dependencies" in group:
            group["dependencies"] = _unbound(group["dependencies"], bound)
            if not group["dependencies"]:
                del group["dependencies"]
    poetry["group"] = {name: g for name, g in (poetry.get("group") or {}).items() if g} or None
    tables = [
        data.get("project", {}),
        data.get("dependency-groups"),
        poetry.get("dependencies"),
        poetry.get("group"),
        poetry.get("extras"),
    ]
    return [
        {k: v for k, v in table.items() if k != "source"} if isinstance(table, dict) else table
        for table in tables
    ]


def referenced_sources(data: dict[str, Any]) -> set[str]:
    poetry = data.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies") or {}]
    tables += [g.get("dependencies") or {} for g in (poetry.get("group") or {}).values()]
    return {
        entry["source"]
        for table in tables
        for value in table.values()
        for entry in (value if isinstance(value, list) else [value])
        if isinstance(entry, dict) and "source" in entry
    }


def test_edits_keep_declarations_and_layout() -> None:
    text = edit(SAMPLE, CU129)
    data = loads(text)
    before = loads(SAMPLE)
    assert data["project"] == before["project"]
    # every declaration is bound to the source, its version as written (issue 22 item 8)
    assert data["tool"]["poetry"]["group"] == {
        "dev": {
            "dependencies": {
                "torchaudio": {"version": "2.8.*", "source": "pytorch_cuda_cu129"},
                "pytest": "*",
            }
        }
    }
    # the replaced plugin source was renamed in place, and the entry that named it follows;
    # [project]'s torch gets an entry holding only the source
    assert data["tool"]["poetry"]["dependencies"] == {
        "torchvision": {"version": "^0.23", "source": "pytorch_cuda_cu129"},
        "torch": {"source": "pytorch_cuda_cu129"},
    }
    assert data["tool"]["poetry-torch"]["packages"] == ["torch", "torchvision", "torchaudio"]
    assert [s["name"] for s in data["tool"]["poetry"]["source"]] == [
        "pytorch_cuda_cu129",
        "internal",
    ]
    # what gets installed: the default family narrowed by what the project declares
    assert read_config(tomlkit.parse(text)).packages == (
        "torch<2.9,>=2.7",
        "torchvision<0.24,>=0.23",
        "torchaudio==2.8.*",
    )
    # everything outside the edited tables is byte for byte the same
    assert text.startswith(
        SAMPLE.split("[tool.poetry.dependencies]")[0].replace("_cu128", "_cu129")
    )
    assert '"torchmetrics>=1.0",  # keeps this comment' in text
    assert 'name = "internal"\nurl = "https://pypi.internal/simple"\n' in text


def test_edit_is_idempotent() -> None:
    source = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    once = edit(SAMPLE, source)
    twice = edit(once, source)
    assert once == twice


def test_a_source_without_packages_stays_as_committed() -> None:
    """A teammate's clone that declares only the source: a plain ``poetry torch install``
    (the fix ``check`` prints) changes nothing, so it adds no [tool.poetry-torch] table
    (issue 23 item 1); naming packages, or a first source, still writes ``packages``."""
    cu128 = Source("pytorch_cuda_cu128", "https://mirror.example/whl/cu128", "explicit")
    bound = edit(SAMPLE, cu128)  # the declarations bound to the source, nothing else
    assert "[tool.poetry-torch]" not in bound
    assert edit(bound, cu128) == bound
    assert loads(edit(SAMPLE, cu128, ("torch==2.8.0",)))["tool"]["poetry-torch"] == {
        "packages": ["torch==2.8.0"]
    }
    fresh = SAMPLE.split("[[tool.poetry.source]]")[0].replace("pytorch_cuda_cu128", "x")
    assert "packages" in loads(edit(fresh, cu128))["tool"]["poetry-torch"]


def test_requested_requirement_is_recorded_and_combined() -> None:
    source = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    text = edit(SAMPLE, source, ("torch==2.8.0",))
    # named packages mean those packages: the default family is not added back
    assert loads(text)["tool"]["poetry-torch"]["packages"] == ["torch==2.8.0"]
    assert loads(text)["project"]["dependencies"][1] == "torch>=2.7,<2.9"
    # what the project itself declares (torchvision, torchaudio) still comes from the index
    assert read_config(tomlkit.parse(text)).packages == (
        "torch<2.9,==2.8.0,>=2.7",
        "torchvision<0.24,>=0.23",
        "torchaudio==2.8.*",
    )


BARE = '[project]\nname = "demo"\nversion = "0.1.0"\n'


@pytest.mark.parametrize(
    ("written", "requested", "expected"),
    [
        (None, ("torch",), ["torch"]),
        (None, (), ["torch", "torchvision", "torchaudio"]),
        (["torch>=2.7", "torchvision"], (), ["torch>=2.7", "torchvision"]),
        (["torch>=2.7", "torchvision"], ("torch==2.8.0",), ["torch==2.8.0"]),
        (["torch", "torchvision", "torchaudio"], ("torchvision",), ["torch", "torchvision"]),
        (["torch<2.9", "torchaudio"], ("torchvision>=0.2",), ["torch<2.9", "torchvision>=0.2"]),
        (["torch"], ("torchaudio", "torch"), ["torchaudio", "torch"]),
    ],
)
def test_named_packages_mean_those_packages(
    written: list[str] | None, requested: tuple[str, ...], expected: list[str]
) -> None:
    text = BARE
    if written is not None:
        text += "\n[tool.poetry-torch]\npackages = [" + ", ".join(f'"{p}"' for p in written) + "]\n"
    edited = edit(text, CU129, requested)
    assert loads(edited)["tool"]["poetry-torch"]["packages"] == expected
    assert list(read_config(tomlkit.parse(edited)).packages) == expected


def test_two_plugin_sources_need_a_choice() -> None:
    text = (
        SAMPLE
        + '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu129"\nurl = "https://x/whl/cu129"\npriority = "explicit"\n'
    )
    settings = read_config(tomlkit.parse(text))
    assert len(settings.sources) == 2
    with pytest.raises(ConfigError, match="2 pytorch sources"):
        settings.source()
    # an explicit variant resolves it: exactly one remains, and references follow it
    fixed = edit(text, Source("pytorch_cuda_cu129", "https://x/whl/cu129", "explicit"))
    assert len(read_config(tomlkit.parse(fixed)).sources) == 1
    assert referenced_sources(loads(fixed)) == {"pytorch_cuda_cu129"}


USER_SOURCES = """[tool.poetry]
package-mode = false

[tool.poetry.dependencies]
torch = {version = "^2.4.0+cu124", source = "pytorch-gpu-src"}

[[tool.poetry.source]]
name = "pytorch"
url = "https://download.pytorch.org/whl/cu121"
priority = "explicit"

[[tool.poetry.source]]
name = "pytorch-gpu-src"
url = "https://download.pytorch.org/whl/cu124"
priority = "explicit"

[[tool.poetry.source]]
name = "pytorch-nightly"
url = "https://download.pytorch.org/whl/nightly/cu129"
priority = "explicit"

[[tool.poetry.source]]
name = "torch-cu121"
url = "https://download.pytorch.org/whl/cu121"
secondary = true
"""


def test_user_sources_are_never_removed() -> None:
    assert read_config(tomlkit.parse(USER_SOURCES)).sources == ()
    text = edit(USER_SOURCES, CU129)
    data = loads(text)
    names = [s["name"] for s in data["tool"]["poetry"]["source"]]
    assert names == ["pytorch", "pytorch-gpu-src", "pytorch-nightly", "torch-cu121", CU129.name]
    assert text.startswith(USER_SOURCES)
    assert referenced_sources(data) <= set(names)
    settings = read_config(tomlkit.parse(text))
    assert settings.source() == CU129
    assert settings.packages[0] == "torch<3.0.0,>=2.4.0"


def test_poetry1_plugin_source_becomes_explicit() -> None:
    text = '[[tool.poetry.source]]\nname = "pytorch_cpu"\nurl = "https://x/whl/cpu"\nsecondary = true\ndefault = false\n'
    assert read_config(tomlkit.parse(text)).sources[0].priority == "secondary"
    edited = loads(edit(text, CU129))
    assert edited["tool"]["poetry"]["source"] == [
        {"name": CU129.name, "url": CU129.url, "priority": "explicit"}
    ]


def test_line_endings_survive() -> None:
    crlf = SAMPLE.replace("\n", "\r\n")
    text = edit(crlf, CU129)
    assert "\n" not in text.replace("\r\n", "")
    assert loads(text)["tool"]["poetry-torch"]["packages"] == ["torch", "torchvision", "torchaudio"]


# Layouts real projects use: every declaration stays as written, the file stays valid for
# plain Poetry (no source a dependency names goes away), and the plugin installs this.
SHAPES = {
    "caret-with-build-label": (
        '[tool.poetry.dependencies]\npython = "^3.10"\n'
        'torch = {version = "^2.4.0+cu124", source = "pytorch-gpu-src"}\n\n'
        '[[tool.poetry.source]]\nname = "pytorch-gpu-src"\n'
        'url = "https://download.pytorch.org/whl/cu124"\npriority = "explicit"\n',
        ("torch<3.0.0,>=2.4.0", "torchvision", "torchaudio"),
    ),
    "pin-with-another-label": (
        '[tool.poetry.dependencies]\ntorch = "2.0.1+cu118"\ntorchvision = "0.15.2+cu118"\n',
        ("torch==2.0.1", "torchvision==0.15.2", "torchaudio"),
    ),
    "pep621-cpu-pin": (
        '[project]\nname = "a"\nversion = "1"\ndependencies = ["torch==2.6.0+cpu"]\n',
        ("torch==2.6.0", "torchvision", "torchaudio"),
    ),
    "optional-with-poetry-extras": (
        '[tool.poetry.dependencies]\ntorch = {version = ">=2.8", optional = true}\n\n'
        '[tool.poetry.extras]\ngpu = ["torch"]\n',
        ("torch>=2.8", "torchvision", "torchaudio"),
    ),
    "optional-group": (
        "[tool.poetry.group.gpu]\noptional = true\n\n[tool.poetry.group.gpu.dependencies]\n"
        'torch = "~2.8"\ntorchaudio = "^2.8"\n',
        ("torch<2.9,>=2.8", "torchvision", "torchaudio<3.0,>=2.8"),
    ),
    "pep621-extras": (
        '[project]\nname = "a"\nversion = "1"\n\n[project.optional-dependencies]\n'
        'cpu = ["torch (==2.8.0+cpu)"]\ncuda = ["torch (==2.8.0+cu128)"]\n\n'
        "[tool.poetry.dependencies]\ntorch = [\n"
        '    { markers = "extra == \'cpu\'", source = "pytorch-cpu" },\n'
        '    { markers = "extra == \'cuda\'", source = "pytorch-cuda" },\n]\n',
        ("torch==2.8.0", "torchvision", "torchaudio"),
    ),
    "constraints-per-platform": (
        "[tool.poetry.dependencies]\ntorch = [\n"
        '    {version = "^2.8.0", markers = "sys_platform == \'darwin\'"},\n'
        '    {version = "^2.8.0+cu128", markers = "sys_platform == \'linux\'"},\n]\n',
        ("torch<3.0.0,>=2.8.0", "torchvision", "torchaudio"),
    ),
    "pep735-group": (
        "[dependency-groups]\ntest = [\"torch>=2.8; python_version >= '3.10'\"]\n",
        ("torch>=2.8", "torchvision", "torchaudio"),
    ),
    "no-version-at-all": (
        '[project]\nname = "a"\nversion = "1"\ndependencies = ["torch"]\n\n'
        '[tool.poetry.dependencies]\ntorch = {source = "pytorch"}\n',
        ("torch", "torchvision", "torchaudio"),
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_real_project_shapes(name: str) -> None:
    text, expected = SHAPES[name]
    text += "\n[tool.poetry]\npackage-mode = false\n"
    edited = edit(text, CU129)
    before, after = loads(text), loads(edited)
    assert declared_tables(after) == declared_tables(before)
    remaining = iter(edited.splitlines())
    # in order; the family's Poetry entries (bound to the source) are compared above
    kept = [line for line in text.splitlines() if line and not line.startswith("torch")]
    assert all(line in remaining for line in kept), edited
    assert not Factory.validate(after, strict=False)["errors"]
    assert read_config(tomlkit.parse(edited)).packages == expected


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


INLINE = """[tool.poetry]
package-mode = false
source = [
    { name = "fakepypi", url = "https://pypi.internal/simple" },  # the mirror
]
"""


def test_inline_array_of_sources_stays_an_inline_array() -> None:
    """``source = [{...}]`` is valid TOML and valid for Poetry (issue 12, item 7)."""
    added = edit(INLINE, CU129)
    assert "# the mirror" in added
    assert "[[tool.poetry.source]]" not in added
    data = loads(added)
    assert [s["name"] for s in data["tool"]["poetry"]["source"]] == [
        "fakepypi",
        "pytorch_cuda_cu129",
    ]
    switched = edit(added, Source("pytorch_cpu", "https://mirror.example/whl/cpu", "explicit"))
    sources = loads(switched)["tool"]["poetry"]["source"]
    assert [s["name"] for s in sources] == ["fakepypi", "pytorch_cpu"]
    assert sources[1] == {
        "name": "pytorch_cpu",
        "url": "https://mirror.example/whl/cpu",
        "priority": "explicit",
    }


def test_inline_array_with_two_plugin_sources_keeps_one() -> None:
    text = (
        "[tool.poetry]\nsource = ["
        '{ name = "pytorch_cuda_cu128", url = "https://x/whl/cu128" }, '
        '{ name = "a", url = "https://a/simple" }, '
        '{ name = "pytorch_cpu", url = "https://x/whl/cpu", priority = "explicit" }]\n'
    )
    sources = loads(edit(text, CU129))["tool"]["poetry"]["source"]
    assert [s["name"] for s in sources] == ["pytorch_cuda_cu129", "a"]
    assert loads(edit("[tool.poetry]\nsource = []\n", CU129))["tool"]["poetry"]["source"] == [
        {"name": "pytorch_cuda_cu129", "url": CU129.url, "priority": "explicit"}
    ]


def test_refuse_read_only(tmp_path: Path) -> None:
    from poetry_torch_plugin.project.files import refuse_read_only

    path = tmp_path / "pyproject.toml"
    refuse_read_only(path)  # absent: nothing to refuse
    path.write_text("x")
    refuse_read_only(path)
    path.chmod(0o444)
    link = tmp_path / "link.toml"
    link.symlink_to(path)
    for candidate in (path, link):
        with pytest.raises(ConfigError, match=r"is read-only \(mode 0444\)") as info:
            refuse_read_only(candidate)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("written", ["auto", "cu128"])
def test_variant_key_follows_the_source(written: str) -> None:
    text = SAMPLE + f'\n[tool.poetry-torch]\nvariant = "{written}"  # the team\'s choice\n'
    source = Source("pytorch_cpu", "https://download.pytorch.org/whl/cpu", "explicit")
    assert 'variant = "cpu"' in edit(text, source)
    assert "variant" not in edit(SAMPLE, source)  # no key: none is added
