"""Issue 14 items 3 and 4: one poetry-torch.lock for every target x platform x Python, resolved
here for machines this is not (real uv, ``--python-platform``), against indexes whose wheels
carry real platform tags (``tests.support.platform_wheels``); each machine installs its entry;
exports per target.  This machine is Linux x86_64 with CPython 3.11 and no GPU."""

from __future__ import annotations

import json
import os
import re
import sys

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest

from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.project.lockstate import read_lock
from tests.support.project import Project
from tests.support.project import seeded_venv


if TYPE_CHECKING:
    from tests.support.fixtures import PlatformIndex

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
AARCH64 = '\n[tool.poetry-torch.targets]\nlinux-aarch64 = "cu128"\n'  # one target only
TEAM = """
[tool.poetry-torch.targets]
linux-x86_64 = "cu129"  # the GPU workstations
linux-aarch64 = "cu128"  # GH200 nodes
macos = "cpu"  # laptops: PyPI's build, with MPS
no-gpu = "cpu"  # CI runners
"""


def team_pyproject(index: PlatformIndex, targets: str = TEAM) -> str:
    return f"""[project]
name = "team"
version = "0.1.0"
requires-python = ">=3.10,<3.14"
dependencies = []

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "fakepypi"  # the stand-in for PyPI: torch's own requirements are solved from it
url = "{index.server.pypi_url}"
priority = "primary"

[[tool.poetry.source]]
name = "pytorch_cuda_cu129"
url = "{index.url("cu129")}"
priority = "explicit"

[tool.poetry-torch]
packages = ["torch", "torchvision", "torchaudio"]
{targets}"""


def team(
    root: Path,
    poetry_bin: Path,
    index: PlatformIndex,
    uv_path: dict[str, str],
    machine: str,
    targets: str = TEAM,
) -> Project:
    root.mkdir()
    (root / "pyproject.toml").write_text(team_pyproject(index, targets))
    env = dict(os.environ)
    env.update(uv_path)
    env["POETRY_TORCH_INDEX_BASE"] = index.base
    env["POETRY_TORCH_FAKE_MACHINE"] = machine
    return Project(root, poetry_bin, env)


@pytest.fixture
def no_gpu(tmp_path: Path) -> str:
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.machine import machine_to_dict

    bare = Machine(nvidia=None, nvcc=None, mps=False, rocm=None, platform="linux-x86_64")
    path = tmp_path / "no-gpu.json"
    path.write_text(json.dumps(machine_to_dict(bare)))
    return str(path)


def entries(project: Project) -> dict[tuple[str, str, str], dict[str, str]]:
    """(variant, platform, Python) -> {package: version}, the lock's first part included."""
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    found = {
        (e.variant, e.platform, e.python): {p.name: p.version for p in e.lock.packages}
        for e in lock.entries
    }
    found[("cu129", "linux-x86_64", HERE)] = {p.name: p.version for p in lock.packages}
    return found


def one_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("poetry-torch:"), lines
    return str(lines[0])


def test_one_lock_for_every_machine_installs_here_and_exports_for_the_others(
    tmp_path: Path,
    poetry_bin: Path,
    real_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    """On PyTorch's own page shape: every entry keeps the URLs the index gave."""
    platform_index = real_platform_index
    project = team(tmp_path / "team", poetry_bin, platform_index, uv_path, no_gpu)
    before = project.pyproject.read_bytes()
    result = project.run("torch", "lock")
    assert "and 19 entries for other machines" in result.stdout, result.stdout
    # said before the resolutions that take the time, not only after them
    lines = result.stdout.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("Resolving 19 entries of ")]
    wrote = [i for i, line in enumerate(lines) if line.startswith("Wrote poetry-torch.lock")]
    assert len(said) == 1 and len(wrote) == 1 and said[0] < wrote[0], result.stdout
    assert lines[said[0]].endswith(") with uv, 4 at a time"), lines[said[0]]
    assert "for other machines (cpu linux-aarch64, " in lines[said[0]], lines[said[0]]
    locked = entries(project)
    pythons = ("3.10", "3.11", "3.12", "3.13")
    assert set(locked) == {
        (variant, platform, python)
        for variant, platform in (
            ("cu129", "linux-x86_64"),
            ("cpu", "linux-x86_64"),
            ("cu128", "linux-aarch64"),
            ("cpu", "linux-aarch64"),
            ("cpu", "macos-arm64"),
        )
        for python in pythons
    }
    for (variant, platform, python), packages in locked.items():
        label = "" if platform.startswith("macos") else f"+{variant}"
        assert packages["torch"] == f"2.9.0{label}", (variant, platform, python)
        # markers were evaluated as on that machine, not as here
        x86_cuda = platform == "linux-x86_64" and variant.startswith("cu")
        assert ("nvidia-fakeblas-cu12" in packages) == x86_cuda, (variant, platform, python)
        assert ("fake-setuptools" in packages) == (python >= "3.12"), (variant, platform, python)
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None
    for entry in lock.entries:
        tags = {name.rsplit("-", 1)[-1] for p in entry.lock.packages for name, _ in p.files}
        wanted = {
            "linux-x86_64": "manylinux_2_28_x86_64.whl",
            "linux-aarch64": "manylinux_2_28_aarch64.whl",
            "macos-arm64": "macosx_11_0_arm64.whl",
        }[entry.platform]
        assert tags <= {wanted, "any.whl"}, (entry.where, tags)
        for package in entry.lock.packages:
            home = platform_index.server.files_url if package.name.startswith("torch") else ""
            assert {name for name, _ in package.files} == {name for name, _ in package.urls}
            assert all(url.startswith(home or "http://") for _, url in package.urls)
    project.run("torch", "lock", "--check")
    assert project.pyproject.read_bytes() == before

    # this machine has no GPU: no-gpu chooses cpu, replayed from its entry, hash-checked
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    install = project.run("torch", "install")
    assert "chosen by target ([tool.poetry-torch.targets] no-gpu" in install.stdout
    assert "checked against its sha256 in the lock" in install.stdout
    assert project.version_of("torch") == "2.9.0+cpu"
    assert project.version_of("nvidia-fakeblas-cu12") is None
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    assert project.pyproject.read_bytes() == before
    # --upgrade would install builds the lock does not pin (and the hook would undo it)
    upgrade = one_error(project.run("torch", "install", "--upgrade", check=False))
    assert "`poetry torch lock --regenerate`, then `poetry torch install`" in upgrade
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    assert project.version_of("torch") == "2.9.0+cpu"

    # exports for the other machines
    aarch64 = project.run("torch", "export", "--target", "linux-aarch64").stdout
    assert f"--index-url {platform_index.url('cu128')}" in aarch64
    assert "nvidia" not in aarch64
    assert (
        "torch==2.9.0+cu128 ; sys_platform == 'linux' and platform_machine == 'aarch64'"
        " and python_version >= '3.10' and python_version <= '3.13' \\\n    --hash=sha256:"
    ) in aarch64
    assert "--extra-index-url" not in aarch64
    project.run(
        "torch", "export", "--target", "macos", "--format", "pylock", "-o", "pylock.macos.toml"
    )
    mac = (project.root / "pylock.macos.toml").read_text()
    assert "macosx_11_0_arm64" in mac and "manylinux" not in mac
    assert "sys_platform == 'darwin'" in mac
    one = one_error(project.run("torch", "export", "--all", check=False))
    assert "markers cannot tell such machines apart" in one
    assert "--target no-gpu" in one
    # every target either refusal offers is one export accepts (issue 23, item 3)
    unknown = one_error(project.run("torch", "export", "--target", "windows", check=False))
    listed = re.search(r"\(it has: ([^)]*)\)", unknown)
    assert listed is not None, unknown
    offered = set(listed.group(1).split(", "))
    assert offered == set(re.findall(r"--target ([\w-]+)", one)), (unknown, one)
    for key in sorted(offered):
        assert project.run("torch", "export", "--target", key).stdout.strip(), key

    # the export installs with plain pip here: this machine's marker picks its pins, hash-checked
    cpu_here = project.run("torch", "export", "--target", "no-gpu", "-o", "req.txt").stdout
    cpu_here = (project.root / "req.txt").read_text()
    report = project.root / "report.json"
    project.pip(
        "install",
        "--dry-run",
        "--ignore-installed",
        "--report",
        str(report),
        "-r",
        str(project.root / "req.txt"),
    )
    chosen = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    expected = {
        "torch": "2.9.0+cpu",
        "torchvision": "0.24.0+cpu",
        "torchaudio": "2.9.0+cpu",
        "fake-filelock": "3.20.0",
    }
    if sys.version_info >= (3, 12):  # torch's `setuptools; python_version >= "3.12"`
        expected["fake-setuptools"] = "80.9.0"
    assert chosen == expected
    assert f"--index-url {platform_index.url('cpu')}" in cpu_here
    assert re.search(
        r"torch==2\.9\.0\+cpu ; \(sys_platform == 'linux' and platform_machine == 'aarch64' and python_version >= '3\.10' and python_version <= '3\.13'\) or \(.*'x86_64'",
        cpu_here,
    )

    # Poetry's contract holds after all of it: its own commands pass, nothing is rewritten
    project.run("install")
    project.run("check", "--lock")
    assert "torch" not in project.run("show").stdout  # held out of Poetry's lock
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    assert project.version_of("torch") == "2.9.0+cpu"


def test_machine_local_choice_must_be_locked_and_adding_one_keeps_the_rest(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    targets = AARCH64
    project = team(tmp_path / "team", poetry_bin, fresh_platform_index, uv_path, no_gpu, targets)
    project.run("torch", "lock")
    assert project.version_of("torch") is None
    first = entries(project)
    assert {key[:2] for key in first} == {("cu129", "linux-x86_64"), ("cu128", "linux-aarch64")}

    # an override this lock does not hold: refused, naming the command that locks it
    cu128 = {"POETRY_TORCH_VARIANT": "cu128"}
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    refused = one_error(project.run("torch", "install", extra_env=cu128, check=False))
    assert f"holds no cu128 build for linux-x86_64, Python {HERE}" in refused
    assert "`poetry torch lock --add-variant cu128`" in refused
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    assert project.version_of("torch") is None
    check = project.run("torch", "check", "--json", extra_env=cu128, check=False)
    verdicts = {v["code"]: v for v in json.loads(check.stdout)["verdicts"]}
    assert "poetry torch lock --add-variant cu128" in json.dumps(verdicts["lock-no-entry"])
    # Poetry's own lock-only commands keep working there: they install no torch
    project.run("lock", extra_env=cu128)
    project.run("check", "--lock", extra_env=cu128)
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes

    # the index publishes torch 2.9.1 for cu128 meanwhile: adding a variant resolves only it,
    # at the release every other entry pins (issue 22 item 10: one release for the team)
    fresh_platform_index.publish_newer("cu128")
    project.run("torch", "lock", "--add-variant", "cu128")
    added = entries(project)
    for key, packages in first.items():
        assert added[key] == packages, key  # the aarch64 entries kept 2.9.0
    assert added[("cu128", "linux-x86_64", HERE)]["torch"] == "2.9.0+cu128"
    project.run("torch", "lock", "--check")
    project.run("torch", "install", extra_env=cu128)
    assert project.version_of("torch") == "2.9.0+cu128"
    assert project.version_of("nvidia-fakeblas-cu12") == "12.8.4"

    # the packages change in pyproject.toml: the hook refuses the now stale entry in one line
    # and installs nothing else in its place
    text = project.pyproject.read_text()
    project.pyproject.write_text(text.replace('["torch",', '["torch>=2.0",'))
    project.uninstall("torchaudio")
    hooked = project.run("install", extra_env=cu128, check=False)
    errors = [line for line in hooked.stderr.splitlines() if "poetry-torch:" in line]
    assert hooked.returncode == 1 and len(errors) == 1, hooked.stdout + hooked.stderr
    assert f"cu128 entry for linux-x86_64, Python {HERE} is stale (locked before" in errors[0]
    assert "Run `poetry torch lock` to lock it" in errors[0]
    assert project.version_of("torchaudio") is None  # nothing installed in its place
    assert project.version_of("torch") == "2.9.0+cu128"
    project.pyproject.write_text(text)
    project.run("install", extra_env=cu128)  # the entry is fresh again: replayed
    assert project.version_of("torchaudio") == "2.9.0+cu128"

    # a plain lock keeps the added variant and moves each variant as a whole: every cu128
    # entry (both platforms) to 2.9.1, cu129 (no 2.9.1 yet) stays; then cu129 moves too
    project.run("torch", "lock")
    moved = entries(project)
    assert moved[("cu128", "linux-aarch64", "3.12")]["torch"] == "2.9.1+cu128"
    assert moved[("cu128", "linux-x86_64", HERE)]["torch"] == "2.9.1+cu128"
    assert moved[("cu129", "linux-x86_64", HERE)]["torch"] == "2.9.0+cu129"
    fresh_platform_index.publish_newer("cu129")
    project.run("torch", "lock")
    moved = entries(project)
    assert moved[("cu129", "linux-x86_64", HERE)]["torch"] == "2.9.1+cu129"

    # a targets change makes --check fail in one line until the lock is refreshed
    project.pyproject.write_text(project.pyproject.read_text() + 'macos = "cpu"\n')
    stale = one_error(project.run("torch", "lock", "--check", check=False))
    assert "other targets than pyproject.toml lists" in stale
    project.run("torch", "lock")
    assert ("cpu", "macos-arm64", "3.13") in entries(project)
    project.run("torch", "lock", "--check")


def test_a_wheelhouse_for_every_machine_serves_this_ones_entry_offline(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    project = team(tmp_path / "team", poetry_bin, platform_index, uv_path, no_gpu)
    project.run("torch", "lock")
    house = tmp_path / "house"
    filled = project.run("torch", "wheelhouse", str(house), "--all")
    assert (
        platform_index.url("cu128") in filled.stdout and platform_index.url("cpu") in filled.stdout
    )
    names = {path.name for path in house.glob("*.whl")}
    assert "torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_aarch64.whl" in names
    assert "torch-2.9.0-cp313-none-macosx_11_0_arm64.whl" in names
    assert (
        f"torch-2.9.0+cpu-cp{HERE.replace('.', '')}-cp{HERE.replace('.', '')}-manylinux_2_28_x86_64.whl"
        in names
    )
    platform_index.server.reset()
    platform_index.server.set_fault("/whl/", "500")  # the cluster has no index at all
    project.run("torch", "install", "--wheelhouse", str(house))
    assert project.version_of("torch") == "2.9.0+cpu"  # this machine's (no-gpu) entry
    assert not platform_index.server.requested("/whl/")

    # a wheelhouse of this machine's files only (no --all) serves it too
    platform_index.server.reset()
    own = tmp_path / "own"
    project.run("torch", "wheelhouse", str(own))
    assert {path.name for path in own.glob("torch-*.whl")} == {
        f"torch-2.9.0+cpu-cp{HERE.replace('.', '')}-cp{HERE.replace('.', '')}-manylinux_2_28_x86_64.whl"
    }
    project.uninstall("torch")
    platform_index.server.set_fault("/whl/", "500")
    project.run("torch", "install", "--wheelhouse", str(own))
    assert project.version_of("torch") == "2.9.0+cpu"


def test_ctrl_c_while_entries_resolve_leaves_the_lock_and_starts_no_more(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    index = fresh_platform_index
    project = team(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, "")
    project.run("torch", "lock")  # a single lock (version 1): no targets yet
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    targets = '\n[tool.poetry-torch.targets]\nmacos = "cpu"\nno-gpu = "cpu"\n'
    project.pyproject.write_text(team_pyproject(index, targets))
    # the four cpu macOS resolutions run first (four at once) and hang on the cpu index; the
    # cu129 and cpu Linux ones wait in the queue
    index.server.set_fault("/whl/cpu/fake-filelock/", "slow", delay=20)
    result = project.run_interrupted(
        "torch", "lock", when=lambda: bool(index.server.arrived("/whl/cpu/fake-filelock/"))
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 130, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("poetry-torch: interrupted (Ctrl-C)"), lines
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{LOCK_NAME} and pyproject.toml were left as they were" in lines[0]
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    # no queued resolution started after Ctrl-C (Executor.map cancels what waits)
    assert not [r for r in index.server.requested("/whl/cu129/") if r.agent.startswith("uv")]


def _python_at_least_312() -> str | None:
    """A CPython 3.12 or 3.13 other than this one (where torch's closure gains setuptools)."""
    import shutil
    import subprocess

    for minor in (12, 13):
        if sys.version_info[:2] == (3, minor):
            continue
        found = shutil.which(f"python3.{minor}")
        pyenv = Path("~/.pyenv/versions").expanduser()
        candidates = [found] if found else []
        candidates += sorted(str(p) for p in pyenv.glob(f"3.{minor}*/bin/python3.{minor}"))
        for path in candidates:
            probe = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[1])"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            if probe.stdout.strip() == str(minor):
                return path
    return None


def test_the_committed_variant_on_another_python_replays_its_own_entry(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    import shutil

    other = _python_at_least_312()
    if other is None or sys.version_info[:2] >= (3, 12):
        pytest.skip("needs this CPython < 3.12 and another CPython >= 3.12")
    targets = AARCH64
    project = team(tmp_path / "team", poetry_bin, platform_index, uv_path, no_gpu, targets)
    project.run("torch", "lock")  # the first part: cu129 for this Python (no setuptools)
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None and "fake-setuptools" not in {p.name for p in lock.packages}
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    # the same project on a machine with Python 3.12+: the committed variant, another Python
    shutil.rmtree(project.venv)
    seeded_venv(project.venv, other)
    install = project.run("torch", "install")
    assert "checked against its sha256 in the lock" in install.stdout
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("fake-setuptools") == "80.9.0"  # its entry's closure
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes
    # the hook replays the same entry: with torch gone, it reinstalls that closure
    project.uninstall("torch", "fake-setuptools")
    hooked = project.run("install")
    assert "reinstalling torch" in hooked.stdout + hooked.stderr
    project.run("check", "--lock")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("fake-setuptools") == "80.9.0"
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes


@pytest.mark.parametrize(
    ("prefix", "mode"),
    [
        ("/whl/cu128/torch/", "500"),  # the page the Pythons are read from
        ("/whl/cu128/fake-filelock/", "500"),  # mid-resolution, in uv
        ("/whl/cu128/fake-filelock/", "drop"),
    ],
)
def test_an_index_failing_while_entries_resolve_is_one_line_and_leaves_the_lock(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
    prefix: str,
    mode: Any,
) -> None:
    index = fresh_platform_index
    project = team(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, "")
    project.run("torch", "lock")
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    targets = AARCH64
    project.pyproject.write_text(team_pyproject(index, targets))
    index.server.set_fault(prefix, mode)
    # one retry, not uv's three with backoff (~10 s): the failure is what is tested
    quick = {"POETRY_TORCH_TIMEOUT": "30"}
    line = one_error(project.run("torch", "lock", check=False, extra_env=quick))
    assert line.startswith("poetry-torch: while locking cu128 for linux-aarch64"), line
    assert str(index.server.port) in line  # which index failed
    assert f"{LOCK_NAME} and pyproject.toml were left as they were" in line
    assert line.endswith("or that target is changed, run `poetry torch lock` again."), line

    assert "installed build" not in line and "poetry torch install" not in line
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes


def test_a_target_whose_index_lacks_a_wheel_for_one_python_is_one_line(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    from tests.support.platform_wheels import platform_wheel

    index = fresh_platform_index
    platform_wheel(index.universe, "cu128", "torchvision", "313", "manylinux_2_28_aarch64").unlink()
    targets = AARCH64
    project = team(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, "")
    project.run("torch", "lock")
    lock_bytes = (project.root / LOCK_NAME).read_bytes()
    project.pyproject.write_text(team_pyproject(index, targets))
    line = one_error(project.run("torch", "lock", check=False))
    assert line.startswith("poetry-torch: while locking cu128 for linux-aarch64, Python 3.13:"), (
        line
    )
    assert "torchvision" in line and "fits there" in line, line
    assert "cp311" not in line  # this machine's tags say nothing about that one
    assert (project.root / LOCK_NAME).read_bytes() == lock_bytes


def test_a_login_reaches_every_entrys_index_and_never_the_lock_or_the_output(
    tmp_path: Path,
    poetry_bin: Path,
    fresh_platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    index = fresh_platform_index
    secret = "s3cret-entry-login"
    index.server.require_auth("/whl/", "alice", secret)
    targets = AARCH64
    project = team(tmp_path / "team", poetry_bin, index, uv_path, no_gpu, targets)
    with_login = index.base.replace("http://", f"http://alice:{secret}@")
    result = project.run("-v", "torch", "lock", extra_env={"POETRY_TORCH_INDEX_BASE": with_login})
    assert "and 7 entries for other machines" in result.stdout, result.stdout
    assert "running" in result.stderr and "--python-platform" in result.stderr  # uv's argv, -v
    assert secret not in result.stdout + result.stderr
    text = (project.root / LOCK_NAME).read_text()
    assert secret not in text and "alice" not in text
    assert f'url = "{index.url("cu128")}"' in text
    uv = [r for r in index.server.requested("/whl/cu128/") if r.agent.startswith("uv")]
    assert uv and all(r.authorization.startswith("Basic ") for r in uv)


def test_check_compares_another_pythons_environment_with_its_own_entry(
    tmp_path: Path,
    poetry_bin: Path,
    platform_index: PlatformIndex,
    uv_path: dict[str, str],
    no_gpu: str,
) -> None:
    import shutil

    other = _python_at_least_312()
    if other is None or sys.version_info[:2] >= (3, 12):
        pytest.skip("needs this CPython < 3.12 and another CPython >= 3.12")
    targets = AARCH64
    project = team(tmp_path / "team", poetry_bin, platform_index, uv_path, no_gpu, targets)
    seeded_venv(project.venv, other)
    project.run("torch", "lock")  # the first part: cu129 for 3.12+, with fake-setuptools
    lock = read_lock(project.root / LOCK_NAME)
    assert lock is not None and "fake-setuptools" in {p.name for p in lock.packages}
    shutil.rmtree(project.venv)
    seeded_venv(project.venv)
    project.run("torch", "install")
    assert project.version_of("torch") == "2.9.0+cu129"
    assert project.version_of("fake-setuptools") is None  # this Python's entry has none
    report = json.loads(project.run("torch", "check", "--json", check=False).stdout)
    codes = {verdict["code"] for verdict in report["verdicts"]}
    assert "lock-drift" not in codes, report
