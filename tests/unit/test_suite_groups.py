"""The suite's own scheduling: under ``--dist loadgroup`` (what ``./dev test`` runs) a test in an
``xdist_group`` carries its group in its node id, so xdist sends the whole group to one worker
and a module-scoped project is built once (tests/conftest.py mends this for pytest 9.2)."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite_groups_selfcheck")
def test_a_grouped_test_names_its_group_under_loadgroup(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@suite_groups_selfcheck"), request.node.nodeid
