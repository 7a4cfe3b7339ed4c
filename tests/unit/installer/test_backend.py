from __future__ import annotations

import os

from pathlib import Path

import pytest

from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import clean_environment
from poetry_torch_plugin.installer.backend import explain_failure


TARGET = TargetEnv(Path("/nonexistent/venv"), Path("/nonexistent/venv/bin/python"), ())
REQUEST = Request("https://user:s3cret@mirror.example/whl/cu129", ("torch",))

# Recorded pip 24/25 outputs (stderr) for each failure shape.
NO_MATCH = """ERROR: Could not find a version that satisfies the requirement torch==2.8.0 (from versions: none)
ERROR: No matching distribution found for torch==2.8.0
"""
HASH = """ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.
    torch==2.8.0+cu129 from http://127.0.0.1:1/files/torch.whl#sha256=abc:
        Expected sha256 abc
             Got        def
"""
CONFLICT = """ERROR: Cannot install torch==2.8.0 and torchvision==0.24.0 because these package versions have conflicting dependencies.
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
"""
READONLY = """ERROR: Could not install packages due to an OSError: [Errno 30] Read-only file system: '/venv/lib'
"""
NETWORK = """WARNING: Retrying (Retry(total=0...)) after connection broken by 'NewConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")': /whl/cu129/torch/
ERROR: Could not find a version that satisfies the requirement torch (from versions: none)
"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (NO_MATCH, "no wheel of torch==2.8.0"),
        (HASH, "does not match the index's sha256"),
        (CONFLICT, "conflict"),
        (READONLY, "read-only"),
        (NETWORK, "could not be reached"),
        ("something else\nERROR: boom\n", "pip failed: boom"),
    ],
)
def test_explain_failure_is_one_line_without_secrets(stderr: str, expected: str) -> None:
    message = explain_failure(stderr, REQUEST, TARGET, "pip")
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message
    # nothing of the family is installed in TARGET: no "earlier build" to speak of (issue 23)
    assert "earlier build" not in message
    assert "nothing was installed" in message


def _with_torch(tmp_path: Path) -> TargetEnv:
    site = tmp_path / "site-packages"
    (site / "torch-2.8.0+cu129.dist-info").mkdir(parents=True)
    return TargetEnv(tmp_path, tmp_path / "bin" / "python", (site,))


@pytest.mark.parametrize("stderr", [NO_MATCH, HASH, CONFLICT, READONLY, NETWORK])
def test_an_earlier_build_is_named_only_when_there_is_one(stderr: str, tmp_path: Path) -> None:
    message = explain_failure(stderr, REQUEST, _with_torch(tmp_path), "pip")
    assert "the earlier build is still installed" in message
    assert "nothing was installed and nothing" not in message


def test_a_missing_dependency_of_the_build_is_not_called_requested(tmp_path: Path) -> None:
    """``nvidia-cuda-runtime`` pulled in by torch, not published: not "drop it from the
    requested packages" (the user never requested it) but what the index lacks (issue 23)."""
    (tmp_path / "torch").mkdir()
    request = Request(tmp_path.as_uri(), ("torch==2.9.0", "torchvision"))
    target = TargetEnv(tmp_path, Path("/nonexistent/python"), ())
    stderr = "ERROR: No matching distribution found for nvidia-cuda-runtime-cu12==12.9.79\n"
    line = explain_failure(stderr, request, target, "pip")
    assert line.startswith(
        f"{tmp_path.as_uri()} does not publish nvidia-cuda-runtime-cu12, which the requested"
        " build depends on"
    ), line
    assert "Drop it" not in line
    assert "--index-base URL" in line


def test_a_locked_file_no_longer_listed_says_lock_again(tmp_path: Path) -> None:
    """A replay of poetry-torch.lock whose file the index dropped: not "use another Python"."""
    request = Request("https://mirror.example/whl/cu129", ("torch==2.9.0+cu129",))
    target = TargetEnv(tmp_path, Path("/nonexistent/python"), ())
    stderr = "ERROR: No matching distribution found for torch==2.9.0+cu129\n"
    line = explain_failure(stderr, request, target, "pip", locked=True)
    assert line.startswith(
        "https://mirror.example/whl/cu129 no longer lists the locked torch==2.9.0+cu129 for"
    ), line
    assert "`poetry torch lock`" in line
    assert "another Python" not in line


def test_the_installers_reason_is_not_cut_mid_word() -> None:
    reason = "ERROR: " + " ".join(["dependency-resolution"] * 40) + "\n"
    line = explain_failure(reason, REQUEST, TARGET, "pip")
    shown = line.split("pip failed: ", 1)[1].split("; nothing was installed", 1)[0]
    assert shown.endswith("dependency-resolution …"), shown
    assert len(shown) <= 302


def test_clean_environment_drops_pip_settings() -> None:
    env = clean_environment(
        {
            "PIP_EXTRA_INDEX_URL": "http://evil",
            "PIP_FIND_LINKS": "/x",
            "PIP_CERT": "/ca.pem",
            "PIP_CACHE_DIR": "/cache/pip",
            "PATH": "/bin",
        }
    )
    assert env["PIP_CACHE_DIR"] == "/cache/pip"  # a second install is served from it
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert "PIP_FIND_LINKS" not in env
    assert env["PIP_CERT"] == "/ca.pem"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PATH"] == "/bin"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", {"PIP_TIMEOUT": "5", "PIP_RETRIES": "1", "UV_HTTP_TIMEOUT": "5"}),
        ("0.2", {"PIP_TIMEOUT": "1", "UV_HTTP_TIMEOUT": "1"}),
        ("2.6", {"PIP_TIMEOUT": "3", "UV_HTTP_RETRIES": "1"}),
    ],
)
def test_poetry_torch_timeout_reaches_pip_and_uv(value: str, expected: dict[str, str]) -> None:
    """A stalled download stops in about POETRY_TORCH_TIMEOUT (issue 12, item 21)."""
    from poetry_torch_plugin.installer.uv import uv_environment

    base = {"POETRY_TORCH_TIMEOUT": value, "PIP_TIMEOUT": "99", "PATH": "/bin"}
    for env in (clean_environment(base), uv_environment(base)):
        assert expected.items() <= env.items(), env


@pytest.mark.parametrize("value", ["", "soon", "inf", "nan"])
def test_no_timeout_or_garbage_leaves_the_installers_defaults(value: str) -> None:
    env = clean_environment({"POETRY_TORCH_TIMEOUT": value, "PATH": "/bin"})
    assert "PIP_TIMEOUT" not in env
    assert "UV_HTTP_TIMEOUT" not in env


def test_no_matching_distribution_without_a_page_says_not_published(tmp_path: Path) -> None:
    """pip's "No matching distribution" for a project the index has no page for (issue 12,
    item 27): a file:// index without that folder."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<a href='torch-2.9.0-py3-none-any.whl'>t</a>")
    request = Request(tmp_path.as_uri(), ("triton",))
    target = TargetEnv(tmp_path, Path("/nonexistent/python"), ())
    stderr = "ERROR: No matching distribution found for triton\n"
    line = explain_failure(stderr, request, target, "pip")
    assert line.startswith(f"triton is not published on {tmp_path.as_uri()}")
    torch_line = explain_failure(stderr.replace("triton", "torch==3.0"), request, target, "pip")
    assert torch_line.startswith("no wheel of torch==3.0 on")


def test_a_requested_package_the_index_lacks_suggests_the_install_without_it(
    tmp_path: Path,
) -> None:
    """The next step is a command the plugin accepts: the same variant, the other packages."""
    index = tmp_path / "cu129"
    for name in ("torch", "torchaudio"):
        (index / name).mkdir(parents=True)
        (index / name / "index.html").write_text(f"<a href='{name}-2.9.0-py3-none-any.whl'>t</a>")
    request = Request(index.as_uri(), ("torch==2.9.*", "torchvision", "torchaudio"))
    target = TargetEnv(tmp_path, Path("/nonexistent/python"), ())
    stderr = "ERROR: No matching distribution found for torchvision\n"
    line = explain_failure(stderr, request, target, "pip")
    assert line.startswith(f"torchvision is not published on {index.as_uri()}"), line
    assert (
        "Install without it (`poetry torch install --cuda 12.9 'torch==2.9.*' torchaudio`)" in line
    )
    assert "Drop it" not in line


@pytest.mark.parametrize("terminal", [True, False])
def test_pip_draws_bars_only_on_a_terminal(terminal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a terminal (CI) pip prints one line per downloaded file, no bar."""
    import io
    import sys

    from poetry_torch_plugin.installer.pip import PipBackend

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    monkeypatch.setattr(sys, "stdout", Stream())
    target = TargetEnv(Path("/venv"), Path("/venv/bin/python"), (Path("/venv/lib"),))
    command = PipBackend().command(target, Request("https://x/whl/cpu", ("torch",)))
    assert ("--progress-bar" in command) is not terminal
    assert command[-1] == "torch"


@pytest.mark.parametrize("compile_bytecode", [False, True])
def test_pip_compiles_bytecode_only_when_asked_as_poetry_does(compile_bytecode: bool) -> None:
    """pip's default compiles every installed .py file (torch: ~2,300); Poetry compiles only
    with ``--compile``, and so does the plugin: the install command says ``--no-compile``
    unless asked; resolving and downloading install nothing and say nothing about it."""
    from poetry_torch_plugin.installer.pip import PipBackend

    target = TargetEnv(Path("/venv"), Path("/venv/bin/python"), (Path("/venv/lib"),))
    request = Request("https://x/whl/cpu", ("torch",))
    backend = PipBackend(compile_bytecode=compile_bytecode)
    command = backend.command(target, request)
    assert ("--no-compile" in command) is not compile_bytecode
    assert ("--compile" in command) is compile_bytecode  # said, where --dry-run shows it
    for other in (
        backend.report_command(target, request, Path("/tmp/r")),
        backend.download_command(target, request, Path("/tmp/d")),
    ):
        assert "--no-compile" not in other and "--compile" not in other
