from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import DEFAULT_PACKAGES as DEFAULT
from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import poetry_to_pep440
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.errors import ConfigError
from tests.support.toml import loads


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
        ("[tool.poetry-torch]\npackages = []\n", "packages is empty"),
        ("[tool.poetry-torch]\npackages = [\"torch; sys_platform == 'linux'\"]\n", "marker"),
        ('[tool.poetry-torch]\npackages = ["torch==2.8.0", "torch==2.7.1"]\n', "twice"),
        ('[tool.poetry-torch]\npackages = ["torch", "Torch"]\n', "twice"),
        ('[tool.poetry-torch]\nallow-http = "yes"\n', "allow-http = 'yes' is not a boolean"),
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
    # the variable is this machine's mirror (``index.access.mirror_url``), never a base that
    # a URL written to pyproject.toml is built on (issue 23, item 7)
    monkeypatch.setenv(INDEX_BASE_ENV, "http://127.0.0.1:1/whl")
    assert effective_index_base(settings) == "https://m/whl"
    assert effective_index_base(settings, "https://cli/whl") == "https://cli/whl"


OPTED_IN = '[[tool.poetry.source]]\nname = "pytorch_cuda_cu129"\nurl = "https://x/whl/cu129"\n'


def packages_of(text: str) -> tuple[str, ...]:
    return read_config(loads(OPTED_IN + text)).packages


@pytest.mark.parametrize(
    ("declared", "packages"),
    [
        # what `poetry add --source pytorch-gpu-src torch` writes: caret with a build label
        (
            '[tool.poetry.dependencies]\ntorch = {version = "^2.4.0+cu124", source = "x"}\n',
            ("torch<3.0.0,>=2.4.0", "torchvision", "torchaudio"),
        ),
        # another build's label on a pin: the version, without the label
        ('[tool.poetry.dependencies]\ntorch = "2.0.1+cu118"\n', ("torch==2.0.1", *DEFAULT[1:])),
        ('[project]\ndependencies = ["torch==2.6.0+cpu"]\n', ("torch==2.6.0", *DEFAULT[1:])),
        ('[tool.poetry.dependencies]\ntorch = "~2.8.1"\n', ("torch<2.9.0,>=2.8.1", *DEFAULT[1:])),
        (
            '[tool.poetry.dependencies]\ntorch = ">= 2.7, < 2.9"\n',
            ("torch<2.9,>=2.7", *DEFAULT[1:]),
        ),
        # optional: extras, optional groups, PEP 621 extras and PEP 735 groups
        (
            '[tool.poetry.dependencies]\ntorch = {version = ">=2.8", optional = true}\n',
            ("torch>=2.8", *DEFAULT[1:]),
        ),
        (
            '[tool.poetry.group.gpu.dependencies]\ntorchaudio = {version = "^2.8", python = "<3.14"}\n',
            ("torch", "torchvision", "torchaudio<3.0,>=2.8"),
        ),
        (
            '[project.optional-dependencies]\ncpu = ["torch==2.8.0+cpu"]\ncuda = ["torch==2.8.0+cu128"]\n',
            ("torch==2.8.0", *DEFAULT[1:]),
        ),
        (
            '[dependency-groups]\ndev = ["torch>=2.8", {include-group = "x"}]\n',
            ("torch>=2.8", *DEFAULT[1:]),
        ),
        # Poetry's multiple-constraints form: the same version per platform or extra
        (
            '[tool.poetry.dependencies]\ntorch = [\n {version = "^2.8.0", markers = "sys_platform == \'darwin\'"},\n'
            ' {version = "^2.8.0+cu128", markers = "sys_platform == \'linux\'"},\n]\n',
            ("torch<3.0.0,>=2.8.0", *DEFAULT[1:]),
        ),
        (
            '[tool.poetry.dependencies]\ntorch = [{markers = "extra == \'cpu\'", source = "a"},'
            ' {markers = "extra == \'cuda\'", source = "b"}]\n',
            DEFAULT,
        ),
        # different versions per Python, settled by [tool.poetry-torch]
        (
            '[tool.poetry.dependencies]\ntorch = [{version = "<2.6", python = "<3.9"},'
            ' {version = ">=2.8", python = ">=3.9"}]\n[tool.poetry-torch]\npackages = ["torch>=2.8"]\n',
            ("torch>=2.8",),
        ),
        # [tool.poetry-torch] and the declarations intersect; a declared family member is added
        (
            '[project]\ndependencies = ["torch>=2.8", "torchvision"]\n'
            '[tool.poetry-torch]\npackages = ["torch<2.10"]\n',
            ("torch<2.10,>=2.8", "torchvision"),
        ),
        # torchmetrics and friends are not the family; PEP 508 with a URL for them is not ours
        ('[project]\ndependencies = ["torchmetrics @ https://x/t.whl"]\n', DEFAULT),
    ],
)
def test_declared_versions_narrow_packages(declared: str, packages: tuple[str, ...]) -> None:
    assert packages_of(declared) == packages


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ('[tool.poetry.dependencies]\ntorch = {path = "../torch.whl"}\n', "declared by path"),
        ('[tool.poetry.dependencies]\ntorch = {url = "https://x/torch.whl"}\n', "declared by url"),
        (
            '[tool.poetry.group.dev.dependencies]\ntorchvision = {git = "https://github.com/pytorch/vision"}\n',
            "declared by git",
        ),
        ('[project]\ndependencies = ["torch @ file:///wheels/torch.whl"]\n', "direct URL"),
        (
            '[tool.poetry.dependencies]\ntorch = [{version = "<2.6", python = "<3.9"},'
            ' {version = ">=2.8", python = ">=3.9"}]\n',
            'alternative versions .*`poetry torch install "torch>=2.8"`',
        ),
        (
            '[tool.poetry.dependencies]\ntorch = "<2.6 || >=2.8"\n',
            "alternative versions",
        ),
        ('[tool.poetry.dependencies]\ntorch = {version = "latest"}\n', "cannot read the version"),
        ('[tool.poetry.dependencies]\ntorch = {version = ["2.8"]}\n', "cannot read the version"),
        (
            '[project]\ndependencies = ["torch>=2.8"]\n[tool.poetry-torch]\npackages = ["torch<2.7"]\n',
            'no torch version satisfies both .*`poetry torch install "torch"`',
        ),
        (
            '[project]\ndependencies = ["torch>=2.8"]\n[tool.poetry.dependencies]\ntorch = "2.0.1+cu118"\n',
            "no torch version satisfies every declaration",
        ),
    ],
)
def test_declarations_the_plugin_refuses(declared: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        packages_of(declared)
    text = str(info.value)
    assert "\n" not in text
    assert "nothing was changed" in text
    assert "[{" not in text and "{'" not in text  # never a Python repr


def test_declarations_matter_only_once_opted_in() -> None:
    # a project that has not run `poetry torch install` is not the plugin's business
    data = loads('[tool.poetry.dependencies]\ntorch = {path = "../torch.whl"}\n')
    assert read_config(data).packages == DEFAULT
    assert not read_config(data).active
    # and a reader that only needs the table as written does not judge them
    opted_in = loads(OPTED_IN + '[tool.poetry.dependencies]\ntorch = {path = "x"}\n')
    assert read_config(opted_in, declared=False).written == DEFAULT


@pytest.mark.parametrize(
    ("sources", "names"),
    [
        # only the plugin's own naming convention counts; the user's sources are theirs
        ([("pytorch", "https://download.pytorch.org/whl/cu121")], []),
        ([("pytorch-gpu-src", "https://download.pytorch.org/whl/cu124")], []),
        ([("torch-cu121", "https://download.pytorch.org/whl/cu121")], []),
        (
            [
                ("pytorch_cuda_cu129", "https://download.pytorch.org/whl/cu129"),
                ("pytorch-nightly", "https://download.pytorch.org/whl/nightly/cu129"),
                ("pytorch", "https://download.pytorch.org/whl/cu128"),
            ],
            ["pytorch_cuda_cu129"],
        ),
        ([("pytorch_rocm6_4", "https://m/whl/rocm6.4"), ("pytorch_cpu", "https://m/cpu")], None),
    ],
)
def test_the_plugin_source(sources: list[tuple[str, str]], names: list[str] | None) -> None:
    text = "".join(f'[[tool.poetry.source]]\nname = "{n}"\nurl = "{u}"\n' for n, u in sources)
    settings = read_config(loads(text))
    if names is None:
        with pytest.raises(ConfigError, match="2 pytorch sources"):
            settings.source()
        return
    assert [source.name for source in settings.sources] == names
    assert settings.source() == (settings.sources[0] if names else None)


def test_poetry1_source_priorities() -> None:
    text = (
        '[[tool.poetry.source]]\nname = "pytorch_cpu"\nurl = "https://x/cpu"\nsecondary = true\n'
        '[[tool.poetry.source]]\nname = "pytorch_cuda_cu129"\nurl = "https://x/cu129"\ndefault = true\n'
    )
    assert [s.priority for s in read_config(loads(text)).sources] == ["secondary", "default"]


# Poetry's own reading of its constraints, to check ours against
CONSTRAINTS = ["^2.4.0", "^2.4", "^2", "^0.2.3", "^0.0.3", "^0", "~2.4.1", "~2.4", "~2", "2.8.*",
               ">=2.7,<2.9", ">= 2.7, < 2.9", ">=2.7 <2.9", "==2.8.0", "2.8.0", "!=2.8.1", "~=2.8",
               "*", "^2.9.0rc1", ">2.7"]  # fmt: skip
PROBES = ["0.0.3", "0.0.4", "0.2.9", "0.3.0", "1.9", "2.0.0", "2.4.0", "2.4.1", "2.4.9", "2.5.0",
          "2.7.0", "2.7.1", "2.8.0", "2.8.1", "2.8.5", "2.9.0rc1", "2.9.0", "3.0.0", "3.1"]  # fmt: skip


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_poetry_constraints_become_pep440(constraint: str) -> None:
    from poetry.core.constraints.version import Version as PoetryVersion
    from poetry.core.constraints.version import parse_constraint

    (ours,) = poetry_to_pep440(constraint)
    theirs = parse_constraint(constraint)
    for probe in PROBES:
        expected = theirs.allows(PoetryVersion.parse(probe))
        assert ours.contains(probe, prereleases=True) == expected, (constraint, probe, str(ours))


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^2.4.0+cu124", ">=2.4.0,<3.0.0"),
        ("2.0.1+cu118", "==2.0.1"),
        ("~2.8.0+cpu", ">=2.8.0,<2.9.0"),
    ],
)
def test_build_labels_are_dropped(constraint: str, expected: str) -> None:
    from packaging.specifiers import SpecifierSet

    assert poetry_to_pep440(constraint) == (SpecifierSet(expected),)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("torch==2.8.0", "torch==2.7.1"), "torch is given twice"),
        (("torch", "torchvision", "TorchVision>=0.2"), "TorchVision is given twice"),
        (('torch; sys_platform == "linux"',), "environment marker"),
    ],
)
def test_command_line_requirements_refused(values: tuple[str, ...], message: str) -> None:
    from poetry_torch_plugin.core.config import parse_requirements

    with pytest.raises(ConfigError, match=message) as info:
        parse_requirements(values, where="command line", require_torch=False)
    assert "\n" not in str(info.value)
    assert "run the command again" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("0", False),
        ("false", False),
        ("False", False),
        ("no", False),
        ("", False),
        (None, False),
    ],
)
def test_env_flag_reads_booleans_like_poetry(
    value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poetry_torch_plugin.core.config import env_flag

    if value is None:
        monkeypatch.delenv("POETRY_TORCH_SKIP", raising=False)
    else:
        monkeypatch.setenv("POETRY_TORCH_SKIP", value)
    assert env_flag("POETRY_TORCH_SKIP") is expected


@pytest.mark.parametrize("value", ["maybe", "2", "on", "ja", "tru"])
def test_env_flag_refuses_anything_else(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from poetry_torch_plugin.core.config import env_flag

    monkeypatch.setenv("POETRY_TORCH_ALLOW_HTTP", value)
    with pytest.raises(ConfigError, match=f"POETRY_TORCH_ALLOW_HTTP={value!r} is not a boolean"):
        env_flag("POETRY_TORCH_ALLOW_HTTP")


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("5", "installer = 5 is not one of"),
        ("true", "installer = true is not one of"),
        ('"uvx"', 'installer = "uvx" is not one of'),
        ('["pip"]', 'installer = ["pip"] is not one of'),
        ('"\uff50\uff49\uff50"', 'installer = "\uff50\uff49\uff50" is not one of'),
    ],
)
def test_bad_installer_is_quoted_as_written(written: str, shown: str) -> None:
    """The value as TOML writes it, not Python's repr: ``5``, not ``'5'``; full-width text
    once, not escaped twice (issue 12, item 28)."""
    data = loads(f"[tool.poetry-torch]\ninstaller = {written}\n")
    with pytest.raises(ConfigError) as info:
        read_config(data)
    assert f"[tool.poetry-torch] {shown}" in str(info.value)


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^2.9.0", ['"torch>=2.9.0,<3.0.0"']),
        ("~2.9", ['"torch>=2.9,<2.10"']),
        ("2.9.*", ['"torch==2.9.*"']),
        ("2.9.0", ['"torch==2.9.0"']),
        ("*", ['"torch"']),
        (">=2.0,!=2.11.0+cu130", ['"torch>=2.0,!=2.11.0"']),
        (">=2.0,<2.5 || >=2.9", ['"torch>=2.0,<2.5"', '"torch>=2.9"']),
    ],
)
def test_install_advice_is_a_command_the_plugin_accepts(
    constraint: str, expected: list[str]
) -> None:
    """What a failed solve suggests (issue 23, item 3): PEP 440, the variant and the companions
    kept, and each command's requirements read back by ``poetry torch install``'s parser."""
    import shlex

    from poetry_torch_plugin.core.config import install_advice
    from poetry_torch_plugin.core.config import parse_requirements

    advice = install_advice(
        "torch",
        constraint,
        option="--cuda 12.9",
        companions=("torch>=2.8", "torchvision==0.23.0", "torchaudio"),
    )
    commands = advice.split(" or ")
    assert commands == [
        f"`poetry torch install --cuda 12.9 {one} torchvision torchaudio`" for one in expected
    ]
    for command in commands:
        words = shlex.split(command.strip("`"))
        assert words[:5] == ["poetry", "torch", "install", "--cuda", "12.9"]
        parsed = parse_requirements(words[5:], where="poetry torch install")
        assert [r.name for r in parsed] == ["torch", "torchvision", "torchaudio"]
    assert install_advice("torch", "not a constraint!") == ""


# The pattern the runtime test replaced (core.config reads it with string tests): the two agree.
RUNTIME_PATTERN = (
    r"^(?:nvidia-(?!ml-py$).+|cuda-toolkit|cuda-bindings|cuda-pathfinder|triton|pytorch-triton.*"
    r"|rocm|rocm-sdk(?:-.+)?)$"
)


def _names() -> list[str]:
    stems = [
        "nvidia-",
        "nvidia-ml-py",
        "nvidia-ml-py3",
        "nvidia-ml-py-x",
        "nvidia-cublas-cu12",
        "nvidia",
        "cuda-toolkit",
        "cuda-toolkit-x",
        "cuda-bindings",
        "cuda-pathfinder",
        "cuda",
        "triton",
        "tritonx",
        "pytorch-triton",
        "pytorch-triton-rocm",
        "pytorch-trito",
        "rocm",
        "rocm-",
        "rocm-sdk",
        "rocm-sdk-",
        "rocm-sdk-core",
        "rocm-sdk-libraries-gfx110x",
        "rocmx",
        "torch",
        "",
    ]
    names = list(stems)
    for stem in stems:
        names += [stem + "\n", "x" + stem, stem + "a\nb", stem.upper(), " " + stem]
    return names


def test_runtime_names_are_read_as_the_pattern_read_them() -> None:
    import re

    from poetry_torch_plugin.core import config

    for name in _names():
        if "\n" in name:  # no package name holds one; the pattern let a last one through
            assert not config._runtime(name), repr(name)
        else:
            assert config._runtime(name) == bool(re.match(RUNTIME_PATTERN, name)), repr(name)
