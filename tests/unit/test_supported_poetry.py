"""The Poetry range the plugin claims is the one ``./dev matrix`` tests, in pyproject and README."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.poetry_env import DEFAULT_POETRY
from tests.support.poetry_env import OLDEST_POETRY
from tests.support.poetry_env import REPO
from tests.support.poetry_env import SUPPORTED_POETRY
from tests.support.toml import loads


def minor(version: Version) -> tuple[int, int]:
    return version.major, version.minor


def poetry_requirement() -> Requirement:
    dependencies = loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (poetry,) = [r for r in map(Requirement, dependencies) if r.name == "poetry"]
    return poetry


def test_one_release_per_minor_oldest_first_no_gaps() -> None:
    versions = [Version(v) for v in SUPPORTED_POETRY]
    assert versions == sorted(versions)
    minors = [minor(v) for v in versions]
    first_major, first_minor = minors[0]
    assert minors == [(first_major, first_minor + i) for i in range(len(minors))]


def test_pyproject_allows_exactly_the_tested_minors() -> None:
    specifier = poetry_requirement().specifier
    for version in SUPPORTED_POETRY:
        assert specifier.contains(version), version
    oldest, newest = Version(OLDEST_POETRY), Version(DEFAULT_POETRY)
    older = f"{oldest.major}.{oldest.minor - 1}.99" if oldest.minor else f"{oldest.major - 1}.99"
    assert not specifier.contains(older), "untested older minor"
    assert not specifier.contains(f"{newest.major}.{newest.minor + 1}.0"), "untested newer minor"
    assert specifier.contains(f"{newest.major}.{newest.minor}.99")  # later patches of a minor


def test_readme_names_the_range() -> None:
    oldest, newest = Version(OLDEST_POETRY), Version(DEFAULT_POETRY)
    claim = f"Poetry {oldest.major}.{oldest.minor} to {newest.major}.{newest.minor}"
    readme = (REPO / "README.md").read_text()
    assert claim in readme
    assert "./dev matrix" in readme
