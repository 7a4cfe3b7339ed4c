"""Issue 4's fault and bad-input matrix, end to end with the real poetry and the local index.

Every case runs against one project where cu129 is installed and configured, and asserts: the
exit code, a one-line error naming the next step, no traceback, pyproject.toml byte-identical,
the earlier build still installed and importable, and no secret anywhere in the output.

Every ``poetry`` run of every test in this file goes through one recorder (``_scan_outputs``):
it keeps stdout and stderr (``-vvv`` included) and, after each run, poetry-torch.lock, every
exported requirements file and every JSON report in the project; when the test ends, all of it
is scanned for the secret, in plain text, URL-quoted and inside a base64 basic-auth header
(issue 12, item 3).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import urllib.parse

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest

from tests.support.isolation import isolated_env
from tests.support.project import Project
from tests.support.project import pyproject_text


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from tests.support.index_server import IndexServer
    from tests.support.wheels import Universe

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "s3cret-Pa55-XYZ"
EARLIER = "2.9.0+cu129"
USERS = ("", "alice", "bob")


def secret_forms() -> list[str]:
    """The secret as it could leak: plain, URL-quoted, or in an ``Authorization: Basic`` value."""
    forms = {SECRET, urllib.parse.quote(SECRET, safe="")}
    for user in USERS:
        forms.add(base64.b64encode(f"{user}:{SECRET}".encode()).decode())
    return sorted(forms)


@dataclass
class Recorded:
    where: str
    text: str


@dataclass
class OutputRecorder:
    """Every output of this file's poetry runs, and the files they leave behind."""

    records: list[Recorded] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.records.append(Recorded(where, text))

    def add_files(self, root: Path, label: str) -> None:
        names = ["poetry-torch.lock", "*.txt", "*.json", "requirements*"]
        seen: set[Path] = set()
        for pattern in names:
            for path in sorted(root.glob(pattern)):
                if path.is_file() and path not in seen:
                    seen.add(path)
                    self.add(f"{label}: {path.name}", path.read_text(errors="replace"))

    def leaks(self) -> list[str]:
        forms = secret_forms()
        return [r.where for r in self.records if any(form in r.text for form in forms)]


RECORDER = OutputRecorder()


@pytest.fixture(autouse=True)
def _scan_outputs(monkeypatch: pytest.MonkeyPatch) -> Iterator[OutputRecorder]:
    """Records every output of the test's poetry runs, then asserts the secret is in none."""
    start = len(RECORDER.records)
    original_run = Project.run

    def recording_run(self: Project, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = original_run(self, *args, **kwargs)
        label = "poetry " + " ".join(args)
        pyproject = self.pyproject.read_text() if self.pyproject.is_file() else ""
        if "-vvv" in args and f":{SECRET}@" in pyproject:
            # A login the user wrote into a source URL is echoed by Poetry itself at -vvv
            # ("Adding repository … (http://user:password@…)"), before any plugin code runs.
            return result
        RECORDER.add(f"{label}: stdout", result.stdout)
        RECORDER.add(f"{label}: stderr", result.stderr)
        RECORDER.add_files(self.root, f"after {label}")
        return result

    monkeypatch.setattr(Project, "run", recording_run)
    yield RECORDER
    monkeypatch.undo()
    ran = RECORDER.records[start:]
    leaked = OutputRecorder(ran).leaks()
    assert leaked == [], f"the secret is in: {leaked}"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    expected: str
    env: dict[str, str] = field(default_factory=dict)
    # edits pyproject.toml before the run (restored afterwards); gets the text and the server
    edit: Callable[[str, IndexServer], str] | None = None
    fault: tuple[str, str] | None = None
    # edits poetry-torch.lock before the run (restored afterwards)
    lock_edit: Callable[[str], str] | None = None
    # stdout must be JSON whose "error" holds the same line (``check --json``)
    json_error: bool = False


def _append(extra: str) -> Callable[[str, IndexServer], str]:
    return lambda text, server: text + extra.replace("{base}", server.base)


def _replace(old: str, new: str) -> Callable[[str, IndexServer], str]:
    return lambda text, server: text.replace(old, new.replace("{base}", server.base))


CU129_SOURCE = 'name = "pytorch_cuda_cu129"'


def _lock_sub(pattern: str, new: str) -> Callable[[str], str]:
    return lambda text: re.sub(pattern, new, text, count=1)


def _form(*entries: str, tail: str = "") -> Callable[[str, IndexServer], str]:
    """Poetry's multiple-constraints form for torch, one entry per ``entries`` item (its source
    and markers), with the cu128 and cpu plugin sources beside the project's cu129 one."""
    listed = "".join(f'    {{version = "2.8.0", {entry}}},\n' for entry in entries)
    sources = "".join(
        f'\n[[tool.poetry.source]]\nname = "{name}"\nurl = "{{base}}/{variant}"\n'
        'priority = "explicit"\n'
        for name, variant in (("pytorch_cuda_cu128", "cu128"), ("pytorch_cpu", "cpu"))
    )
    header = "[tool.poetry]\npackage-mode = false\n"
    new = header + "\n[tool.poetry.dependencies]\ntorch = [\n" + listed + "]\n"
    return lambda text, server: (text.replace(header, new) + sources + tail).replace(
        "{base}", server.base
    )


def _newer_lock(version: str) -> Callable[[str], str]:
    """poetry-torch.lock as a newer plugin (9.1.0) would write it, in ``lock-version``
    ``version`` (issue 22, item 9)."""

    def edit(text: str) -> str:
        text = re.sub(
            r"written by poetry-torch-plugin \S+", "written by poetry-torch-plugin 9.1.0", text
        )
        return re.sub(r'lock-version = "[0-9.]+"', f'lock-version = "{version}"', text, count=1)

    return edit


NEWER = "poetry self add poetry-torch-plugin@latest"
SYNTHETIC = Path(__file__).resolve().parents[1] / "fixtures" / "synthetic"

X86 = "markers = \"sys_platform == 'linux' and platform_machine == 'x86_64'\""
ARM = "markers = \"sys_platform == 'linux' and platform_machine == 'aarch64'\""
MAC = "markers = \"sys_platform == 'darwin'\""


CASES = [
    Case("cuda-garbage", ("torch", "install", "--cuda", "banana"), "invalid --cuda value"),
    Case("cuda-empty", ("torch", "install", "--cuda", ""), "invalid --cuda value"),
    Case("cuda-partial", ("torch", "install", "--cuda", "12"), "invalid --cuda value"),
    Case("cuda-letters", ("torch", "install", "--cuda", "12.x"), "invalid --cuda value"),
    Case("cuda-shell", ("torch", "install", "--cuda", "12.9; rm -rf ~"), "invalid --cuda value"),
    Case("cuda-subst", ("torch", "install", "--cuda", "$(reboot)"), "invalid --cuda value"),
    Case("cuda-path", ("torch", "install", "--cuda", "../../etc/passwd"), "invalid --cuda value"),
    Case("cuda-newline", ("torch", "install", "--cuda", "12.9\nx"), "invalid --cuda value"),
    Case("rocm-garbage", ("torch", "install", "--rocm", "six"), "invalid --rocm value"),
    Case("two-variants", ("torch", "install", "--cuda", "12.8", "--cpu"), "exclude each other"),
    Case("unpublished-cuda", ("torch", "install", "--cuda", "11.7"), "HTTP 404"),
    Case("unpublished-cu130", ("torch", "install", "--cuda", "13.0"), "HTTP 404"),
    Case("unpublished-rocm", ("torch", "install", "--rocm", "6.4"), "HTTP 404"),
    Case(
        "index-down",
        ("torch", "install", "--cuda", "12.8", "--index-base", "http://127.0.0.1:9/whl"),
        "cannot reach the index",
    ),
    Case(
        "index-slow",
        ("torch", "install", "--cuda", "12.8"),
        "cannot reach the index",
        env={"POETRY_TORCH_TIMEOUT": "1"},
        fault=("/whl/cu128", "slow"),
    ),
    Case(
        "index-500", ("torch", "install", "--cuda", "12.8"), "HTTP 500", fault=("/whl/cu128", "500")
    ),
    Case(
        "index-html",
        ("torch", "install", "--cuda", "12.8"),
        "not a package index page",
        fault=("/whl/cu128", "html"),
    ),
    Case(
        "index-drops",
        ("torch", "install", "--cuda", "12.8"),
        "cannot reach the index",
        fault=("/whl/cu128", "drop"),
    ),
    Case(
        "hash-mismatch",
        ("torch", "install", "--cuda", "12.8"),
        "does not match",
        fault=("/whl/cu128", "tamper"),
    ),
    Case(
        "no-wheel-for-python", ("torch", "install", "--cuda", "12.6"), "torch has no wheel for cp3"
    ),
    Case("unsatisfiable", ("torch", "install", "torch==3.0"), "torch==3.0 matches no version on"),
    Case("bad-requirement", ("torch", "install", "torch>>>2"), "not a valid requirement"),
    Case("not-torch-family", ("torch", "install", "numpy"), "not a PyTorch-index package"),
    Case("direct-url", ("torch", "install", "torch @ https://evil.example/t.whl"), "direct URL"),
    Case(
        "plain-http-remote",
        ("torch", "install", "--cuda", "12.8", "--index-base", "http://mirror.example/whl"),
        "refusing plain http",
    ),
    Case(
        "bad-scheme",
        ("torch", "install", "--cuda", "12.8", "--index-base", "ftp://mirror.example/whl"),
        "unsupported URL scheme",
    ),
    Case(
        "malformed-toml",
        ("torch", "install"),
        "not valid TOML",
        edit=_append("\n[tool.poetry-torch\n"),
    ),
    Case(
        "unknown-key",
        ("torch", "install"),
        "unknown key 'pakages'",
        edit=_append('pakages = ["torch"]\n'),
    ),
    Case(
        "packages-not-family",
        ("torch", "install"),
        "not a PyTorch-index package",
        edit=_replace('packages = ["torch"', 'packages = ["numpy", "torch"'),
    ),
    Case(
        "two-sources",
        ("torch", "install"),
        "2 pytorch sources",
        edit=_append(
            '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu128"\nurl = "{base}/cu128"\n'
            'priority = "explicit"\n'
        ),
    ),
    Case(
        "two-sources-hook",
        ("lock",),
        "2 pytorch sources",
        edit=_append(
            '\n[[tool.poetry.source]]\nname = "pytorch_cuda_cu128"\nurl = "{base}/cu128"\n'
            'priority = "explicit"\n'
        ),
    ),
    Case(
        "non-explicit-priority-hook",
        ("lock",),
        "priority 'supplemental'",
        edit=_replace(
            '/whl/cu129"\npriority = "explicit"', '/whl/cu129"\npriority = "supplemental"'
        ),
    ),
    Case(
        "credentials-in-url-refused",
        ("torch", "install", "--cuda", "12.8"),
        "refused access (HTTP 401)",
        edit=_replace("http://127.0.0.1", f"http://bob:{SECRET}@127.0.0.1"),
        fault=("auth", "/whl/cu128"),
    ),
    Case(
        "wrong-poetry-credentials",
        ("torch", "install", "--cuda", "12.8"),
        "refused access (HTTP 401)",
        env={
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME": "bob",
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_PASSWORD": SECRET,
        },
        fault=("auth", "/whl/cu128"),
    ),
    Case(
        "allow-http-false",
        ("torch", "install", "--cuda", "12.8", "--index-base", "http://mirror.example/whl"),
        "refusing plain http",
        env={"POETRY_TORCH_ALLOW_HTTP": "false"},
    ),
    Case(
        "allow-http-garbage",
        ("torch", "install", "--cuda", "12.8", "--index-base", "http://mirror.example/whl"),
        "POETRY_TORCH_ALLOW_HTTP='maybe' is not a boolean",
        env={"POETRY_TORCH_ALLOW_HTTP": "maybe"},
    ),
    Case(
        "skip-garbage-hook",
        ("install",),
        "POETRY_TORCH_SKIP='sometimes' is not a boolean",
        env={"POETRY_TORCH_SKIP": "sometimes"},
    ),
    Case(
        "packages-empty",
        ("torch", "install"),
        "packages is empty",
        edit=lambda text, server: re.sub(r"packages = \[[^\]]*\]", "packages = []", text),
    ),
    Case(
        "packages-marker",
        ("torch", "install"),
        "environment marker",
        edit=_replace('packages = ["torch"', "packages = [\"torch; sys_platform == 'linux'\""),
    ),
    Case(
        "packages-marker-hook",
        ("install",),
        "environment marker",
        edit=_replace('packages = ["torch"', "packages = [\"torch; sys_platform == 'linux'\""),
    ),
    Case(
        "packages-twice",
        ("torch", "install"),
        "torch is given twice",
        edit=_replace('packages = ["torch"', 'packages = ["torch==2.9.0", "torch==2.8.0"'),
    ),
    Case(
        "requirement-twice",
        ("torch", "install", "torch==2.8.0", "torch==2.7.1"),
        "torch is given twice",
    ),
    Case(
        "marker-on-command-line",
        ("torch", "install", "torch>=2.8; python_version >= '3.9'"),
        "environment marker",
    ),
    Case(
        "lock-version-edited",
        ("torch", "lock", "--check"),
        "is not a file of torch 2.9.1+cu129",
        lock_edit=_lock_sub(r'version = "2\.9\.0\+cu129"', 'version = "2.9.1+cu129"'),
    ),
    Case(
        "lock-hash-edited",
        ("torch", "export"),
        "no well-formed sha256 hash",
        lock_edit=_lock_sub(r'"sha256:[0-9a-f]{64}"', '"sha256:0123"'),
    ),
    Case(
        "lock-garbage-hash-lock-check",
        ("torch", "lock", "--check"),
        "no well-formed sha256 hash",
        lock_edit=_lock_sub(r'"sha256:[0-9a-f]{64}"', '"sha256:' + "g" * 64 + '"'),
    ),
    Case(
        "check-json-outside-project",
        ("torch", "check", "--json", "--directory", "/"),
        "no pyproject.toml in /",
        json_error=True,
    ),
    Case(
        "installer-number",
        ("torch", "install"),
        "installer = 5 is not one of",
        edit=_replace('packages = ["torch"', 'installer = 5\npackages = ["torch"'),
    ),
    Case(
        "conflict-on-command-line",
        ("torch", "install", "torch==2.9.0", "torchvision==0.23.0"),
        "the requested packages conflict",
    ),
    Case(
        "unpublished-package",
        ("torch", "install", "torch", "triton"),
        "triton is not published on",
    ),
    Case(
        "foreign-builds",
        ("torch", "install", "--upgrade"),
        "serves torch 2.8.0+cu128, torchaudio 2.8.0+cu128, torchvision 0.23.0+cu128 (cu128 builds)",
        fault=("alias", "cu128"),
    ),
    Case(
        "query-string-url",
        ("torch", "install"),
        "has a query string (?…), which no package index URL can carry",
        edit=_replace('/whl/cu129"', '/whl/cu129?token=abc"'),
    ),
    Case(
        "solver-index-404",
        ("lock",),
        "so Poetry's solver could not read the configured torch build; `poetry lock` stopped",
        edit=lambda text, server: text.replace("cu129", "cu128"),
        fault=("/whl/cu128/", "404"),
    ),
    Case(
        "solver-index-down",
        ("lock",),
        "cannot reach the index",
        edit=lambda text, server: text.replace("cu129", "cu128"),
        fault=("/whl/cu128/", "drop"),
    ),
    Case(
        "multiple-constraints-versions",
        ("torch", "install"),
        "lists alternative versions",
        edit=_replace(
            "[tool.poetry]\npackage-mode = false\n",
            "[tool.poetry]\npackage-mode = false\n\n[tool.poetry.dependencies]\ntorch = [\n"
            '    {version = "^2.8.0", python = ">=3.10"},\n'
            '    {version = "2.8.0", python = "<3.10"},\n]\n',
        ),
    ),
    Case(
        "no-source-at-all",
        ("torch", "install"),
        "no pytorch source",
        edit=lambda text, server: text.split('[[tool.poetry.source]]\nname = "pytorch')[0],
    ),
    Case(
        "poetry-form-no-source",
        ("torch", "install"),
        "torch entry 2 names no source, so on linux-aarch64",
        edit=_form(f'source = "pytorch_cuda_cu129", {X86}', ARM),
    ),
    Case(
        "poetry-form-foreign-source",
        ("torch", "install"),
        "names the source 'nightly', which is not one of the plugin's",
        edit=_form(f'source = "pytorch_cuda_cu129", {X86}', f'source = "nightly", {ARM}'),
    ),
    Case(
        "poetry-form-undeclared-source",
        ("lock",),
        "names the source 'pytorch_cuda_cu126', which no [[tool.poetry.source]] declares",
        edit=_form(f'source = "pytorch_cuda_cu126", {X86}'),
    ),
    Case(
        "poetry-form-no-machine-kind",
        ("torch", "install"),
        "applies to no machine kind the plugin knows",
        edit=_form('source = "pytorch_cuda_cu129", markers = "sys_platform == \'freebsd\'"'),
    ),
    Case(
        "poetry-form-one-kind-two-builds",
        ("install",),
        "torch entry 1 (cu129) and [tool.poetry.dependencies] torch entry 2 (cu128) both apply"
        " to linux-aarch64",
        edit=_form(
            'source = "pytorch_cuda_cu129", markers = "sys_platform == \'linux\'"',
            f'source = "pytorch_cuda_cu128", {ARM}',
        ),
    ),
    Case(
        "poetry-form-macos-cuda",
        ("torch", "install"),
        "PyTorch publishes only the cpu build (with MPS) for macOS",
        edit=_form(
            f'source = "pytorch_cuda_cu129", {X86}', f'source = "pytorch_cuda_cu128", {MAC}'
        ),
    ),
    Case(
        "poetry-form-unreadable-markers",
        ("torch", "install"),
        "that cannot be read",
        edit=_form('source = "pytorch_cuda_cu129", markers = "sys_platform = \'linux\'"'),
    ),
    Case(
        "poetry-form-unevaluable-markers",
        ("torch", "install"),
        "that cannot be evaluated",
        edit=_form('source = "pytorch_cuda_cu129", markers = "platform_release ~= \'x\'"'),
    ),
    Case(
        "poetry-form-targets-disagree",
        ("torch", "install"),
        '[tool.poetry-torch.targets] linux = "cpu" and [tool.poetry.dependencies] torch entry 1'
        ' ("cu129") disagree on linux-x86_64',
        edit=_form(
            f'source = "pytorch_cuda_cu129", {X86}',
            tail='\n[tool.poetry-torch.targets]\nlinux = "cpu"\n',
        ),
    ),
    Case(
        "poetry-form-switch",
        ("torch", "install", "--cuda", "12.8"),
        "form (committed source pytorch_cuda_cu129), which `poetry torch install` does not rewrite",
        edit=_form(
            f'source = "pytorch_cuda_cu129", {X86}',
            f'source = "pytorch_cuda_cu128", {ARM}',
            f'source = "pytorch_cpu", {MAC}',
        ),
    ),
    # issue 14, items 3 and 4: the universal lock (a machine-local choice replays only its entry)
    Case(
        "local-choice-not-locked",
        ("torch", "install"),
        "holds no cu128 build for linux-x86_64",
        env={"POETRY_TORCH_VARIANT": "cu128"},
    ),
    Case(
        "local-choice-not-locked-hook",
        ("install",),
        "Run `poetry torch lock --add-variant cu128` to lock it",
        env={"POETRY_TORCH_VARIANT": "cu128"},
    ),
    Case(
        "add-variant-not-a-variant",
        ("torch", "lock", "--add-variant", "gpu"),
        "--add-variant = 'gpu' is not a PyTorch variant",
    ),
    Case("add-variant-auto", ("torch", "lock", "--add-variant", "auto"), "names no variant"),
    Case(
        "lock-check-targets-changed",
        ("torch", "lock", "--check"),
        "was written for other targets than pyproject.toml lists",
        edit=_append('\n[tool.poetry-torch.targets]\nmacos = "cpu"\n'),
    ),
    Case(
        "lock-targets-without-uv",
        ("torch", "lock"),
        "locking other platforms needs uv 0.5 or newer",
        env={"PATH": "/nonexistent-poetry-torch-test"},
        edit=_append('\n[tool.poetry-torch.targets]\nmacos = "cpu"\n'),
    ),
    Case(
        "export-unknown-target",
        ("torch", "export", "--target", "windows"),
        "holds nothing for target 'windows' (it has: default)",
    ),
    # issue 22, item 9: a newer plugin's lock, Poetry's major.minor style included
    Case(
        "lock-newer-minor-install",
        ("torch", "install"),
        "has lock-version 2.1, written by poetry-torch-plugin 9.1.0",
        lock_edit=_newer_lock("2.1"),
    ),
    Case(
        "lock-newer-major-hook",
        ("install",),
        "has lock-version 3.0, written by poetry-torch-plugin 9.1.0",
        lock_edit=_newer_lock("3.0"),
    ),
    Case(
        "lock-newer-check",
        ("torch", "check"),
        "has lock-version 3.0, written by poetry-torch-plugin 9.1.0; this poetry-torch-plugin",
        lock_edit=_newer_lock("3.0"),
    ),
    Case(
        "lock-newer-export",
        ("torch", "export"),
        NEWER,
        lock_edit=_newer_lock("2.1"),
    ),
    Case(
        "lock-newer-wheelhouse",
        ("torch", "wheelhouse", "wheels"),
        NEWER,
        lock_edit=_newer_lock("3"),
    ),
    Case(
        "exact-release-arch",
        ("torch", "install", "--cuda", "12.8"),
        "(torch 2.8.0 on the index) cannot run on this machine",
        env={"POETRY_TORCH_FAKE_MACHINE": str(SYNTHETIC / "fake-machine-gtx1080ti.json")},
    ),
    # issue 22, item 10: one decision for the whole team lock
    Case(
        "switch-against-target",
        ("torch", "install", "--cuda", "12.8"),
        'asks for cu128, but [tool.poetry-torch.targets] linux-x86_64 = "cu129" chooses this'
        " machine's build; nothing was changed. Run `poetry torch install --cuda 12.8 --for"
        " linux-x86_64`",
        edit=_append('\n[tool.poetry-torch.targets]\nlinux-x86_64 = "cu129"\n'),
    ),
    Case(
        "lock-check-local-choice-not-locked",
        ("torch", "lock", "--check"),
        "holds no cu128 build for linux-x86_64",
        env={"POETRY_TORCH_VARIANT": "cu128"},
    ),
]


@pytest.fixture(scope="module")
def matrix_project(
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,
) -> Iterator[Project]:
    server = _index_server_session
    root = tmp_path_factory.mktemp("matrix") / "demo"
    root.mkdir()
    root.joinpath("pyproject.toml").write_text(pyproject_text(server.pypi_url))
    env = isolated_env(root.parent / "home")
    env["POETRY_TORCH_INDEX_BASE"] = server.base
    env["POETRY_HTTP_BASIC_PYTORCH_CUDA_CU129_PASSWORD"] = SECRET  # must never be printed
    project = Project(root, poetry_bin, env)
    project.run("torch", "install", "--cuda", "12.9")
    project.run("lock")
    yield project


@pytest.mark.xdist_group("matrix_project")  # shares a module-scoped project
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault_matrix(case: Case, matrix_project: Project, index_server: IndexServer) -> None:
    project = matrix_project
    original = project.pyproject.read_bytes()
    original_lock = project.lock.read_bytes()
    torch_lock = project.root / "poetry-torch.lock"
    original_torch_lock = torch_lock.read_bytes()
    if case.lock_edit is not None:
        edited = case.lock_edit(original_torch_lock.decode())
        assert edited != original_torch_lock.decode()
        torch_lock.write_text(edited)
    if case.edit is not None:
        project.pyproject.write_text(case.edit(original.decode(), index_server))
    before = project.pyproject.read_bytes()
    if case.fault is not None:
        prefix, mode = case.fault
        if prefix == "auth":
            index_server.require_auth(mode, "alice", "right-password")
        elif prefix == "alias":
            index_server.serve_as("cu129", mode)  # /whl/cu129/ hands out another variant's
        else:
            index_server.set_fault(prefix, mode)  # type: ignore[arg-type]
    lock_before = torch_lock.read_bytes()
    asked = len(index_server.requests)
    verbose = None
    try:
        result = project.run(*case.args, check=False, extra_env=case.env, timeout=120)
        # -vvv again where the run reached an index (where credentials are used, and the
        # verbose lines name URLs): a refusal before any request has no more to say at -vvv
        # (our errors are one line at every verbosity, CleoUserError or the command's own)
        if len(index_server.requests) > asked or case.fault is not None or case.env:
            verbose = project.run(*case.args, "-vvv", check=False, extra_env=case.env, timeout=120)
    finally:
        index_server.reset()
        after = project.pyproject.read_bytes()
        lock_after = torch_lock.read_bytes()
        project.pyproject.write_bytes(original)
        project.lock.write_bytes(original_lock)
        torch_lock.write_bytes(original_torch_lock)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, output
    line = errors[0]
    assert case.expected in line, line
    assert "poetry " in line or "Run " in line or "run " in line or "Fix " in line, line
    assert after == before
    if case.lock_edit is not None:  # a lock the command refused stays as it was
        assert lock_after == lock_before
    assert project.version_of("torch") == EARLIER
    assert project.python("import torch; print(torch.__version__)") == EARLIER
    if verbose is not None:
        assert "Traceback" not in verbose.stdout + verbose.stderr
    if case.json_error:
        import json

        data = json.loads(result.stdout)
        assert data["ok"] is False
        assert data["error"] in line
    # the secret: _scan_outputs scans both runs (and the files they left) when the case ends


def test_hostile_pip_configuration_does_not_change_what_is_installed(
    project: Project, index_server: IndexServer, tmp_path: Path
) -> None:
    """pip.conf and PIP_* point at the PyPI stand-in, which serves torch 2.9.0 > 2.8.0+cu128."""
    hostile = tmp_path / "pip.conf"
    hostile.write_text(
        f"[global]\nextra-index-url = {index_server.pypi_url}\nfind-links = {tmp_path}\n"
        "pre = true\n[install]\nupgrade = true\n"
    )
    env = {
        "PIP_CONFIG_FILE": str(hostile),
        "PIP_EXTRA_INDEX_URL": index_server.pypi_url,
        "PIP_INDEX_URL": index_server.pypi_url,
    }
    project.run("torch", "install", "--cuda", "12.8", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cu128"
    assert not index_server.requested("/pypi/simple/torch")
    assert not index_server.requested("/pypi/files/torch")


@pytest.mark.smoke
def test_credentials_reach_pip_but_never_the_output(
    project: Project, index_server: IndexServer
) -> None:
    index_server.require_auth("/whl/cu128", "alice", SECRET)
    env = {
        "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME": "alice",
        "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_PASSWORD": SECRET,
    }
    result = project.run("torch", "install", "--cuda", "12.8", "-vvv", extra_env=env)
    assert project.version_of("torch") == "2.8.0+cu128"
    assert SECRET not in result.stdout + result.stderr
    assert SECRET not in project.pyproject.read_text()
    dry = project.run("torch", "install", "--dry-run", extra_env=env)
    assert SECRET not in dry.stdout + dry.stderr
    # the login travels in the environment, not argv; --dry-run shows it masked
    assert f"PIP_INDEX_URL={index_server.base.replace('://', '://alice:***@')}/cu128 " in dry.stdout


def test_login_is_not_forwarded_across_a_redirect(
    project: Project, index_server: IndexServer, index_universe: Universe
) -> None:
    """The index asks for a login, then redirects its pages to another origin (a CDN on
    another port): the login goes to the index only, never to the CDN (issue 12, item 1)."""
    from tests.support.index_server import IndexServer

    with IndexServer(index_universe.root) as cdn:
        index_server.require_auth("/whl/cu128", "alice", SECRET)
        index_server.redirect("/whl/cu128/", cdn.url)
        env = {
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME": "alice",
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_PASSWORD": SECRET,
        }
        result = project.run("torch", "install", "--cuda", "12.8", extra_env=env, check=False)
        probes = [r for r in cdn.requested("/whl/cu128/torch/") if "urllib" in r.agent]
        leaked = [r for r in cdn.requests if r.authorization]
    assert probes, result.stdout + result.stderr  # the plugin's probe did follow the redirect
    assert leaked == []
    assert any(r.authorization for r in index_server.requested("/whl/cu128/"))
    assert SECRET not in result.stdout + result.stderr


def test_file_index_is_an_offline_wheelhouse(
    project: Project, index_universe: Universe, tmp_path: Path
) -> None:
    """``--index-base file:///…``: a PEP 503 tree on disk, no server (issue 12, item 9)."""
    from tests.support.wheels import write_static_index

    house = tmp_path / "wheelhouse"
    write_static_index(index_universe.root / "whl" / "cu128", house / "cu128")
    project.run("torch", "install", "--cuda", "12.8", "--index-base", house.as_uri())
    assert project.version_of("torch") == "2.8.0+cu128"
    assert f'url = "{house.as_uri()}/cu128"' in project.pyproject.read_text()
    project.uninstall("torch")
    project.run("install")  # the hook reinstalls from the same folder
    assert project.version_of("torch") == "2.8.0+cu128"
    missing = project.run(
        "torch", "install", "--cuda", "12.9", "--index-base", house.as_uri(), check=False
    )
    assert missing.returncode == 1
    assert "does not publish torch" in missing.stderr
    assert "cannot reach" not in missing.stderr


@pytest.mark.usefixtures("cu129_installed")
def test_skip_false_means_the_hook_runs(project: Project) -> None:
    """``POETRY_TORCH_SKIP=false`` is false, as Poetry reads booleans (issue 12, item 4)."""
    project.uninstall("torch")
    project.run("install", extra_env={"POETRY_TORCH_SKIP": "False"})
    assert project.version_of("torch") == EARLIER
    project.uninstall("torch")
    project.run("install", extra_env={"POETRY_TORCH_SKIP": "yes"})
    assert project.version_of("torch") is None


def test_login_in_index_base_is_used_but_never_written(
    project: Project, index_server: IndexServer
) -> None:
    """``--index-base http://alice:<secret>@…``: the install and the hook use the login, no file
    gets it, and one line says how to store it the Poetry way (issue 12, item 2)."""
    index_server.require_auth("/whl/cu128", "alice", SECRET)
    with_login = index_server.base.replace("http://", f"http://alice:{SECRET}@")
    result = project.run("torch", "install", "--cuda", "12.8", "--index-base", with_login, "-vvv")
    output = result.stdout + result.stderr
    assert project.version_of("torch") == "2.8.0+cu128"
    assert "poetry config http-basic.pytorch_cuda_cu128 USER" in output
    assert "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME" in output
    assert f'url = "{index_server.base}/cu128"' in project.pyproject.read_text()
    assert SECRET not in output
    # the hook, with the same login in POETRY_TORCH_INDEX_BASE, puts a removed build back
    project.uninstall("torch")
    hook = project.run("install", extra_env={"POETRY_TORCH_INDEX_BASE": with_login})
    assert project.version_of("torch") == "2.8.0+cu128"
    assert SECRET not in hook.stdout + hook.stderr
    written = [
        path
        for path in project.root.rglob("*")
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]
    assert written == []


def test_sources_as_an_inline_array(project: Project, index_server: IndexServer) -> None:
    """``source = [{...}]`` (valid TOML, valid for Poetry): the plugin adds and switches its
    source inside the inline array (issue 12, item 7)."""
    text = project.pyproject.read_text()
    head, _, _ = text.partition("[[tool.poetry.source]]")
    project.pyproject.write_text(
        head.replace(
            "package-mode = false\n",
            "package-mode = false\nsource = [\n"
            f'    {{ name = "fakepypi", url = "{index_server.pypi_url}", priority = "primary" }},'
            "  # the PyPI stand-in\n]\n",
        )
    )
    project.run("torch", "install", "--cuda", "12.9")
    project.run("install")
    assert project.version_of("torch") == EARLIER
    project.run("torch", "install", "--cuda", "12.8")
    assert project.version_of("torch") == "2.8.0+cu128"
    written = project.pyproject.read_text()
    assert "[[tool.poetry.source]]" not in written
    assert "# the PyPI stand-in" in written
    assert 'name = "pytorch_cuda_cu128"' in written
    assert "pytorch_cuda_cu129" not in written
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_locked")
@pytest.mark.parametrize("version", ["2.1", "3.0"])
def test_newer_lock_format_is_refused_not_rewritten(project: Project, version: str) -> None:
    """A poetry-torch.lock from a newer plugin (Poetry's major.minor style: 2.1, 3.0) is never
    read nor rewritten: every command that reads it (install in each form, the hook after
    `poetry install` and `poetry lock`, check, lock, export, wheelhouse) exits 1 in one line
    naming its writer and the upgrade; pyproject.toml, poetry.lock and the lock stay
    byte-identical, no wheelhouse folder appears, the build stays (issue 12, item 10; issue
    22, item 9).  Every command reads the lock through one format check (unit-tested for each
    version form in tests/unit/core/test_lockfile.py): 2.1, the newer minor a major-only check
    would let through, goes through every command; 3.0 through one of each kind (the plugin's
    own, the hook's)."""
    lock = project.root / "poetry-torch.lock"
    newer = _newer_lock(version)(lock.read_text())
    assert f'lock-version = "{version}"' in newer
    lock.write_text(newer)
    files = {path: path.read_bytes() for path in (project.pyproject, project.lock, lock)}
    commands: tuple[tuple[str, ...], ...] = (
        ("torch", "install"),
        ("torch", "install", "--cuda", "12.8"),
        ("torch", "install", "--upgrade"),
        ("torch", "install", "--dry-run"),
        ("install",),
        ("lock",),
        ("torch", "check"),
        ("torch", "check", "--json"),
        ("torch", "lock"),
        ("torch", "lock", "--check"),
        ("torch", "export", "-o", "requirements-torch.txt"),
        ("torch", "wheelhouse", "wheels"),
    )
    if version != "2.1":
        commands = (("torch", "install", "--cuda", "12.8"), ("install",))
    for args in commands:
        result = project.run(*args, check=False)
        errors = _errors(result.stderr)
        assert result.returncode == 1, (args, result.stdout + result.stderr)
        assert len(errors) == 1, (args, errors)
        assert errors[0].startswith("poetry-torch: poetry-torch.lock has lock-version"), errors
        assert f"has lock-version {version}, written by poetry-torch-plugin 9.1.0;" in errors[0]
        assert "reads lock-version 2 and older; nothing was changed" in errors[0]
        assert "Upgrade the plugin (`poetry self add poetry-torch-plugin@latest`)" in errors[0]
        if args[0] != "torch":  # the hook stops the Poetry command before it runs
            assert f"The command `poetry {args[0]}` was not run." in errors[0]
        assert "Traceback" not in result.stdout + result.stderr
        assert {path: path.read_bytes() for path in files} == files, args
        assert not (project.root / "requirements-torch.txt").exists()
        assert not (project.root / "wheels").exists()
        assert project.version_of("torch") == EARLIER
    # a machine-local choice does not replay the committed lock, yet it stops too
    local = project.run("lock", check=False, extra_env={"POETRY_TORCH_VARIANT": "cu128"})
    assert local.returncode == 1, local.stdout + local.stderr
    [line] = _errors(local.stderr)
    assert "The command `poetry lock` was not run." in line and NEWER in line, line
    assert {path: path.read_bytes() for path in files} == files


@pytest.mark.usefixtures("cu129_installed")
def test_read_only_pyproject_is_refused_before_any_download(
    project: Project, index_server: IndexServer
) -> None:
    """pyproject.toml at 0444 (as root too): refused before a wheel is fetched; a command that
    does not need to edit it still works (issue 12, item 13)."""
    before = project.pyproject.read_bytes()
    project.pyproject.chmod(0o444)
    try:
        index_server.clear_log()
        result = project.run("torch", "install", "--cuda", "12.8", check=False)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1, result.stdout + result.stderr
        assert len(errors) == 1, errors
        assert "pyproject.toml is read-only (mode 0444); nothing was downloaded" in errors[0]
        assert "chmod u+w pyproject.toml" in errors[0]
        assert not index_server.requested("/whl/cu128/")
        assert project.pyproject.read_bytes() == before
        assert project.pyproject.stat().st_mode & 0o777 == 0o444
        assert project.version_of("torch") == EARLIER
        project.run("torch", "install")  # no edit needed: allowed
        assert project.version_of("torch") == EARLIER
    finally:
        project.pyproject.chmod(0o644)


@pytest.mark.parametrize("login_in", ["poetry-config", "index-base"])
def test_no_secret_in_any_output_or_file(
    project: Project, index_server: IndexServer, login_in: str
) -> None:
    """The index wants a login; every command that prints or writes something runs, at normal
    verbosity and at -vvv: the secret is in no output, in poetry-torch.lock, in the exported
    requirements, in the JSON report, nor in any file of the project, venv included (issue 12,
    item 3). ``_scan_outputs`` scans the outputs; this test adds the project's files."""
    index_server.require_auth("/whl/cu128", "alice", SECRET)
    env: dict[str, str] = {}
    if login_in == "poetry-config":
        env = {
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_USERNAME": "alice",
            "POETRY_HTTP_BASIC_PYTORCH_CUDA_CU128_PASSWORD": SECRET,
        }
    else:
        env = {"POETRY_TORCH_INDEX_BASE": index_server.base.replace("//", f"//alice:{SECRET}@")}
    commands: list[tuple[str, ...]] = [
        ("torch", "install", "--cuda", "12.8", "-vvv"),
        ("torch", "install", "--dry-run", "-vvv"),
        ("lock", "-vvv"),
        ("torch", "lock", "-vvv"),
        ("torch", "lock", "--check", "-vvv"),
        ("torch", "export"),
        ("torch", "export", "-o", "requirements-torch.txt", "-vvv"),
        ("torch", "check", "--json"),
        ("torch", "check", "-vvv"),
        ("install", "-vvv"),
    ]
    for args in commands:
        result = project.run(*args, extra_env=env, check=False)
        assert "Traceback" not in result.stdout + result.stderr, (args, result.stderr)
        assert result.returncode in (0, 1), (args, result.stdout + result.stderr)
    project.uninstall("torch")
    project.run("install", "-vvv", extra_env=env)  # the hook reinstalls with the login
    assert project.version_of("torch") == "2.8.0+cu128"
    assert (project.root / "requirements-torch.txt").is_file()
    forms = [form.encode() for form in secret_forms()]
    written = [
        str(path.relative_to(project.root))
        for path in project.root.rglob("*")
        if path.is_file() and not path.is_symlink() and any(f in path.read_bytes() for f in forms)
    ]
    assert written == []


@pytest.mark.usefixtures("cu129_installed")
def test_hand_edited_lock_fix_that_check_names_works(project: Project) -> None:
    """A hand-edited version in poetry-torch.lock: ``lock --check``, ``export`` and ``check``
    all call it unreadable and name ``poetry torch lock``, which does repair it (issue 12,
    item 11)."""
    lock = project.root / "poetry-torch.lock"
    good = lock.read_text()
    lock.write_text(good.replace('version = "2.9.0+cu129"', 'version = "2.9.0+cu128"', 1))
    for args in (("torch", "lock", "--check"), ("torch", "export")):
        result = project.run(*args, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "is not a file of torch 2.9.0+cu128" in result.stderr
        assert "Run `poetry torch lock` to write it again." in result.stderr
    check = project.run("torch", "check", check=False)
    assert "poetry torch lock" in check.stdout + check.stderr
    project.run("torch", "lock")
    assert lock.read_text() == good
    project.run("torch", "lock", "--check")
    # torch install says the lock is unreadable, resolves afresh and writes it whole
    lock.write_text(good.replace('version = "2.9.0+cu129"', 'version = "2.9.0+cu128"', 1))
    result = project.run("torch", "install")
    assert "poetry-torch.lock cannot be read (" in result.stdout
    assert "resolving afresh to replace it" in result.stdout
    assert lock.read_text() == good
    assert project.version_of("torch") == EARLIER


def test_the_recorder_finds_a_leak() -> None:
    """The central scan is not vacuous: each form of the secret is caught."""
    for form in secret_forms():
        assert OutputRecorder([Recorded("x", f"a {form} b")]).leaks() == ["x"]
    assert OutputRecorder([Recorded("x", "alice:***@127.0.0.1")]).leaks() == []


@pytest.mark.usefixtures("cu129_installed")
def test_symlinked_pyproject_is_written_through(project: Project) -> None:
    """pyproject.toml is a link into a shared folder: the switch rewrites the target, atomically,
    and the link stays a link (issue 12, item 12)."""
    shared = project.root.parent / "shared-config"
    shared.mkdir()
    target = shared / "pyproject.toml"
    target.write_bytes(project.pyproject.read_bytes())
    project.pyproject.unlink()
    project.pyproject.symlink_to(Path("..") / "shared-config" / "pyproject.toml")
    project.run("torch", "install", "--cuda", "12.8")
    assert project.pyproject.is_symlink()
    assert project.pyproject.readlink() == Path("..") / "shared-config" / "pyproject.toml"
    assert 'name = "pytorch_cuda_cu128"' in target.read_text()
    assert project.version_of("torch") == "2.8.0+cu128"
    assert sorted(p.name for p in shared.iterdir()) == ["pyproject.toml"]  # no temp file left
    project.run("install")  # Poetry reads it through the link too
    assert project.version_of("torch") == "2.8.0+cu128"


def test_crlf_pyproject_keeps_its_endings_and_comments(project: Project) -> None:
    """A Windows-edited pyproject.toml (CRLF, no final newline, comments): the switch writes
    CRLF only, keeps every comment, and Poetry reads the result (issue 12, item 16)."""
    text = project.pyproject.read_text().rstrip("\n") + "  # an app, not a library"
    project.pyproject.write_bytes(text.replace("\n", "\r\n").encode())
    project.run("torch", "install", "--cuda", "12.9")
    project.run("torch", "install", "--cuda", "12.8")
    written = project.pyproject.read_bytes().decode()
    assert "\n" not in written.replace("\r\n", ""), repr(written)
    for comment in ("# A demo project", "# the stand-in for PyPI", "# an app, not a library"):
        assert comment in written
    assert "\r\n\r\n\r\n" not in written
    assert "\r\n\r\n[[tool.poetry.source]]" in written
    assert "\r\n\r\n[tool.poetry-torch]" in written
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_installed")
def test_stalled_download_stops_in_about_the_timeout(
    project: Project, index_server: IndexServer
) -> None:
    """The wheel downloads stall (the pages answer): with POETRY_TORCH_TIMEOUT=2, pip gives up
    after about that long (one retry), not after 15 s x 5; one line, the earlier build kept
    (issue 12, item 21)."""
    import time

    index_server.set_fault("/whl/cu128/torch-", "slow", delay=120)
    started = time.monotonic()
    result = project.run(
        "torch",
        "install",
        "--cuda",
        "12.8",
        check=False,
        extra_env={"POETRY_TORCH_TIMEOUT": "2"},
        timeout=200,
    )
    took = time.monotonic() - started
    index_server.reset()
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(errors) == 1, errors
    assert "Traceback" not in result.stdout + result.stderr
    assert took < 60, (took, errors)
    assert project.version_of("torch") == EARLIER


def test_switch_keeps_a_mirror_given_only_in_the_source_url(
    project: Project, index_server: IndexServer
) -> None:
    """The mirror is only in the source URL (no --index-base, no POETRY_TORCH_INDEX_BASE): a
    switch derives the new URL from the old one's base instead of download.pytorch.org
    (issue 12, item 22)."""
    env = {k: v for k, v in project.env.items() if k != "POETRY_TORCH_INDEX_BASE"}
    bare = Project(project.root, project.poetry, env)
    bare.run("torch", "install", "--cuda", "12.9", "--index-base", index_server.base)
    assert f'url = "{index_server.base}/cu129"' in bare.pyproject.read_text()
    bare.run("torch", "install", "--cuda", "12.8")
    assert f'url = "{index_server.base}/cu128"' in bare.pyproject.read_text()
    assert "download.pytorch.org" not in bare.pyproject.read_text()
    assert bare.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_installed")
def test_renamed_source_takes_its_references_along(project: Project) -> None:
    """A dependency names the plugin's source (``source = "pytorch_cuda_cu129"``): the switch
    renames the source and points the dependency at the new name, so Poetry still finds every
    source it is told about; the user's own sources are never renamed (issue 12, item 23)."""
    text = project.pyproject.read_text().replace(
        "package-mode = false\n",
        "package-mode = false\n\n[tool.poetry.dependencies]\n"
        'torchvision = { version = "*", source = "pytorch_cuda_cu129" }  # from the index\n',
    )
    project.pyproject.write_text(text)
    project.run("torch", "install", "--cuda", "12.8")
    written = project.pyproject.read_text()
    assert 'torchvision = { version = "*", source = "pytorch_cuda_cu128" }  # from the index' in (
        written
    )
    assert "pytorch_cuda_cu129" not in written
    project.run("lock")
    project.run("install")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_locked")
def test_hook_repairs_the_companion_mismatch_check_reports(
    project: Project, index_server: IndexServer
) -> None:
    """torchvision 0.23.0 (which requires torch 2.8.0) beside torch 2.9.0: ``check`` calls it a
    companion mismatch, and the hook, using the same verdict, reinstalls the configured
    packages so they belong together again (issue 12, item 18)."""
    project.pip(
        "install",
        "--no-deps",
        "--index-url",
        f"{index_server.base}/cu129",
        "torchvision==0.23.0+cu129",
    )
    assert project.version_of("torchvision") == "0.23.0+cu129"
    check = project.run("torch", "check", "--json", check=False)
    import json

    codes = {verdict["code"] for verdict in json.loads(check.stdout)["verdicts"]}
    assert "companion-mismatch" in codes, check.stdout
    project.run("install")
    assert project.version_of("torchvision") == "0.24.0+cu129"
    assert project.version_of("torch") == EARLIER
    after = project.run("torch", "check", "--json", check=False)
    codes = {verdict["code"] for verdict in json.loads(after.stdout)["verdicts"]}
    assert "companion-mismatch" not in codes, after.stdout


def _freeze(folder: Path) -> Callable[[], None] | None:
    """Make ``folder`` refuse new files: ``chattr +i`` (root ignores modes), else chmod 0555;
    returns the undo, or None where neither works."""
    import subprocess

    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        return lambda: folder.chmod(mode)
    chattr = shutil.which("chattr")
    if chattr is None:
        return None
    done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        return None

    def thaw() -> None:
        subprocess.run([chattr, "-i", str(folder)], check=True)

    return thaw


@pytest.mark.usefixtures("cu129_installed")
def test_unwritable_project_folder_is_refused_before_the_switch(
    project: Project, index_server: IndexServer
) -> None:
    """The project folder takes no new file (so no atomic rename): refused in one line before
    anything is downloaded or uninstalled; env and pyproject.toml still agree (issue 12,
    item 14)."""
    before = project.pyproject.read_bytes()
    index_server.clear_log()
    undo = _freeze(project.root)
    if undo is None:
        pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
    try:
        result = project.run("torch", "install", "--cuda", "12.8", check=False)
    finally:
        undo()
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(errors) == 1, errors
    assert f"cannot create files in {project.root} (" in errors[0]
    assert "nothing was downloaded, installed or changed" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not index_server.requested("/whl/cu128/torch-")
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == EARLIER


@pytest.mark.usefixtures("cu129_installed")
def test_missing_venv_is_recreated_by_install(project: Project) -> None:
    shutil.rmtree(project.venv)
    project.run("torch", "install")
    assert project.version_of("torch") == EARLIER


@pytest.mark.usefixtures("cu129_locked")
def test_pip_killed_mid_install_is_repaired(project: Project, index_server: IndexServer) -> None:
    import signal

    index_server.set_fault("/whl/cu128/torch-", "slow", delay=30)
    project.run_interrupted(
        "torch",
        "install",
        "--cuda",
        "12.8",
        when=lambda: bool(index_server.arrived("/whl/cu128/torch-")),
        sig=signal.SIGKILL,
    )
    index_server.reset()
    # pyproject still says cu129; the next Poetry command puts the configured build back
    assert 'name = "pytorch_cuda_cu129"' in project.pyproject.read_text()
    project.run("install")
    assert project.version_of("torch") == EARLIER


@pytest.mark.usefixtures("cu129_installed")
def test_ctrl_c_mid_install_exits_130_with_one_line(
    project: Project, index_server: IndexServer
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the wheels
    download: exit 130 and one line saying what was kept; the earlier build stays (issue 12,
    item 20)."""
    before = project.pyproject.read_bytes()
    index_server.set_fault("/whl/cu128/torch-", "slow", delay=60)
    process = project.run_interrupted(
        "torch",
        "install",
        "--cuda",
        "12.8",
        when=lambda: bool(index_server.arrived("/whl/cu128/torch-")),
    )
    stdout, stderr = process.stdout, process.stderr
    index_server.reset()
    RECORDER.add("ctrl-c: stdout", stdout)
    RECORDER.add("ctrl-c: stderr", stderr)
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 130, stdout + stderr
    assert len(errors) == 1, errors
    assert (
        "poetry-torch: interrupted (Ctrl-C); pyproject.toml and poetry-torch.lock were left"
        in (errors[0])
    )
    assert "Traceback" not in stdout + stderr
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == EARLIER


@pytest.mark.usefixtures("cu129_locked")
def test_two_concurrent_installs_reinstall_once(project: Project) -> None:
    import subprocess

    project.uninstall("torch")
    processes = [
        subprocess.Popen(
            [str(project.poetry), "--no-ansi", "install"],
            cwd=project.root,
            env=dict(project.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    reinstalls = sum(("reinstalling" in out + err) for out, err in outputs)
    assert reinstalls == 1, outputs
    assert project.version_of("torch") == EARLIER
    assert project.python("import torch; print(torch.__version__)") == EARLIER


@pytest.mark.usefixtures("cu129_installed")
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_environment(project: Project) -> None:
    site = project.site_packages()[0]
    modes = {path: path.stat().st_mode for path in [site, *site.rglob("*")]}
    for path in modes:
        path.chmod(modes[path] & ~0o222)
    try:
        result = project.run("torch", "install", "--cuda", "12.8", check=False)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert result.returncode == 1
    assert "read-only or permission denied" in result.stderr
    assert project.version_of("torch") == EARLIER


def test_matrix_lists_at_least_seventy_cases() -> None:
    """docs/fault-matrix.md lists every numbered case of CASES, and with the scenario
    rows at least 70 cases (issue 12's target)."""
    doc = Path(__file__).parents[2] / "docs" / "fault-matrix.md"
    rows = [line for line in doc.read_text().splitlines() if line.startswith("| ")]
    numbered = [row.split("|")[2].strip() for row in rows if row.split("|")[1].strip().isdigit()]
    scenarios = [
        row
        for row in rows
        if not row.split("|")[1].strip().isdigit()
        and row.split("|")[1].strip() not in ("#", "case")
    ]
    assert sorted(numbered) == sorted(case.id for case in CASES)
    assert len(numbered) + len(scenarios) >= 70
    assert len({case.id for case in CASES}) == len(CASES)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.usefixtures("cu129_locked")
def test_hook_refuses_another_variants_builds_and_keeps_failing(
    project: Project, index_server: IndexServer
) -> None:
    """The index serves +cu128 files under /whl/cu129/: the hook's reinstall checks the labels
    of what the installer resolved before anything is uninstalled, stops with exit 1, and does
    so again on the next Poetry command (no loop of reinstalls ending in exit 0); issue 12,
    item 17."""
    (project.root / "poetry-torch.lock").unlink()  # the hook resolves from the index
    project.uninstall("torchvision")
    index_server.serve_as("cu129", "cu128")
    index_server.clear_log()
    for _ in range(2):
        result = project.run("install", check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        refusals = [line for line in _errors(result.stderr) if "serves torch" in line]
        assert len(refusals) == 1, result.stderr
        assert refusals[0].startswith(f"poetry-torch: {index_server.base}/cu129 serves torch 2.8.0")
        assert "nothing was uninstalled or installed" in refusals[0]
        assert "Traceback" not in result.stdout + result.stderr
        assert project.version_of("torch") == EARLIER
        wheels = [r for r in index_server.requested("/whl/cu129/") if r.path.endswith(".whl")]
        if project.pip_version() >= (25, 3):
            assert wheels == []  # nothing downloaded (pip read only the PEP 658 metadata)
        # (an older pip downloads the wheels to resolve: once, into a temporary wheelhouse;
        # they are refused before anything is installed, as above)
    index_server.reset()
    project.run("install")  # the index fixed: the hook repairs torchvision
    assert project.version_of("torchvision") == "0.24.0+cu129"


@pytest.mark.usefixtures("cu129_installed")
def test_second_concurrent_torch_install_waits_then_names_the_first(
    project: Project, index_server: IndexServer
) -> None:
    """Two `poetry torch install` at once on one project: the second waits for the
    environment's install lock, then gives up in one line naming the first one's pid; the
    first finishes, and what it reports is what is installed (issue 12, item 19)."""
    import subprocess
    import time

    before = project.pyproject.read_bytes()
    index_server.set_fault("/whl/cu128/torch-", "slow", delay=25)
    first = subprocess.Popen(
        [str(project.poetry), "--no-ansi", "torch", "install", "--cuda", "12.8"],
        cwd=project.root,
        env={**project.env, "POETRY_TORCH_TIMEOUT": "60"},  # pip would give up after 15 s
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not index_server.arrived("/whl/cu128/torch-"):
            time.sleep(0.2)
        second = project.run("torch", "install", "--cuda", "12.9", "--upgrade", check=False)
        assert project.pyproject.read_bytes() == before  # the first has not written yet
        index_server.clear_faults()  # the first's download goes on now, not after 25 s
        stdout, stderr = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        index_server.reset()
    RECORDER.add("first install: stdout", stdout)
    RECORDER.add("first install: stderr", stderr)
    errors = _errors(second.stderr)
    assert second.returncode == 1, second.stdout + second.stderr
    assert len(errors) == 1, errors
    assert errors[0].startswith("poetry-torch: another poetry torch command is running in ")
    assert f"(pid {first.pid})" in errors[0]
    assert "changed nothing" in errors[0]
    assert first.returncode == 0, stdout + stderr
    assert "torch ready for CUDA 12.8 (cu128): torch 2.9.0+cu129 \u2192 2.8.0+cu128" in stdout
    assert project.version_of("torch") == "2.8.0+cu128"
    assert project.python("import torch; print(torch.__version__)") == "2.8.0+cu128"
    assert 'name = "pytorch_cuda_cu128"' in project.pyproject.read_text()


def _commands(text: str) -> list[str]:
    """The installer commands in ``--dry-run``'s "Would run:" lines or ``-v``'s "running"
    lines, temporary folders written as ``<tmp>``."""
    found = []
    for line in text.splitlines():
        for marker in ("Would run: ", "poetry-torch: running "):
            if line.startswith(marker):
                command = line[len(marker) :]
                command = re.sub(r"/\S*/poetry-torch-wheels-[^/\s]+", "<tmp>/wheels", command)
                command = re.sub(r"/\S*/poetry-torch-[^/\s]+", "<tmp>", command)
                found.append(command.replace(" --verbose", ""))  # -v makes the installer loud
    return found


@pytest.mark.usefixtures("cu129_installed")
def test_dry_run_prints_the_commands_that_run(project: Project) -> None:
    """`--dry-run` prints every installer command the install runs (resolve or download, then
    the hash-checked install), exactly as `-v` shows them running (issue 12, item 25)."""
    for args in (("--cuda", "12.8"), ("--cuda", "12.9"), ("--cuda", "12.9", "--upgrade")):
        dry = project.run("torch", "install", *args, "--dry-run")
        done = project.run("torch", "install", *args, "-v")
        shown, ran = _commands(dry.stdout), _commands(done.stderr)
        assert shown == ran, (args, dry.stdout, done.stderr)
        assert ran[-1].endswith("--require-hashes -r <tmp>/torch-requirements.txt"), ran
    # a fresh poetry-torch.lock is replayed: one command, the hash-checked install
    assert len(shown) == 2  # --upgrade resolves again
    dry = project.run("torch", "install", "--dry-run")
    assert len(_commands(dry.stdout)) == 1
    assert "Would install the builds pinned in poetry-torch.lock, hash-checked." in dry.stdout


@pytest.mark.usefixtures("cu129_installed")
def test_multiple_constraints_form_is_kept(
    project: Project, index_server: IndexServer, uv_path: dict[str, str]
) -> None:
    """Poetry's multiple-constraints form for torch (one entry per platform, each with its
    source) is kept through a switch: the plugin's entry follows the renamed source, the other
    platform's entry and source stay, and Poetry keeps working (issue 12, item 8)."""
    text = project.pyproject.read_text().replace(
        "[tool.poetry]\npackage-mode = false\n",
        "[tool.poetry]\npackage-mode = false\n\n[tool.poetry.dependencies]\ntorch = [\n"
        '    {version = "^2.8.0", source = "pytorch_cuda_cu129", markers = "sys_platform =='
        " 'linux'\"},\n"
        '    {version = "^2.8.0", source = "mac-cpu", markers = "sys_platform == \'darwin\'"},\n'
        "]\n",
    )
    text += f'\n[[tool.poetry.source]]\nname = "mac-cpu"\nurl = "{index_server.base}/cpu"\n'
    text += 'priority = "explicit"\n'
    project.pyproject.write_text(text)
    project.run("lock")
    project.run("install")
    # the form makes a universal lock (one entry per platform): uv resolves the other's
    project.run("torch", "install", "--cuda", "12.8", extra_env=uv_path)
    after = project.pyproject.read_text()
    assert 'source = "pytorch_cuda_cu128", markers = "sys_platform == \'linux\'"' in after
    assert 'source = "mac-cpu", markers = "sys_platform == \'darwin\'"' in after
    assert 'name = "mac-cpu"' in after
    project.run("check", "--lock")
    project.run("install")
    project.run("show")
    assert project.version_of("torch") == "2.8.0+cu128"


@pytest.mark.usefixtures("cu129_installed")
def test_wrong_files_under_the_right_label_put_the_earlier_build_back(
    project: Project, index_universe: Universe, tmp_path: Path
) -> None:
    """The index serves a torch labelled +cu128 whose files were built for no CUDA at all
    (version.py says so): the install is verified from the installed files, the configured
    cu129 build is put back from poetry-torch.lock, and one line says so (issue 12, item 17);
    asked with ``--compile``, the build put back is compiled too."""
    from tests.support.wheels import _torch_family_wheel
    from tests.support.wheels import write_static_index

    before = project.pyproject.read_bytes()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for wheel in (index_universe.root / "whl" / "cu128").glob("*.whl"):
        if not wheel.name.startswith("torch-"):
            shutil.copy2(wheel, wheels / wheel.name)
    _torch_family_wheel(
        wheels,
        "torch",
        "2.8.0",
        "cpu",  # version.py: 2.8.0+cpu, cuda = None
        requires=["nvidia-fakeblas-cu12==12.8.4"],
        published_version="2.8.0+cu128",
    )
    house = write_static_index(wheels, tmp_path / "house" / "cu128").parent
    for site in project.site_packages():
        shutil.rmtree(site / "torch" / "__pycache__", ignore_errors=True)
    result = project.run(
        "torch",
        "install",
        "--cuda",
        "12.8",
        "--compile",
        "--index-base",
        house.as_uri(),
        check=False,
    )
    errors = _errors(result.stderr)
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(errors) == 1, errors
    assert (
        "torch 2.8.0+cu128 is labelled cu128 but its files were built for no GPU runtime"
        in errors[0]
    )
    assert "pyproject.toml was not changed, and the configured build was put back." in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert project.pyproject.read_bytes() == before
    assert project.version_of("torch") == EARLIER
    # compiled by the installer, before anything imported it
    assert [p.name for s in project.site_packages() for p in (s / "torch").rglob("version.*.pyc")]
    assert project.python("import torch; print(torch.__version__)") == EARLIER
