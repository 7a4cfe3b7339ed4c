"""Real-world pyproject.toml layouts, driven through the real poetry (issue 16, items 9 and 14).

Each ``tests/fixtures/corpus/<name>/`` holds a project whose pyproject.toml is a template:
``{pypi_url}`` becomes the local stand-in for PyPI and ``{index_base}`` the local PyTorch-style
``…/whl`` base (so ``{index_base}/cu128`` is the cu128 index). The letter of each layout is the
shape it covers in issue 16 item 14.

For every layout, with the real poetry and the plugin installed:

- ``check``: ``poetry --no-plugins check`` passes on the layout as written (it is valid
  Poetry 2), and so does ``poetry check`` with the plugin;
- ``dry-run``: ``poetry torch install --cuda 12.9 --dry-run`` plans and changes nothing;
- ``switch``: ``poetry torch install --cuda 12.9``, then ``poetry install``,
  ``poetry check --lock`` and ``poetry show`` all work, torch is a cu129 build, and none of the
  user's torch-family declarations is gone: each entry is still where it was, with its markers,
  ``optional``, ``python`` and ``extras``; ``[tool.poetry.extras]`` and the groups' ``optional``
  flags are unchanged (a version or source may change: that is the switch). Every step runs even
  when one before it failed, so the failure lists them all.

For layouts that never opted in (named sources other than ``pytorch_cuda_cuXYZ`` / ``pytorch_cpu``
/ ``pytorch_rocmX_Y``, no ``[tool.poetry-torch]``), in two copies of the project:

- ``lock-same``: ``poetry lock`` writes the same bytes as ``poetry --no-plugins lock``;
- ``install-same``: ``poetry install`` installs the same set as ``poetry --no-plugins install``.

Plus the untouched Poetry 1.x layout (which Poetry 2 rejects) and a library's wheel metadata.

A step that fails is marked ``xfail(strict=True)`` with its failure line in ``XFAIL`` (empty now: every
layout passes every step); a fixed entry turns into an XPASS, which fails the suite until it goes.

Each layout takes seconds of real poetry and pip; the jobs of the selected tests run in the
background, a few at a time, from the first test on, and each test reports its own job's result.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile

from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest

from tests.support.isolation import isolated_env
from tests.support.project import Project
from tests.support.toml import loads


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Iterator

    from tests.support.index_server import IndexServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
FAMILY = frozenset({"torch", "torchvision", "torchaudio"})
SWITCH = ("torch", "install", "--cuda", "12.9")
# What a torch-family entry must keep through a switch (its version and source may change).
KEPT_KEYS = ("markers", "optional", "python", "platform", "extras", "allow-prereleases")
# Poetry's own words for it: ``tool.poetry.source[0]`` in 2.5, ``data.source[0]`` in 2.0
POETRY1_ERROR = re.compile(
    r"(?:tool\.poetry|data)\.source\[0\] must not contain \{'default'\} properties"
)


@dataclass(frozen=True)
class Layout:
    shape: str  # the letter in issue 16 item 14
    compare: bool = False  # never opted in: the plugin must not change lock or install
    valid: bool = True  # Poetry 2 accepts the layout as written


LAYOUTS = {
    "a_caret_build_label": Layout("a", compare=True),
    "b_pin_cu128_label": Layout("b"),
    "b_pin_cpu_label": Layout("b"),
    "c_poetry_extras": Layout("c"),
    "c_pep621_optional": Layout("c"),
    "d_optional_group": Layout("d"),
    "e_platform_constraints": Layout("e", compare=True),
    "e_extra_constraints": Layout("e", compare=True),
    "f_poetry1_sources": Layout("f", valid=False),
    "f_poetry1_migrated": Layout("f", compare=True),
    "g_leftover_nightly": Layout("g", compare=True),
    "h_pep621_source": Layout("h", compare=True),
    "i_exclusive_extras": Layout("i", compare=True),
    "j_library": Layout("j"),
    "k_dev_group": Layout("k"),
    "l_opted_in": Layout("l"),
}
VALID = [name for name, layout in LAYOUTS.items() if layout.valid]
COMPARED = [name for name, layout in LAYOUTS.items() if layout.compare]

# layout -> job -> the first line of its failure with today's plugin.
XFAIL: dict[str, dict[str, str]] = {}  # every layout passes every step today


def known_failure(name: str, job: str) -> list[pytest.MarkDecorator]:
    reason = XFAIL.get(name, {}).get(job)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def cases(job: str, names: Iterable[str]) -> list[Any]:
    """``names`` as parameters, each marked xfail where ``XFAIL`` says ``job`` fails today."""
    return [pytest.param(name, id=name, marks=known_failure(name, job)) for name in names]


def test_every_layout_is_registered() -> None:
    found = {path.parent.name for path in CORPUS.glob("*/pyproject.toml")}
    assert found == set(LAYOUTS)
    assert len(VALID) >= 12
    assert set(XFAIL) <= set(LAYOUTS)
    assert {job for jobs in XFAIL.values() for job in jobs} <= set(JOBS)


# --- running poetry -------------------------------------------------------------------------


class Corpus:
    """Copies of the layouts, wired to the local index, and the jobs that run on them."""

    def __init__(self, root: Path, poetry: Path, server: IndexServer, workers: int) -> None:
        self.root = root
        self.poetry = poetry
        self.server = server
        self.base_env = dict(os.environ)
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._jobs: dict[tuple[str, str], Future[None]] = {}

    def project(self, name: str, copy: str) -> Project:
        root = self.root / name / copy
        shutil.copytree(CORPUS / name, root)
        template = (root / "pyproject.toml").read_text()
        text = template.replace("{pypi_url}", self.server.pypi_url)
        (root / "pyproject.toml").write_text(text.replace("{index_base}", self.server.base))
        env = isolated_env(self.root / name / f"{copy}-home", self.base_env)
        env["POETRY_TORCH_INDEX_BASE"] = self.server.base
        return Project(root, self.poetry, env)

    def plain(self, text: str) -> str:
        """``text`` without what changes between runs (port, temporary paths)."""
        text = text.replace(self.server.base, "{index_base}")
        return text.replace(self.server.pypi_url, "{pypi_url}").replace(str(self.root), "<tmp>")

    def submit(self, job: str, name: str) -> Future[None]:
        if (job, name) not in self._jobs:
            self._jobs[job, name] = self._pool.submit(JOBS[job], self, name)
        return self._jobs[job, name]

    def result(self, job: str, name: str) -> None:
        self.submit(job, name).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def corpus(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    poetry_bin: Path,
    _index_server_session: IndexServer,
) -> Iterator[Corpus]:
    """Starts the job of every selected test of this module at once, a few at a time.

    Not under pytest-xdist: a worker runs only the tests it is handed, one by one, and every
    worker sees every selected test, so starting them all here would run each job on every
    worker. There each test starts its own job (``Corpus.result``), and the workers run the
    jobs side by side."""
    workers = max(2, min(4, os.cpu_count() or 2))
    runner = Corpus(tmp_path_factory.mktemp("corpus"), poetry_bin, _index_server_session, workers)
    module = sys.modules[__name__]
    items = [] if os.environ.get("PYTEST_XDIST_WORKER") else request.session.items
    for item in items:
        if isinstance(item, pytest.Function) and item.module is module:
            spec = getattr(item, "callspec", None)
            job = TEST_JOBS.get(item.originalname)
            if job is not None and spec is not None:
                runner.submit(job, spec.params["name"])
    yield runner
    runner.close()


# Output lines that never say what went wrong: deprecation warnings and progress.
NOISE = ("Warning:", "If you want to set", "Creating virtualenv", "Updating dependencies")


def key_line(result: subprocess.CompletedProcess[str]) -> str:
    """What went wrong, on one line: the last paragraph of output that is not a warning."""
    paragraphs: list[list[str]] = [[]]
    for line in (result.stdout + "\n\n" + result.stderr).splitlines():
        text = line.strip()
        if not text:
            paragraphs.append([])
        elif not text.startswith(NOISE):
            paragraphs[-1].append(text)
    last = [p for p in paragraphs if p]
    return " ".join(last[-1])[:500] if last else "(no output)"


def run_ok(corpus: Corpus, project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    result = project.run(*args, check=False)
    if result.returncode != 0:
        raise AssertionError(
            corpus.plain(
                f"`poetry {' '.join(args)}` exited {result.returncode}: {key_line(result)}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        )
    return result


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- what a user declared -------------------------------------------------------------------


def _pep508_name(requirement: str) -> str:
    return re.split(r"[\s\[(<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower()


def _pep508_marker(requirement: str) -> str:
    return requirement.split(";", 1)[1].strip() if ";" in requirement else ""


def _kept(spec: Any) -> list[dict[str, Any]]:
    constraints = spec if isinstance(spec, list) else [spec]
    return [
        {key: c[key] for key in KEPT_KEYS if key in c} if isinstance(c, dict) else {}
        for c in constraints
    ]


def declarations(data: dict[str, Any]) -> dict[str, Any]:
    """Every torch-family declaration, by where it is, with what must survive a switch."""
    found: dict[str, Any] = {}
    project = data.get("project", {})
    for requirement in project.get("dependencies", []):
        if (name := _pep508_name(requirement)) in FAMILY:
            found[f"[project] dependencies {name}"] = _pep508_marker(requirement)
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for requirement in requirements:
            if (name := _pep508_name(requirement)) in FAMILY:
                where = f"[project.optional-dependencies] {extra} {name}"
                found[where] = _pep508_marker(requirement)
    poetry = data.get("tool", {}).get("poetry", {})
    tables = {"[tool.poetry.dependencies]": poetry.get("dependencies", {})}
    for group, table in poetry.get("group", {}).items():
        tables[f"[tool.poetry.group.{group}.dependencies]"] = table.get("dependencies", {})
        if "optional" in table:
            found[f"[tool.poetry.group.{group}] optional"] = table["optional"]
    for where, dependencies in tables.items():
        for name, spec in dependencies.items():
            if name.lower() in FAMILY:
                found[f"{where} {name}"] = _kept(spec)
    if "extras" in poetry:
        found["[tool.poetry.extras]"] = poetry["extras"]
    return found


def assert_declarations_kept(before: dict[str, Any], project: Project) -> None:
    after = declarations(loads(project.pyproject.read_text()))
    lost = [where for where in before if where not in after]
    changed = [
        f"{where}: {before[where]!r} -> {after[where]!r}"
        for where in before
        if where in after and after[where] != before[where]
    ]
    problems = ([f"lost {', '.join(lost)}"] if lost else []) + (
        [f"changed {', '.join(changed)}"] if changed else []
    )
    assert not problems, "pyproject.toml " + "; ".join(problems)


def torch_build(project: Project) -> str:
    python = project.venv / "bin" / "python"
    if not python.exists():
        return "(no project venv)"
    result = subprocess.run(
        [str(python), "-c", "import torch; print(torch.__version__)"],
        env=dict(project.env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.stdout.strip() if result.returncode == 0 else "(torch does not import)"


def installed(project: Project) -> dict[str, str]:
    code = (
        "import importlib.metadata as m\n"
        "for d in m.distributions(): print(d.metadata['Name'].lower(), d.version)\n"
    )
    lines = project.python(code).splitlines()
    return {name: version for name, _, version in (line.partition(" ") for line in lines)}


def wheel_requirements(project: Project) -> list[str]:
    wheels = sorted((project.root / "dist").glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return [line for line in text.splitlines() if line.startswith("Requires-Dist:")]


# --- the jobs -------------------------------------------------------------------------------


def check_job(corpus: Corpus, name: str) -> None:
    """The layout is valid Poetry, with the plugin loaded.  The plugin only adds refusals to
    `poetry check` (an invalid configuration), so only when it fails is Poetry asked without
    it, to tell a bad layout from the plugin's refusal."""
    project = corpus.project(name, "check")
    if project.run("check", check=False).returncode != 0:
        run_ok(corpus, project, "--no-plugins", "check")
        run_ok(corpus, project, "check")


def dry_run_job(corpus: Corpus, name: str) -> None:
    project = corpus.project(name, "dry-run")
    before = project.pyproject.read_text()
    run_ok(corpus, project, *SWITCH, "--dry-run")
    assert project.pyproject.read_text() == before, "the dry run changed pyproject.toml"
    assert not project.venv.exists(), "the dry run created the project venv"
    assert not (project.root / "poetry-torch.lock").exists(), "the dry run wrote a lock"


def switch_job(corpus: Corpus, name: str) -> None:
    project = corpus.project(name, "switch")
    before = declarations(loads(project.pyproject.read_text()))
    failures: list[str] = []

    def step(label: str, action: Callable[[], object]) -> None:
        try:
            action()
        except AssertionError as exc:
            failures.append(f"{label}: {first_line(exc)}")

    def cu129() -> None:
        build = torch_build(project)
        assert build.endswith("+cu129"), f"torch is {build}, not a cu129 build"

    step("torch install", lambda: run_ok(corpus, project, *SWITCH))
    step("declarations", lambda: assert_declarations_kept(before, project))
    step("install", lambda: run_ok(corpus, project, "install"))
    step("check --lock", lambda: run_ok(corpus, project, "check", "--lock"))
    step("show", lambda: run_ok(corpus, project, "show"))
    step("torch build", cu129)
    assert not failures, "\n".join(failures)


def lock_difference(with_plugin: Project, without: Project) -> str:
    def packages(project: Project) -> set[str]:
        data = loads(project.lock.read_text())
        return {f"{p['name']} {p['version']}" for p in data.get("package", [])}

    only_with = sorted(packages(with_plugin) - packages(without))
    only_without = sorted(packages(without) - packages(with_plugin))
    if not only_with and not only_without:
        return "poetry.lock differs from the --no-plugins one in its text, not its packages"
    return (
        f"poetry.lock differs from the --no-plugins one: only with the plugin {only_with}, "
        f"only without {only_without}"
    )


def lock_same_job(corpus: Corpus, name: str) -> None:
    plain = corpus.project(name, "lock-no-plugins")
    run_ok(corpus, plain, "--no-plugins", "lock")
    plugin = corpus.project(name, "lock-plugin")
    run_ok(corpus, plugin, "lock")
    assert plugin.lock.read_bytes() == plain.lock.read_bytes(), lock_difference(plugin, plain)


def install_same_job(corpus: Corpus, name: str) -> None:
    plain = corpus.project(name, "install-no-plugins")
    run_ok(corpus, plain, "--no-plugins", "install")
    plugin = corpus.project(name, "install-plugin")
    run_ok(corpus, plugin, "install")
    with_plugin, without = installed(plugin), installed(plain)
    only_with = sorted(f"{k} {v}" for k, v in with_plugin.items() if without.get(k) != v)
    only_without = sorted(f"{k} {v}" for k, v in without.items() if with_plugin.get(k) != v)
    assert with_plugin == without, (
        f"installed sets differ: only with the plugin {only_with}, only without {only_without}"
    )


def poetry1_errors_job(corpus: Corpus, name: str) -> None:
    """Poetry 2 rejects the 1.x source keys; with the plugin, Poetry still says so, unchanged."""
    project = corpus.project(name, "errors")
    before = project.pyproject.read_text()
    for args in (("--no-plugins", "check"), ("check",), ("lock",), ("install",)):
        result = project.run(*args, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, f"`poetry {' '.join(args)}` exited 0"
        assert POETRY1_ERROR.search(output), f"`poetry {' '.join(args)}`: {key_line(result)}"
    assert project.pyproject.read_text() == before


def poetry1_torch_install(corpus: Corpus, name: str, *extra: str) -> None:
    project = corpus.project(name, "torch-install" + "".join(extra))
    before = project.pyproject.read_text()
    result = project.run(*SWITCH, *extra, check=False)
    line = corpus.plain(key_line(result))
    last = corpus.plain(result.stdout.strip().rsplit("\n", 1)[-1])
    assert result.returncode != 0, f"`poetry {' '.join(SWITCH + extra)}` exited 0: ... {last}"
    assert POETRY1_ERROR.search(result.stdout + result.stderr), line
    assert project.pyproject.read_text() == before, "pyproject.toml changed"
    assert not project.venv.exists(), "the project venv was created"


def poetry1_dry_run_job(corpus: Corpus, name: str) -> None:
    poetry1_torch_install(corpus, name, "--dry-run")


def poetry1_switch_job(corpus: Corpus, name: str) -> None:
    poetry1_torch_install(corpus, name)


def build_job(corpus: Corpus, name: str) -> None:
    project = corpus.project(name, "build")
    torch = re.compile(r"Requires-Dist: torch\b")
    run_ok(corpus, project, "build", "--format", "wheel")
    assert any(torch.match(line) for line in wheel_requirements(project))
    shutil.rmtree(project.root / "dist")
    run_ok(corpus, project, *SWITCH)
    run_ok(corpus, project, "build", "--format", "wheel")
    requirements = wheel_requirements(project)
    assert any(torch.match(line) for line in requirements), (
        f"the wheel lost Requires-Dist: torch after the switch; it has {requirements}"
    )


JOBS: dict[str, Callable[[Corpus, str], None]] = {
    "check": check_job,
    "dry-run": dry_run_job,
    "switch": switch_job,
    "lock-same": lock_same_job,
    "install-same": install_same_job,
    "poetry1-errors": poetry1_errors_job,
    "poetry1-dry-run": poetry1_dry_run_job,
    "poetry1-switch": poetry1_switch_job,
    "build": build_job,
}


# --- the tests: each reports its own job ----------------------------------------------------

TEST_JOBS = {
    "test_layout_is_valid_poetry": "check",
    "test_dry_run_plans_and_changes_nothing": "dry-run",
    "test_switch_keeps_the_project_working": "switch",
    "test_lock_is_the_same_as_without_the_plugin": "lock-same",
    "test_install_is_the_same_as_without_the_plugin": "install-same",
    "test_poetry1_sources_get_poetrys_own_error": "poetry1-errors",
    "test_dry_run_on_poetry1_sources_says_what_poetry_says": "poetry1-dry-run",
    "test_torch_install_on_poetry1_sources_says_what_poetry_says": "poetry1-switch",
    "test_library_wheel_still_requires_torch": "build",
}


@pytest.mark.parametrize("name", cases("check", VALID))
def test_layout_is_valid_poetry(corpus: Corpus, name: str) -> None:
    corpus.result("check", name)


@pytest.mark.parametrize("name", cases("dry-run", VALID))
def test_dry_run_plans_and_changes_nothing(corpus: Corpus, name: str) -> None:
    corpus.result("dry-run", name)


@pytest.mark.parametrize("name", cases("switch", VALID))
def test_switch_keeps_the_project_working(corpus: Corpus, name: str) -> None:
    corpus.result("switch", name)


@pytest.mark.parametrize("name", cases("lock-same", COMPARED))
def test_lock_is_the_same_as_without_the_plugin(corpus: Corpus, name: str) -> None:
    corpus.result("lock-same", name)


@pytest.mark.parametrize("name", cases("install-same", COMPARED))
def test_install_is_the_same_as_without_the_plugin(corpus: Corpus, name: str) -> None:
    corpus.result("install-same", name)


@pytest.mark.parametrize("name", cases("poetry1-errors", ["f_poetry1_sources"]))
def test_poetry1_sources_get_poetrys_own_error(corpus: Corpus, name: str) -> None:
    corpus.result("poetry1-errors", name)


@pytest.mark.parametrize("name", cases("poetry1-dry-run", ["f_poetry1_sources"]))
def test_dry_run_on_poetry1_sources_says_what_poetry_says(corpus: Corpus, name: str) -> None:
    corpus.result("poetry1-dry-run", name)


@pytest.mark.parametrize("name", cases("poetry1-switch", ["f_poetry1_sources"]))
def test_torch_install_on_poetry1_sources_says_what_poetry_says(corpus: Corpus, name: str) -> None:
    corpus.result("poetry1-switch", name)


@pytest.mark.parametrize("name", cases("build", ["j_library"]))
def test_library_wheel_still_requires_torch(corpus: Corpus, name: str) -> None:
    corpus.result("build", name)
