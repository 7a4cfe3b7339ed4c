"""Poetry's multiple-constraints form for the torch family, read as targets (core.poetry_form)."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.poetry_form import entry_kinds
from poetry_torch_plugin.core.targets import match_target
from poetry_torch_plugin.core.targets import refuse_rewrite
from poetry_torch_plugin.errors import ConfigError
from tests.support.toml import loads


LINUX_X86 = "sys_platform == 'linux' and platform_machine == 'x86_64'"
LINUX_ARM = "sys_platform == 'linux' and platform_machine == 'aarch64'"
MAC = "sys_platform == 'darwin'"
SOURCES = ("pytorch_cuda_cu129", "pytorch_cuda_cu128", "pytorch_cpu")


def pyproject(
    *entries: str, sources: tuple[str, ...] = SOURCES, tail: str = "", package: str = "torch"
) -> str:
    listed = "".join(f"  {{{entry}}},\n" for entry in entries)
    text = f"[tool.poetry.dependencies]\n{package} = [\n{listed}]\n"
    for name in sources:
        variant = name.rsplit("_", 1)[-1]
        text += (
            f'\n[[tool.poetry.source]]\nname = "{name}"\n'
            f'url = "https://download.pytorch.org/whl/{variant}"\npriority = "explicit"\n'
        )
    return text + tail


def entry(source: str | None = None, markers: str | None = None, **more: str) -> str:
    parts = ['version = "2.9.0"']
    if source is not None:
        parts.append(f'source = "{source}"')
    if markers is not None:
        parts.append(f'markers = "{markers}"')
    parts.extend(f'{key} = "{value}"' for key, value in more.items())
    return ", ".join(parts)


THE_BRIEF = pyproject(
    entry("pytorch_cuda_cu129", LINUX_X86),
    entry("pytorch_cuda_cu128", LINUX_ARM),
    entry("pytorch_cpu", MAC),
)


def test_the_three_entries_become_targets_and_the_linux_x86_64_source_is_committed() -> None:
    config = read_config(loads(THE_BRIEF))
    assert config.targets == (
        ("linux-x86_64", "cu129"),
        ("linux-aarch64", "cu128"),
        ("macos", "cpu"),  # one entry covers both Mac architectures
    )
    assert config.poetry_form is not None
    assert config.poetry_form.referenced == frozenset(SOURCES)
    committed = config.source()
    assert committed is not None and committed.name == "pytorch_cuda_cu129"
    assert config.sources[0] == committed
    # the form pins one version everywhere: accepted, and torch narrowed to it
    assert str(config.requirements[0]) == "torch==2.9.0"


@pytest.mark.parametrize(
    ("sys_platform", "machine", "expected"),
    [
        ("linux", "x86_64", "cu129"),
        ("linux", "aarch64", "cu128"),
        ("darwin", "arm64", "cpu"),
        ("darwin", "x86_64", "cpu"),
        ("win32", "AMD64", None),  # no entry for Windows: the committed source decides
    ],
)
def test_each_machine_kind_gets_its_entry(
    sys_platform: str, machine: str, expected: str | None
) -> None:
    targets = read_config(loads(THE_BRIEF)).targets
    matched = match_target(targets, sys_platform, machine, lambda: False)
    assert (matched[1] if matched else None) == expected


@pytest.mark.parametrize(
    ("fields", "kinds"),
    [
        ({"markers": LINUX_X86}, ("linux-x86_64",)),
        ({"markers": "platform_system == 'Windows'"}, ("windows-amd64", "windows-arm64")),
        ({"markers": "os_name == 'nt' and platform_machine == 'ARM64'"}, ("windows-arm64",)),
        ({"markers": "sys_platform == 'darwin' and platform_machine == 'arm64'"}, ("macos-arm64",)),
        (
            {"markers": "os_name == 'posix'"},
            ("linux-x86_64", "linux-aarch64", "macos-arm64", "macos-x86_64"),
        ),
        ({"platform": "linux"}, ("linux-x86_64", "linux-aarch64")),
        ({"platform": "win32"}, ("windows-amd64", "windows-arm64")),
        (
            {"platform": "!=win32", "markers": "platform_machine == 'x86_64'"},
            ("linux-x86_64", "macos-x86_64"),
        ),
        (
            {"platform": "linux || darwin", "markers": "platform_machine == 'aarch64'"},
            ("linux-aarch64",),
        ),
        # Python never makes an entry vanish: it holds for some Python
        (
            {"markers": "python_version >= '3.12' and sys_platform == 'linux'"},
            ("linux-x86_64", "linux-aarch64"),
        ),
        (
            {"markers": "python_version < '3.9' and platform_system == 'Darwin'"},
            ("macos-arm64", "macos-x86_64"),
        ),
        (
            {"markers": "implementation_name == 'pypy' and platform_machine == 'AMD64'"},
            ("windows-amd64",),
        ),
        (
            {
                "markers": "extra == 'gpu' and sys_platform == 'win32' and platform_machine == 'AMD64'"
            },
            ("windows-amd64",),
        ),
        (
            {"python": ">=3.10"},
            (
                "linux-x86_64",
                "linux-aarch64",
                "macos-arm64",
                "macos-x86_64",
                "windows-amd64",
                "windows-arm64",
            ),
        ),
        ({"markers": "sys_platform == 'freebsd'"}, ()),
    ],
)
def test_entry_kinds(fields: dict[str, str], kinds: tuple[str, ...]) -> None:
    assert entry_kinds(fields, "here") == kinds


def test_platform_key_and_python_key() -> None:
    text = pyproject(
        entry("pytorch_cuda_cu129", platform="linux", python=">=3.10"),
        entry("pytorch_cuda_cu129", platform="linux", python="<3.10"),
        entry(None, platform="darwin"),  # PyPI's macOS build is the cpu one
        sources=("pytorch_cuda_cu129",),
    )
    config = read_config(loads(text))
    assert config.targets == (("linux", "cu129"), ("macos", "cpu"))
    assert config.source() == config.sources[0]


def test_a_user_source_for_macos_is_the_cpu_build() -> None:
    text = pyproject(
        entry("pytorch_cuda_cu129", "sys_platform == 'linux'"),
        entry("mac-cpu", MAC),
        sources=("pytorch_cuda_cu129",),
    )
    assert read_config(loads(text)).targets == (("linux", "cu129"), ("macos", "cpu"))


def test_lists_without_a_plugin_source_are_left_as_they_were() -> None:
    text = pyproject(entry(None, MAC), entry("pytorch", "sys_platform == 'linux'"))
    config = read_config(loads(text))
    assert config.poetry_form is None and config.targets == ()
    with pytest.raises(ConfigError, match="3 pytorch sources"):
        config.source()  # several plugin sources and nothing naming them: refused as before


def test_torchvision_entries_are_read_too_and_must_agree() -> None:
    vision = '\ntorchvision = [{version = "0.24.0", source = "pytorch_cuda_cu128", markers = "sys_platform == \'linux\'"}]\n'
    text = THE_BRIEF.replace("\n]\n", "\n]" + vision, 1)
    with pytest.raises(ConfigError) as caught:
        read_config(loads(text))
    message = str(caught.value)
    assert "torch entry 1 (cu129) and [tool.poetry.dependencies] torchvision entry 1" in message
    assert 'linux-x86_64 = "cu129"' in message and "\n" not in message


def test_group_entries_are_read() -> None:
    text = pyproject(entry("pytorch_cuda_cu129", LINUX_X86), sources=("pytorch_cuda_cu129",))
    text = text.replace("[tool.poetry.dependencies]", "[tool.poetry.group.gpu.dependencies]")
    config = read_config(loads(text))
    assert config.targets == (("linux-x86_64", "cu129"),)
    assert config.poetry_form is not None
    assert config.poetry_form.details == (
        ("linux-x86_64", "[tool.poetry.group.gpu.dependencies] torch entry 1"),
    )


@pytest.mark.parametrize(
    ("entries", "sources", "words"),
    [
        (
            (entry("pytorch_cuda_cu129", LINUX_X86), entry(None, LINUX_ARM)),
            SOURCES,
            ["torch entry 2 names no source, so on linux-aarch64", 'linux-aarch64 = "cu129"'],
        ),
        (
            (entry("pytorch_cuda_cu129", LINUX_X86), entry("nightly", LINUX_ARM)),
            SOURCES,
            ["names the source 'nightly', which is not one of the plugin's", "linux-aarch64 ="],
        ),
        (
            (entry("pytorch_cuda_cu126", LINUX_X86),),
            SOURCES,
            ["'pytorch_cuda_cu126', which no [[tool.poetry.source]] declares"],
        ),
        (
            (entry("pytorch_cuda_cu129", "sys_platform == 'freebsd'"),),
            SOURCES,
            ["applies to no machine kind the plugin knows"],
        ),
        (
            (
                entry("pytorch_cuda_cu129", "sys_platform == 'linux'"),
                entry("pytorch_cuda_cu128", LINUX_ARM),
            ),
            SOURCES,
            [
                "entry 1 (cu129) and [tool.poetry.dependencies] torch entry 2 (cu128) both apply to linux-aarch64"
            ],
        ),
        (
            (entry("pytorch_cuda_cu129", "sys_platform = 'linux'"),),
            SOURCES,
            ["cannot be read"],
        ),
        (
            (entry("pytorch_cuda_cu129", MAC),),
            SOURCES,
            ["PyTorch publishes only the cpu build (with MPS) for macOS"],
        ),
        (
            (entry("pytorch_cuda_cu129", "platform_release ~= 'x'"),),
            SOURCES,
            ["cannot be evaluated"],
        ),
    ],
)
def test_entries_the_plugin_cannot_map_are_refused_in_one_line(
    entries: tuple[str, ...], sources: tuple[str, ...], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(loads(pyproject(*entries, sources=sources)))
    message = str(caught.value)
    assert "\n" not in message and "nothing was changed" in message
    for word in words:
        assert word in message


def test_different_versions_stay_case_56() -> None:
    text = THE_BRIEF.replace(
        'version = "2.9.0", source = "pytorch_cpu"', 'version = "2.8.0", source = "pytorch_cpu"'
    )
    with pytest.raises(ConfigError, match="lists alternative versions"):
        read_config(loads(text))


def test_explicit_targets_agreeing_are_kept_and_disagreeing_are_refused() -> None:
    agree = THE_BRIEF + '\n[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\nno-gpu = "cpu"\n'
    config = read_config(loads(agree))
    assert config.targets == (
        ("linux-x86_64", "cu129"),
        ("no-gpu", "cpu"),
        ("linux-aarch64", "cu128"),
        ("macos", "cpu"),
    )
    assert config.poetry_form is not None
    assert ("linux-x86_64", "cu129") not in config.poetry_form.targets  # the table's own
    disagree = THE_BRIEF + '\n[tool.poetry-torch.targets]\nlinux = "cpu"\n'
    with pytest.raises(ConfigError) as caught:
        read_config(loads(disagree))
    message = str(caught.value)
    assert message.startswith('[tool.poetry-torch.targets] linux = "cpu" and [tool.poetry')
    assert "disagree on linux-x86_64" in message and "\n" not in message


def test_the_variant_key_names_the_committed_source() -> None:
    config = read_config(loads(THE_BRIEF + '\n[tool.poetry-torch]\nvariant = "cu128"\n'))
    assert config.source() is not None
    assert config.source().name == "pytorch_cuda_cu128"  # type: ignore[union-attr]


def test_a_plugin_source_no_entry_names_is_still_refused() -> None:
    text = pyproject(
        entry("pytorch_cpu", MAC),
        entry("pytorch_cuda_cu128", LINUX_ARM),
    )
    config = read_config(loads(text))
    with pytest.raises(ConfigError, match=r"3 pytorch sources \(pytorch_cpu, pytorch_cuda_cu129"):
        config.source()
    both = pyproject(
        entry("pytorch_cpu", MAC),
        entry("pytorch_cuda_cu128", LINUX_ARM),
        sources=("pytorch_cuda_cu128", "pytorch_cpu"),
    )
    committed = read_config(loads(both)).source()
    assert committed is not None and committed.name == "pytorch_cpu"  # the first entry's


def test_a_switch_that_would_rewrite_several_sources_is_refused() -> None:
    config = read_config(loads(THE_BRIEF))
    refuse_rewrite(config.poetry_form, config.source(), "cu129")  # the committed one: fine
    with pytest.raises(ConfigError) as caught:
        refuse_rewrite(config.poetry_form, config.source(), "cu130")
    message = str(caught.value)
    assert "multiple-constraints form (committed source pytorch_cuda_cu129)" in message
    assert "POETRY_TORCH_VARIANT=cu130" in message and "\n" not in message
    one = pyproject(
        entry("pytorch_cuda_cu129", "sys_platform == 'linux'"),
        entry(None, MAC),
        sources=("pytorch_cuda_cu129",),
    )
    single = read_config(loads(one))
    refuse_rewrite(single.poetry_form, single.source(), "cu130")  # one source: renamed as before
