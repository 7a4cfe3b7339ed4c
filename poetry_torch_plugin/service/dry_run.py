"""``poetry torch install --dry-run``: every installer command the install would run, exactly
(the resolving or downloading one, then the hash-checked install), with a login masked, and
the files it would write (issue 12, item 25)."""

from __future__ import annotations

import tempfile

from pathlib import Path
from typing import TYPE_CHECKING

from poetry_torch_plugin.service.plan import machine_part


if TYPE_CHECKING:
    from collections.abc import Callable

    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.published import IndexPages
    from poetry_torch_plugin.index.published import WheelTarget
    from poetry_torch_plugin.install.base import Backend
    from poetry_torch_plugin.install.base import Request
    from poetry_torch_plugin.service.install import InstallPlan
    from poetry_torch_plugin.service.settings import EnvFinder

# Where the commands' temporary files would go: fresh folders of these shapes each run.
TMP = Path(tempfile.gettempdir()) / "poetry-torch-XXXXXXXX"
WHEELS = Path(tempfile.gettempdir()) / "poetry-torch-wheels-XXXXXXXX"
_NEW_ENV = "<new virtualenv>"


def describe(
    plan: InstallPlan,
    backend: Backend,
    *,
    upgrade: bool,
    find_env: EnvFinder,
    say: Callable[[str], None],
    checked: tuple[IndexPages, WheelTarget] | None = None,
) -> None:
    """Say what ``execute_install`` would run and write; run and change nothing.  A
    configured package the index lacks stops it as it would stop the install (``checked``:
    the pages and wheel target ``--cuda auto`` already read)."""
    from poetry_torch_plugin.core.lockfile import LOCK_NAME
    from poetry_torch_plugin.errors import IndexAccessError
    from poetry_torch_plugin.errors import TargetEnvError
    from poetry_torch_plugin.index.listing import fetch_listing
    from poetry_torch_plugin.install.base import Request
    from poetry_torch_plugin.install.pip import PipBackend
    from poetry_torch_plugin.install.select import wheelhouse_reason
    from poetry_torch_plugin.install.wheelhouse import wheelhouse_needed
    from poetry_torch_plugin.project.lockstate import lock_state
    from poetry_torch_plugin.service.published import pages_for
    from poetry_torch_plugin.service.published import refuse_unpublished
    from poetry_torch_plugin.service.published import wheel_target
    from poetry_torch_plugin.service.settings import access_for

    target = _dry_run_target(plan.pyproject.path, find_env, say)
    pages, tags = checked or (
        pages_for(plan.settings),
        wheel_target(None if str(target.root) == _NEW_ENV else target),
    )
    unread = refuse_unpublished(pages, plan.index_url, plan.variant, plan.settings.packages, tags)
    if unread is not None and checked is None:
        say(f"<comment>Could not check which packages the index publishes: {unread}.</comment>")
    access = access_for(plan.settings, plan.source)
    state = lock_state(plan.pyproject.path, plan.source, plan.settings)
    if not plan.local:
        state.refuse_newer()
    part = machine_part(state, plan.settings, None if str(target.root) == _NEW_ENV else target)
    if part.missing and not upgrade:
        raise part.refusal()  # the refusal the install would print
    entry = part.lock if plan.local and not upgrade else None
    replay = part.lock is not None and not upgrade and not plan.local
    wheels = None
    if entry is not None:
        say(
            f"Would install the builds pinned in {LOCK_NAME} for {plan.variant.index_name}"
            f" ({entry.resolved_for}), hash-checked."
        )
    elif replay:
        say(f"Would install the builds pinned in {LOCK_NAME}, hash-checked.")
    else:
        if plan.local:
            say(
                "Would resolve the packages afresh for this machine's choice"
                f" ({LOCK_NAME} is not replayed here); nothing would be written."
            )
        else:
            say(f"Would resolve the packages afresh and write {LOCK_NAME}.")
        try:  # the page the index check above read, else the one the install would read
            probe = pages.page(plan.index_url, "torch") or fetch_listing(
                access.url, "torch", access=access
            )
        except IndexAccessError:
            probe = None  # the real run stops there, before any installer command
        if str(target.root) == _NEW_ENV:  # its pip is not known yet: the index decides
            wheels = WHEELS if wheelhouse_needed(probe) else None
        else:
            wheels = WHEELS if wheelhouse_reason(probe, backend, target) is not None else None
        resolving = Request.for_access(access, plan.settings.packages)
        pip = PipBackend()
        try:
            download = pip.download_command(target, resolving, WHEELS) if wheels else None
        except TargetEnvError:
            download, wheels = None, None  # no pip to download with: the installer resolves
        if download is not None:
            say(
                "The index offers no PEP 658 metadata: each file would be downloaded once,"
                " into a temporary wheelhouse, and installed from there."
            )
            _say_command(download, resolving, pip, access, say)
        else:
            first = backend.report_command(target, resolving, TMP)
            _say_command(first, resolving, backend, access, say)
    arguments = ("--require-hashes", "-r", str(TMP / "torch-requirements.txt"))
    install = Request.for_access(access, arguments)
    if wheels is not None:
        from dataclasses import replace

        install = replace(install, find_links=str(wheels))
    _say_command(backend.command(target, install), install, backend, access, say)
    say("(XXXXXXXX: each temporary folder gets a random name, and is removed after the run.)")
    if plan.edit.changed:
        say(f"Would update {plan.pyproject.path.name}.")


def _say_command(
    command: list[str],
    request: Request,
    backend: Backend,
    access: IndexAccess,
    say: Callable[[str], None],
) -> None:
    """``Would run: [PIP_INDEX_URL=https://user:***@… ]<command>``: a login travels in that
    variable, never in the command line, and is shown masked."""
    import shlex

    from poetry_torch_plugin.core.urls import redact
    from poetry_torch_plugin.core.urls import redact_text

    login = access.has_credentials and request.find_links is None
    variable = getattr(backend, "login_variable", "")
    shown = redact(access.url_with_credentials())  # https://user:***@host/…
    prefix = f"{variable}={shown} " if login and variable else ""
    say(f"Would run: {redact_text(prefix + shlex.join(command))}")


def _dry_run_target(pyproject: Path, find_env: EnvFinder, say: Callable[[str], None]) -> TargetEnv:
    """The environment the install would use.  When there is none yet, a placeholder: the
    install creates it first (as ``poetry install`` would), so naming the interpreter Poetry
    runs on would show the wrong ``--python``."""
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.project.read import read_project
    from poetry_torch_plugin.seam.locate import locate_project_env

    if locate_project_env(pyproject.parent, read_project(pyproject).name) is not None:
        return find_env(create=False)
    say("Would create the project's virtual environment first.")
    new = Path(_NEW_ENV)
    return TargetEnv(new, new / "bin" / "python", ())
