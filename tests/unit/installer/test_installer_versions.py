"""The same one line for every pip and uv a project may have: stderr texts recorded from pip
23.2.1, 25.1.1 (what Poetry 2.1's virtualenv seeds), 26.0.1 and uv 0.11.15 / 0.13.9 against
tests/support/index_server.py, and which pips resolve without downloading whole wheels."""

from __future__ import annotations

import sys

from pathlib import Path

import pytest

from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.index.pages import Listing
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.backend import explain_failure
from poetry_torch_plugin.installer.pip import PipBackend
from poetry_torch_plugin.installer.resolve import replay_failure
from poetry_torch_plugin.installer.select import wheelhouse_reason
from poetry_torch_plugin.installer.uv import UvBackend
from tests.unit.core.test_lockfile import sample_lock


TARGET = TargetEnv(Path("/nonexistent/venv"), Path("/nonexistent/venv/bin/python"), ())
# nothing listens on port 9: the "is it published at all" probe fails at once (= published)
INDEX = "http://127.0.0.1:9/whl/cu126"

# A wheel with flipped bytes, its index page intact: pip 23.2.1, 25.1.1 and 26.0.1 print this
# same text for `pip download`, for `pip install --dry-run --report` (all but 26.0.1, which does
# not download there) and for `pip install --require-hashes`.
PIP_TAMPERED = """ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered with them.
    unknown package:
        Expected sha256 26774c611ece308154f900d4f44c9de3f67df71f0455b5e1d86c8ab7c4d91374
             Got        7d85778d1647293ec933d976e8d661e16d3af5df5ad9c0318ef1b28775f034d0
"""

# `uv pip compile` of torch==2.8.0 + torchvision on an index with cp39 wheels only (cu126)
UV011_NO_WHEEL = """  \u00d7 No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because only torch==2.8.0+cu126 is available and torch==2.8.0+cu126
      has no wheels with a matching Python ABI tag (e.g., `cp311`), we can
      conclude that torch==2.8.0 cannot be used.
      And because you require torch==2.8.0, we can conclude that your
      requirements are unsatisfiable.

      hint: You require CPython 3.11 (`cp311`), but we only found wheels for
      `torch` (v2.8.0+cu126) with the following Python ABI tag: `cp39`
"""
UV013_NO_WHEEL = """error: No solution found when resolving dependencies
  cause: Because torch==2.8.0+cu126 has no wheels with a matching Python ABI tag (e.g., `cp311`) and there is no version of torch==2.8.0, we can conclude that all of:
             torch==2.8.0
             torch==2.8.0+cu126
          cannot be used.
         And because you require torch==2.8.0, we can conclude that your requirements are unsatisfiable.

hint: You require CPython 3.11 (`cp311`), but we only found wheels for `torch` (v2.8.0+cu126) with the following Python ABI tag: `cp39`
"""
UV011_NO_VERSION = """  \u00d7 No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because there is no version of torch==3.0 and you require torch==3.0, we
      can conclude that your requirements are unsatisfiable.
"""
UV013_NO_VERSION = """error: No solution found when resolving dependencies
  cause: Because there is no version of torch==3.0 and you require torch==3.0, we can conclude that your requirements are unsatisfiable.
"""
UV011_CONFLICT = """  \u00d7 No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because only torchvision>=0.23.0+cu129 is available and
      torchvision==0.23.0+cu129 depends on torch==2.8.0, we can conclude that
      torchvision==0.23.0 depends on torch==2.8.0.
      And because you require torch>=2.9 and torchvision==0.23.0, we can
      conclude that your requirements are unsatisfiable.
"""
UV013_CONFLICT = """error: No solution found when resolving dependencies
  cause: Because torchvision<=0.23.0+cu129 depends on torch==2.8.0 and you require torch>=2.9, we can conclude that your requirements and torchvision<=0.23.0+cu129 are incompatible.
         And because you require torchvision==0.23.0, we can conclude that your requirements are unsatisfiable.
"""
# `uv pip install --require-hashes` of a wheel with flipped bytes
UV011_TAMPERED = (
    "  \u00d7 Failed to download `torch==2.8.0+cpu`\n"
    "  \u251c\u2500\u25b6 Failed to extract archive: torch-2.8.0+cpu-py3-none-any.whl\n"
    "  \u251c\u2500\u25b6 I/O operation failed during extraction\n"
    "  \u2570\u2500\u25b6 deflate decompression error: invalid code lengths set\n"
)
UV013_TAMPERED = (
    "error: Failed to download `torch==2.8.0+cpu`\n"
    "  cause: Failed to extract archive: torch-2.8.0+cpu-py3-none-any.whl\n"
    "  cause: I/O operation failed during extraction\n"
    "  cause: deflate decompression error: invalid code lengths set\n"
)
# uv 0.11.15 on the device machine (docs/matrix-run-2026-12-02.md, run 1), another flipped byte
UV011_NOT_UTF8 = (
    "  \u00d7 Failed to download `torch==2.9.0+cu129`\n"
    "  \u2570\u2500\u25b6 ZIP local header filename at offset 603 does not use UTF-8 encoding\n"
)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ((UV011_NO_WHEEL, UV013_NO_WHEEL), "no wheel of torch==2.8.0+cu126 on"),
        ((UV011_NO_VERSION, UV013_NO_VERSION), "no wheel of torch==3.0 on"),
        ((UV011_CONFLICT, UV013_CONFLICT), "the requested packages conflict on"),
        ((UV011_TAMPERED, UV013_TAMPERED, UV011_NOT_UTF8), "does not match the index's sha256"),
    ],
)
def test_uv_0_11_and_0_13_get_the_same_line(texts: tuple[str, ...], expected: str) -> None:
    lines = [explain_failure(text, Request(INDEX, ("torch",)), TARGET, "uv") for text in texts]
    assert all(expected in line for line in lines), lines
    assert all("\n" not in line and "nothing was installed" in line for line in lines)


def test_uv_0_11_conflict_names_uvs_own_error_line() -> None:
    line = explain_failure(UV011_CONFLICT, Request(INDEX, ("torch",)), TARGET, "uv")
    assert "(No solution found when resolving dependencies)" in line


@pytest.mark.parametrize("text", [PIP_TAMPERED, UV011_TAMPERED, UV013_TAMPERED, UV011_NOT_UTF8])
def test_a_tampered_file_names_a_next_step_while_resolving_and_replaying(text: str) -> None:
    tool = "pip" if text is PIP_TAMPERED else "uv"
    resolving = explain_failure(text, Request(INDEX, ("torch",)), TARGET, tool)
    assert "does not match the index's sha256" in resolving
    assert "`poetry torch install --index-base URL`" in resolving
    replaying = str(replay_failure(text, sample_lock(), INDEX, TARGET, tool))
    assert "does not match its sha256 in poetry-torch.lock" in replaying
    assert "run `poetry torch lock` only if" in replaying


def _env_with_pip(root: Path, version: str | None) -> TargetEnv:
    site = root / "lib" / "site-packages"
    (site / "pip").mkdir(parents=True)
    if version is not None:
        (site / f"pip-{version}.dist-info").mkdir()
    return TargetEnv(root, root / "bin" / "python", (site,))


@pytest.mark.parametrize(
    ("version", "downloads"),
    [
        ("23.2.1", True),
        ("24.0", True),
        ("25.1.1", True),
        ("25.2", True),
        ("25.3", False),
        ("26.0.1", False),
        ("26.1.dev0", False),
        (None, True),  # a pip of unknown age: the wheelhouse works with every pip
    ],
)
def test_pips_before_25_3_download_while_resolving(
    tmp_path: Path, version: str | None, downloads: bool
) -> None:
    target = _env_with_pip(tmp_path, version)
    assert PipBackend().resolving_downloads(target) is downloads
    listing = Listing("torch", "https://mirror.example/whl/cpu/torch/", (), metadata=True)
    reason = wheelhouse_reason(listing, PipBackend(), target)
    if downloads:
        assert reason == f"{'pip ' + version if version else 'this pip'} downloads every wheel" + (
            " while resolving"
        )
    else:
        assert reason is None
    # uv resolves from metadata alone, whatever pip the environment has
    assert wheelhouse_reason(listing, UvBackend("/nonexistent/uv"), target) is None
    # without metadata every installer downloads: the wheelhouse, as before
    bare = Listing("torch", "https://mirror.example/whl/cpu/torch/", (), metadata=False)
    assert wheelhouse_reason(bare, UvBackend("/nonexistent/uv"), target) == (
        "it offers no PEP 658 metadata"
    )
    # a file:// index costs no network either way
    local = Listing("torch", "file:///srv/whl/cpu/torch/", (), metadata=True)
    assert wheelhouse_reason(local, PipBackend(), target) is None


def test_pip_version_of_a_real_environment() -> None:
    import pip

    site = Path(pip.__file__).parent.parent
    target = TargetEnv(Path(sys.prefix), Path(sys.executable), (site,))
    found = PipBackend().version(target)
    assert found is not None
    assert ".".join(map(str, found)) == pip.__version__
