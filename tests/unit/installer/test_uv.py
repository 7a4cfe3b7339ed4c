from __future__ import annotations

import os
import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.installer import uv as uv_backend
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import explain_failure
from poetry_torch_plugin.installer.pip import PipBackend
from poetry_torch_plugin.installer.select import get_backend
from poetry_torch_plugin.installer.uv import MIN_UV
from poetry_torch_plugin.installer.uv import UvBackend
from poetry_torch_plugin.installer.uv import find_uv
from poetry_torch_plugin.installer.uv import parse_hashed
from poetry_torch_plugin.installer.uv import plain_text
from poetry_torch_plugin.installer.uv import run_uv
from poetry_torch_plugin.installer.uv import uv_environment
from poetry_torch_plugin.installer.uv import uv_version


TARGET = TargetEnv(Path("/p/.venv"), Path("/p/.venv/bin/python"), ())
INDEX = "https://user:s3cret@mirror.example/whl/cu129/"


def test_install_command_pins_one_index_and_ignores_uv_config() -> None:
    request = Request(INDEX, ("torch", "torchvision==0.24.0"))
    command = UvBackend("/opt/uv").command(TARGET, request)
    assert command == [
        "/opt/uv",
        "pip",
        "install",
        "--python",
        "/p/.venv/bin/python",
        "--index-url",
        INDEX,
        "--index-strategy",
        "first-index",
        "--no-config",
        "torch",
        "torchvision==0.24.0",
    ]
    assert not any("extra-index" in part or "find-links" in part for part in command)


@pytest.mark.parametrize(
    ("quiet", "verbose", "flags"),
    [(True, False, ["--quiet"]), (False, True, ["--verbose"]), (False, False, [])],
)
def test_install_command_loudness(quiet: bool, verbose: bool, flags: list[str]) -> None:
    request = Request(INDEX, ("torch",), quiet=quiet, verbose=verbose)
    command = UvBackend("uv").command(TARGET, request)
    assert command[command.index("--no-config") + 1 : -1] == flags


def test_a_login_travels_in_the_environment_never_in_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_URL", "http://evil/simple")
    request = Request(
        "https://mirror.example/whl/cu129/", ("torch",), credentials=("user", "s3cret")
    )
    backend = UvBackend("uv")
    command = backend.command(TARGET, request)
    assert "--index-url" not in command
    assert not any("s3cret" in part for part in command)
    assert backend.environment(request)["UV_INDEX_URL"] == (
        "https://user:s3cret@mirror.example/whl/cu129/"
    )


def test_pip_access_options_become_uv_settings() -> None:
    options = (
        "--cert", "/ca.pem", "--client-cert", "/me.pem", "--proxy", "http://proxy:3128",
        "--trusted-host", "mirror.example",
    )  # fmt: skip
    request = Request("https://mirror.example/whl/cu129/", ("torch",), options=options)
    backend = UvBackend("uv")
    command = backend.command(TARGET, request)
    assert command[command.index("--allow-insecure-host") + 1] == "mirror.example"
    assert not {"--cert", "--client-cert", "--proxy", "--trusted-host"} & set(command)
    env = backend.environment(request)
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["SSL_CLIENT_CERT"] == "/me.pem"
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://proxy:3128"


@pytest.mark.parametrize("options", [("--no-cache-dir",), ("--cert",), ("--pre", "x")])
def test_a_pip_option_uv_cannot_honour_stops_before_anything_runs(
    options: tuple[str, ...],
) -> None:
    request = Request(INDEX, ("torch",), options=options)
    with pytest.raises(TargetEnvError, match="uv has no equivalent of pip's"):
        UvBackend("uv").command(TARGET, request)


def test_uv_environment_drops_every_index_setting_and_keeps_cache_and_tls() -> None:
    env = uv_environment(
        {
            "UV_EXTRA_INDEX_URL": "http://evil/simple",
            "UV_INDEX": "evil=http://evil/simple",
            "UV_INDEX_URL": "http://evil/simple",
            "UV_DEFAULT_INDEX": "http://evil/simple",
            "UV_FIND_LINKS": "/wheels",
            "UV_TORCH_BACKEND": "cu126",
            "UV_INDEX_STRATEGY": "unsafe-best-match",
            "UV_CONSTRAINT": "/c.txt",
            "UV_CACHE_DIR": "/cache/uv",
            "UV_NATIVE_TLS": "1",
            "SSL_CERT_FILE": "/ca.pem",
            "HTTPS_PROXY": "http://proxy:3128",
            "PIP_EXTRA_INDEX_URL": "http://evil/simple",
            "PATH": "/bin",
        }
    )
    assert {k for k in env if k.startswith("UV_")} == {"UV_CACHE_DIR", "UV_NATIVE_TLS"}
    assert env["SSL_CERT_FILE"] == "/ca.pem"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert env["PATH"] == "/bin"


def test_parse_hashed_reads_compile_output() -> None:
    # The shape uv 0.13 writes with --generate-hashes (annotations kept here to prove they
    # are skipped; the backend asks for --no-annotate).
    text = (
        "# This file was autogenerated by uv\n"
        "--index-url https://example/whl/cu128\n"
        "nvidia-fakeblas-cu12==12.8.4 \\\n"
        "    --hash=sha256:aa\n"
        "    # via torch\n"
        "torch==2.8.0+cu128 \\\n"
        "    --hash=sha256:bb \\\n"
        "    --hash=sha256:cc\n"
        "Torch_Vision==0.23.0+cu128  # via -r requirements.in\n"
        "tinydep>=1\n"
        "\n"
    )
    assert parse_hashed(text) == [
        ("nvidia-fakeblas-cu12", "12.8.4", ("aa",)),
        ("torch", "2.8.0+cu128", ("bb", "cc")),
        ("torch-vision", "0.23.0+cu128", ()),
    ]


def test_plain_text_drops_colours_and_progress_redraws() -> None:
    raw = (
        "\x1b[2mUsing Python 3.11.7 environment at: env\x1b[0m\r\n"
        "\x1b[37m⠋\x1b[0m Resolving dependencies...\r\x1b[2K\x1b[1m\x1b[31merror\x1b[39m\x1b[0m:"
        " No solution found when resolving dependencies\r\n"
    )
    assert plain_text(raw).splitlines() == [
        "Using Python 3.11.7 environment at: env",
        "error: No solution found when resolving dependencies",
    ]


# Recorded uv 0.13 outputs (stderr, not a terminal) for each failure shape.
UV_FOREIGN = """Using Python 3.11.7 environment at: env
error: No solution found when resolving dependencies
  cause: Because torch==2.8.0+cu126 has no wheels with a matching Python ABI tag (e.g., `cp311`) and only torch==2.8.0+cu126 is available, we can conclude that all versions of torch cannot be used.
         And because you require torch, we can conclude that your requirements are unsatisfiable.
"""
UV_NOT_FOUND = """error: No solution found when resolving dependencies
  cause: Because torchfoo was not found in the package registry and you require torchfoo, we can conclude that your requirements are unsatisfiable.
"""
UV_NO_VERSION = """error: No solution found when resolving dependencies
  cause: Because only torch==2.8.0+cu128 is available and you require torch==2.10.*, we can conclude that your requirements are unsatisfiable.
"""
UV_CONFLICT = """error: No solution found when resolving dependencies
  cause: Because torchvision>=0.24.0+cu129 depends on torch==2.9.0 and you require torch==2.8.0, we can conclude that your requirements and torchvision>=0.24.0+cu129 are incompatible.
         And because you require torchvision==0.24.0, we can conclude that your requirements are unsatisfiable.
"""
UV_REFUSED = """error: Request failed after 3 retries in 10.8s
  cause: Failed to fetch: http://127.0.0.1:1/whl/cu128/torch/
  cause: error sending request for url (http://127.0.0.1:1/whl/cu128/torch/)
  cause: Connection refused (os error 111)
"""
UV_DNS = """error: Request failed after 3 retries in 11.2s
  cause: Failed to fetch: http://nonexistent.invalid/whl/torch/
  cause: dns error
"""
UV_500 = """error: Request failed after 3 retries in 7.9s
  cause: Failed to fetch: http://127.0.0.1:45879/whl/cpu/torchaudio/
  cause: HTTP status server error (500 Internal Server Error) for url (http://127.0.0.1:45879/whl/cpu/torchaudio/)
"""
UV_CORRUPT = """error: Failed to download `torch==2.8.0+cu129`
  cause: Failed to extract archive: torch-2.8.0+cu129-py3-none-any.whl
  cause: Bad CRC (got f1d63218, expected fcb472a4) for file: torch/blob.txt
"""
# Not recorded (a flipped byte trips the CRC check first; root ignores read-only modes):
# uv's wording from its source (uv-extract's MismatchedHashes, std::io::Error's Display).
UV_HASH = """error: Failed to download `torch==2.8.0+cu129`
  cause: Hash mismatch for `torch==2.8.0+cu129`

Expected:
  sha256:abc

Computed:
  sha256:def
"""
UV_READONLY = """error: Failed to install: torch-2.8.0+cu129-py3-none-any.whl (torch==2.8.0+cu129)
  cause: failed to create directory `/p/.venv/lib/python3.11/site-packages/torch`: Read-only file system (os error 30)
"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (UV_FOREIGN, "no wheel of torch==2.8.0+cu126"),
        (UV_NOT_FOUND, "no wheel of torchfoo"),
        (UV_NO_VERSION, "no wheel of torch==2.10.*"),
        (UV_CONFLICT, "the requested packages conflict"),
        (UV_REFUSED, "could not be reached"),
        (UV_DNS, "could not be reached"),
        (UV_500, "could not be reached"),
        (UV_CORRUPT, "does not match the index's sha256"),
        (UV_HASH, "does not match the index's sha256"),
        (UV_READONLY, "read-only"),
        ("error: something new\n  cause: boom\n", "uv failed: something new"),
    ],
)
def test_uv_failures_map_to_the_same_one_line_messages(stderr: str, expected: str) -> None:
    message = explain_failure(stderr, Request(INDEX, ("torch",)), TARGET, "uv")
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message
    assert "nothing was installed" in message  # TARGET holds no earlier build


def fake_uv(directory: Path, version: str) -> str:
    """An executable that answers ``--version`` as that uv would."""
    binary = directory / "uv"
    binary.write_text(f"#!/bin/sh\necho 'uv {version} (x86_64-unknown-linux-gnu)'\n")
    binary.chmod(0o755)
    return str(binary)


def test_auto_prefers_uv_and_falls_back_to_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = fake_uv(tmp_path, "0.13.9")
    monkeypatch.setattr(uv_backend, "find_uv", lambda: binary)
    backend = get_backend("auto")
    assert isinstance(backend, UvBackend)
    assert backend.binary == binary
    assert isinstance(get_backend("uv"), UvBackend)
    assert isinstance(get_backend("pip"), PipBackend)

    monkeypatch.setattr(uv_backend, "find_uv", lambda: None)
    assert isinstance(get_backend("auto"), PipBackend)
    with pytest.raises(TargetEnvError, match="no uv executable was found"):
        get_backend("uv")
    with pytest.raises(TargetEnvError, match="unknown installer"):
        get_backend("conda")


@pytest.mark.parametrize("version", ["0.4.30", "broken"])
def test_too_old_or_broken_uv_is_refused_and_auto_uses_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    binary = fake_uv(tmp_path, version)
    if version == "broken":
        Path(binary).write_text("#!/bin/sh\nexit 3\n")
    monkeypatch.setattr(uv_backend, "find_uv", lambda: binary)
    assert isinstance(get_backend("auto"), PipBackend)
    with pytest.raises(TargetEnvError) as caught:
        get_backend("uv")
    message = str(caught.value)
    assert "\n" not in message
    assert "needs uv 0.5.0 or newer; nothing was changed" in message
    assert ("is uv 0.4.30," if version != "broken" else "is not a working uv,") in message
    assert "--installer pip" in message


def test_uv_version_reads_the_real_uv() -> None:
    binary = find_uv()
    if binary is None:
        pytest.skip("uv is not installed")
    version = uv_version(binary)
    assert version is not None
    assert version >= MIN_UV


def test_find_uv_looks_on_path_then_in_poetrys_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "bin" / "uv"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(binary.parent))
    assert find_uv() == str(binary)

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "uv", None)  # the uv package is not installed
    assert find_uv() is None


def _script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_uv.py"
    script.write_text(body)
    return [sys.executable, str(script)]


def test_run_uv_captures_stderr_when_quiet(tmp_path: Path) -> None:
    command = _script(tmp_path, "import sys\nsys.stderr.write('error: boom\\n')\nsys.exit(2)\n")
    code, stderr = run_uv(command, dict(os.environ), show=False)
    assert (code, stderr) == (2, "error: boom\n")


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX only")
def test_run_uv_gives_uv_a_terminal_when_ours_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pty

    leader, follower = pty.openpty()
    terminal = os.fdopen(follower, "w")
    monkeypatch.setattr(sys, "stderr", terminal)
    command = _script(
        tmp_path,
        "import sys\n"
        "sys.stderr.write('\\x1b[31merror\\x1b[0m: tty=%s\\n' % sys.stderr.isatty())\n"
        "sys.exit(3)\n",
    )
    try:
        code, stderr = run_uv(command, dict(os.environ), show=True)
        shown = os.read(leader, 4096).decode()
    finally:
        terminal.close()
        os.close(leader)
    assert code == 3
    assert stderr.strip() == "error: tty=True"
    assert "tty=True" in shown  # the bytes reached our terminal, colours and all


def test_install_failure_raises_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "uv"
    fake.write_text(f"#!/bin/sh\necho '{UV_FOREIGN.splitlines()[2]}' >&2\nexit 1\n")
    fake.chmod(0o755)
    request = Request(INDEX, ("torch",), quiet=True)
    with pytest.raises(InstallError, match=r"no wheel of torch==2\.8\.0\+cu126"):
        UvBackend(str(fake)).install(TARGET, request)


def test_report_uses_compile_with_hashes(tmp_path: Path) -> None:
    fake = tmp_path / "uv"
    # Writes hashed pins where --output-file says, and records its arguments.
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/args\n'
        'while [ "$1" != "--output-file" ]; do shift; done\n'
        "printf 'torch==2.8.0+cu128 \\\\\\n    --hash=sha256:bb\\n"
        'nvidia-fakeblas-cu12==12.8.4 --hash=sha256:aa\\n\' > "$2"\n'
    )
    fake.chmod(0o755)
    target = TargetEnv(tmp_path, Path(sys.executable), ())
    report = UvBackend(str(fake)).report(target, Request(INDEX, ("Torch>=2.8",)))
    assert report["install"] == [
        {
            "metadata": {"name": "torch", "version": "2.8.0+cu128"},
            "requested": True,
            "hashes": ["bb"],
        },
        {
            "metadata": {"name": "nvidia-fakeblas-cu12", "version": "12.8.4"},
            "requested": False,
            "hashes": ["aa"],
        },
    ]
    assert report["environment"]["python_version"] == "{}.{}".format(*sys.version_info[:2])
    assert report["environment"]["sys_platform"] == sys.platform
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["pip", "compile"]
    assert "--no-config" in args
    assert "--generate-hashes" in args
    assert args[args.index("--python") + 1] == sys.executable
    assert args[args.index("--index-url") + 1] == INDEX


def test_a_report_without_hashes_asks_uv_for_none(tmp_path: Path) -> None:
    """An index without sha256: uv would download each chosen wheel whole to hash it; the
    lock hashes another machine's files itself, so uv is not asked to (issue 22, item 4)."""
    fake = tmp_path / "uv"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/args\n'
        'while [ "$1" != "--output-file" ]; do shift; done\n'
        "printf 'torch==2.8.0+cu128\\n' > \"$2\"\n"
    )
    fake.chmod(0o755)
    target = TargetEnv(tmp_path, Path(sys.executable), ())
    foreign = ("aarch64-manylinux_2_28", "3.12")
    report = UvBackend(str(fake)).report(
        target, Request(INDEX, ("torch",)), foreign=foreign, hashes=False
    )
    assert report == {
        "install": [
            {
                "metadata": {"name": "torch", "version": "2.8.0+cu128"},
                "requested": True,
                "hashes": [],
            }
        ]
    }
    args = (tmp_path / "args").read_text().split()
    assert "--generate-hashes" not in args
    assert args[args.index("--python-platform") + 1] == "aarch64-manylinux_2_28"


# --- issue 5's hot path: the hooks' pre-filter (hooks.py), tested here with the rest of it ---

PROJECTS = [
    {},
    {"tool": {"poetry": {"source": [{"name": "fakepypi", "url": "https://pypi.example/simple"}]}}},
    {"tool": {"poetry-torch": {}}},
    {"tool": {"poetry-torch": {"packages": "not a list"}}},
    {
        "tool": {
            "poetry": {"source": [{"name": "pytorch_cuda_cu129", "url": "https://x/whl/cu129"}]}
        }
    },
    {"tool": {"poetry": {"source": [{"name": " PyTorch_CPU ", "url": "https://x/whl/cpu"}]}}},
    {"tool": {"poetry": {"source": [{"name": "pytorch-nightly", "url": "https://x/whl/cu128"}]}}},
    {"tool": {"poetry": {"source": [{"name": "torch", "url": "https://x/whl/cu128"}]}}},
    {"tool": {"poetry": {"source": "not a list"}}},
    {"tool": "not a table"},
]


@pytest.mark.parametrize("data", PROJECTS)
def test_hook_prefilter_never_skips_a_project_that_uses_the_plugin(data: dict[str, object]) -> None:
    from poetry_torch_plugin.console.listeners import _may_use_torch
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.errors import TorchPluginError

    try:
        active = read_config(data).active
    except TorchPluginError:
        active = True  # an error must still reach the user
    if active:
        assert _may_use_torch(data)


def test_test_and_nightly_channels_allow_prereleases() -> None:
    """Nightly builds are ``2.12.0.dev…`` pre-releases: pip gets --pre, uv --prerelease allow."""
    nightly = Request("https://download.pytorch.org/whl/nightly/cu130", ("torch",))
    assert nightly.prereleases
    assert "--pre" in PipBackend().index_args(nightly)
    command = UvBackend("uv").command(TARGET, nightly)
    assert command[command.index("--prerelease") + 1] == "allow"
    stable = Request("https://download.pytorch.org/whl/cu130", ("torch",))
    assert not stable.prereleases
    assert "--pre" not in PipBackend().index_args(stable)
    assert "--prerelease" not in UvBackend("uv").command(TARGET, stable)


def test_a_uv_that_cannot_start_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """uv found, then gone (or not executable) when an entry is resolved for another machine."""
    target = TargetEnv(Path(sys.prefix), Path(sys.executable), ())
    request = Request("https://download.pytorch.org/whl/cpu", ("torch",))
    gone = UvBackend(str(tmp_path / "uv"))
    with pytest.raises(InstallError, match=r"^uv could not be started \(.*uv: ") as info:
        gone.report(target, request, foreign=("aarch64-manylinux_2_28", "3.12"))
    assert "\n" not in str(info.value) and "`poetry self add uv`" in str(info.value)


def test_parse_hashed_reads_a_file_named_by_url() -> None:
    """PyPI's torchaudio for a build whose index has none that pairs (issue 22 item 6)."""
    digest = "a" * 64
    text = (
        "torch==2.14.0+cu132 \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "torchaudio @ https://files.example/torchaudio-2.11.1-py3-none-any.whl"
        f"#sha256={digest}\n"
    )
    assert parse_hashed(text) == [
        ("torch", "2.14.0+cu132", ("b" * 64,)),
        ("torchaudio", "2.11.1", (digest,)),
    ]


@pytest.mark.parametrize("compile_bytecode", [False, True])
def test_uv_compiles_bytecode_only_when_asked(
    compile_bytecode: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uv, like Poetry, compiles only when asked: ``--compile-bytecode`` with ``--compile``;
    ``get_backend`` hands the choice to whichever installer it picks."""
    request = Request(INDEX, ("torch",))
    command = UvBackend("uv", compile_bytecode=compile_bytecode).command(TARGET, request)
    assert ("--compile-bytecode" in command) is compile_bytecode
    monkeypatch.setattr(uv_backend, "find_uv", lambda: None)
    chosen = get_backend("auto", compile_bytecode=compile_bytecode)
    assert isinstance(chosen, PipBackend)
    assert chosen.compile_bytecode is compile_bytecode
